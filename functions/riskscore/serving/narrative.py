"""The optional narrative of a decision (`score?include=narrative`): a few plain sentences an
underwriter could send, written by Gemini on Vertex AI from the decision's own facts, checked,
and replaced by the template explanation whenever anything is off.

Contract:
- The prompt holds the product's fixed instructions and the decision's facts only (`facts`):
  never the applicant id, never text the caller sent (a categorical value outside the model's
  known categories is not repeated).
- The answer is kept only if it passes `check`: at most `MAX_CHARS` characters; every number it
  states is one of the facts' numbers as shown; it names no rating and no factor that the facts
  do not hold. Otherwise, and on a timeout, a 429, a 5xx, any other failure of the call, an
  answer without text or a missing configuration, the narrative is the template explanation
  with `narrative_source: "template"` and `narrative_reason` saying why. It never raises.
- `google.genai` is imported on the first narrative only: `score`'s cold start does not pay for it.
- One log line per narrative: source, reason, latency, token counts, cache hit; never the prompt
  or the answer.

The call is Vertex AI's `generateContent` REST method (`GENERATE_CONTENT`), which needs the
permission `aiplatform.endpoints.predict` on the project (the score identity holds it through a custom
role, infra/iam; `roles/aiplatform.user` would hold it among many others).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

from riskscore.io.logline import emit

__all__ = ["GENERATE_CONTENT", "INSTRUCTIONS", "MAX_CHARS", "MAX_OUTPUT_TOKENS", "Narrator", "Outcome", "check",
           "facts", "prompt"]

# The one Google API call of a narrative, for checks of what the score identity may call.
GENERATE_CONTENT = {
    "method": "POST",
    "path": "/v1/projects/{project}/locations/{location}/publishers/google/models/{model}:generateContent",
    "permission": "aiplatform.endpoints.predict",
}
API_VERSION = "v1"
SCOPE = "https://www.googleapis.com/auth/cloud-platform"
MAX_CHARS = 1200
MAX_OUTPUT_TOKENS = 400
CACHE_SIZE = 256
# The first narrative of an instance imports the client library and finds the credentials
# (about a second): bounded on its own, so that the call itself keeps its whole deadline.
PREPARE_TIMEOUT_S = 10.0

INSTRUCTIONS = (
    "You write a short summary of one credit decision for an underwriter, who may send it to the "
    "applicant. Write three to five plain sentences, no lists, no markdown, no greeting. Use only the "
    "facts given as JSON. Any number you state must appear in the facts exactly as written there, "
    "with the same digits and unit; do not compute, round or convert numbers. Name only the rating "
    "given in the facts and only the factors listed in the facts. Every listed factor raised the "
    "estimated risk of default. Do not guess at anything the facts do not say, and do not refer to "
    "the applicant's identity, sex, age group, nationality or family status unless it is a listed factor."
)

_NUMBER = re.compile(r"\d+(?:,\d{3})*(?:\.\d+)?")


@dataclass(frozen=True)
class Outcome:
    """What a narrative request gives: the text, where it came from, and why if not from Gemini."""

    text: str
    source: str  # "gemini" or "template"
    reason: str | None = None

    def fields(self) -> dict:
        out = {"narrative": self.text, "narrative_source": self.source}
        if self.reason is not None:
            out["narrative_reason"] = self.reason
        return out


def _shown_value(feature, value) -> str:
    if value is None or value == "":
        return "not provided"
    if feature.type == "categorical":
        # Only a category the model knows is repeated: anything else is the caller's free text.
        return str(value).replace("_", " ") if str(value) in set(feature.categories or []) else "not recognised"
    v = float(value)
    return f"{int(v):,}" if v.is_integer() else f"{v:,.2f}"


def facts(result: dict, features: list) -> dict:
    """The decision as the prompt shows it: each value formatted once, as the answer must repeat it.

    `result` is `score`'s response body (with `model_version`); `features` the version's FeatureSpecs.
    """
    by_name = {f.name: f for f in features}
    out: dict = {"model_version": result["model_version"],
                 "probability_of_default": f"{result['pd']:.1%}",
                 "score": f"{result['score']:.1f}",
                 "rating": result["rating"]}
    if result.get("lgd") is not None:
        out["loss_given_default"] = f"{result['lgd']:.1%}"
    if result.get("exposure") is not None:
        out["exposure"] = f"{result['exposure']:,.2f}"
    if result.get("expected_loss") is not None:
        out["expected_loss"] = f"{result['expected_loss']:,.2f}"
    if result.get("segment") is not None:
        out["segment"] = result["segment"]["name"]
    if result.get("anomaly") is not None:
        out["unusual_application"] = "yes" if result["anomaly"]["flag"] else "no"
    out["factors_raising_risk"] = [
        {"factor": (by_name[r["feature"]].description or r["feature"].replace("_", " ")).strip(),
         "value": _shown_value(by_name[r["feature"]], r["value"])}
        for r in result["reasons"]]
    return out


def prompt(decision_facts: dict) -> str:
    return "Facts of the decision (JSON):\n" + json.dumps(decision_facts, indent=1, ensure_ascii=False)


def _numbers(text: str) -> set[float]:
    return {float(m.replace(",", "")) for m in _NUMBER.findall(text)}


def _mentions(text: str, term: str) -> bool:
    return re.search(r"(?<!\w)" + re.escape(term) + r"(?!\w)", text) is not None


def check(answer: str, decision_facts: dict, rating_names: list[str], features: list) -> str | None:
    """None if `answer` may be sent, else the failed check: `too_long`, `invented_number`,
    `other_rating` or `other_factor`.

    A rating name counts case-sensitively (band names are proper names; "good" in a sentence is
    not the rating "Good"); a factor counts when its name (underscores as spaces) or description
    appears, whole words, case-insensitively, in the answer but nowhere in the facts.
    """
    if len(answer) > MAX_CHARS:
        return "too_long"
    shown = json.dumps(decision_facts, ensure_ascii=False)
    if not _numbers(answer) <= _numbers(shown):
        return "invented_number"
    if any(_mentions(answer, name) for name in rating_names if name != decision_facts["rating"]):
        return "other_rating"
    answer_l, shown_l = answer.lower(), shown.lower()
    for f in features:
        terms = {f.name.lower(), f.name.replace("_", " ").lower()}
        if f.description:
            terms.add(f.description.strip().lower())
        if any(_mentions(answer_l, t) and not _mentions(shown_l, t) for t in terms):
            return "other_factor"
    return None


class _Cache:
    """The last CACHE_SIZE Gemini narratives, by (Gemini model, decision facts)."""

    def __init__(self, size: int = CACHE_SIZE):
        self._items: OrderedDict[str, str] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    @staticmethod
    def key(model_name: str, decision_facts: dict) -> str:
        raw = json.dumps([model_name, decision_facts], sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(raw.encode()).hexdigest()

    def get(self, key: str) -> str | None:
        with self._lock:
            text = self._items.get(key)
            if text is not None:
                self._items.move_to_end(key)
            return text

    def put(self, key: str, text: str) -> None:
        with self._lock:
            self._items[key] = text
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)


class _Refused(Exception):
    """The call gave no usable answer; `reason` says why (a narrative_reason)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def _prepare():
    """Import the client library and find the application default credentials (blocking: run in
    a thread, once per instance)."""
    import google.auth
    from google import genai  # noqa: F401 - the import is the point: once, off the event loop

    credentials, _ = google.auth.default(scopes=[SCOPE])
    return credentials


class Narrator:
    """One per instance; `narrate` from the event loop. `settings`: the score function's
    (narrative_model, narrative_location, google_cloud_project, narrative_base_url,
    narrative_timeout_s)."""

    def __init__(self, settings):
        self.settings = settings
        self._cache = _Cache()
        self._credentials = None
        self._clients: dict[int, object] = {}  # per event loop: the async HTTP client is bound to one

    @property
    def configured(self) -> bool:
        s = self.settings
        return bool(s.narrative_model and s.narrative_location and s.google_cloud_project)

    async def narrate(self, result: dict, features: list, rating_names: list[str], *,
                      request_id: str | None = None) -> Outcome:
        """The narrative of `result` (score's response body, with its template `explanation`)."""
        started = time.perf_counter()
        usage: dict = {}
        cached = False
        decision_facts = facts(result, features)
        try:
            if not self.configured:
                raise _Refused("not_configured")
            key = _Cache.key(self.settings.narrative_model, decision_facts)
            text = self._cache.get(key)
            cached = text is not None
            if text is None:
                if self._credentials is None:  # once per instance, outside the call's deadline
                    self._credentials = await asyncio.wait_for(asyncio.to_thread(_prepare), timeout=PREPARE_TIMEOUT_S)
                text, usage = await asyncio.wait_for(self._generate(decision_facts),
                                                     timeout=self.settings.narrative_timeout_s)
                failed = check(text, decision_facts, rating_names, features)
                if failed:
                    raise _Refused(f"check_failed:{failed}")
                self._cache.put(key, text)
            outcome = Outcome(text, "gemini")
        except _Refused as exc:
            outcome = Outcome(result["explanation"], "template", exc.reason)
        except (asyncio.TimeoutError, TimeoutError):
            outcome = Outcome(result["explanation"], "template", "timeout")
        except Exception as exc:  # noqa: BLE001 - the score never fails because of the narrative
            outcome = Outcome(result["explanation"], "template", _reason(exc))
        emit("INFO" if outcome.source == "gemini" else "WARNING", "narrative", log_type="narrative",
             request_id=request_id, model_version=result["model_version"],
             narrative_model=self.settings.narrative_model, source=outcome.source, reason=outcome.reason,
             cached=cached, latency_ms=round((time.perf_counter() - started) * 1000, 3),
             prompt_tokens=usage.get("promptTokenCount"), answer_tokens=usage.get("candidatesTokenCount"),
             total_tokens=usage.get("totalTokenCount"))
        return outcome

    async def _generate(self, decision_facts: dict) -> tuple[str, dict]:
        from google.genai import types

        client = self._client()
        response = await client.aio.models.generate_content(
            model=self.settings.narrative_model, contents=prompt(decision_facts),
            config=types.GenerateContentConfig(system_instruction=INSTRUCTIONS, temperature=0.0,
                                               candidate_count=1, max_output_tokens=MAX_OUTPUT_TOKENS))
        text = (response.text or "").strip() if response.candidates else ""
        if not text:
            raise _Refused("no_text")
        usage = response.usage_metadata.model_dump(by_alias=True, exclude_none=True) if response.usage_metadata else {}
        return text, usage

    def _client(self):
        from google import genai
        from google.genai import types

        loop = id(asyncio.get_running_loop())
        client = self._clients.get(loop)
        if client is None:
            s = self.settings
            # One quick retry of a 5xx inside the deadline; a 429 (quota) is not retried: a retry
            # a moment later rarely succeeds and doubles the load. Set explicitly, the options
            # also stop the client's own retries of broken connections (1-10 s sleeps).
            retry = types.HttpRetryOptions(attempts=2, initial_delay=0.1, max_delay=0.2, exp_base=2.0,
                                           jitter=0.0, http_status_codes=[500, 502, 503, 504])
            options = types.HttpOptions(api_version=API_VERSION, base_url=s.narrative_base_url or None,
                                        timeout=int(s.narrative_timeout_s * 1000), retry_options=retry)
            client = genai.Client(vertexai=True, project=s.google_cloud_project, location=s.narrative_location,
                                  credentials=self._credentials, http_options=options)
            self._clients = {loop: client}  # an instance serves one loop; tests make a new one per request
        return client


def _reason(exc: Exception) -> str:
    """The narrative_reason of a failed call."""
    code = getattr(exc, "code", None)
    if isinstance(code, int):
        if code == 429:
            return "rate_limited"
        if code >= 500:
            return "upstream_error"
        return f"refused_{code}"
    name = type(exc).__name__
    if "Timeout" in name:
        return "timeout"
    if "DefaultCredentials" in name or "RefreshError" in name:
        return "no_credentials"
    if isinstance(exc, (ValueError, KeyError, TypeError)):  # JSON that is not an answer
        return "malformed_answer"
    return "unreachable"
