"""Structure-aware fuzzing of the score function's body handling: bodies built to hit each way
a decoder or a validator can fail (nesting depth, number literals of any length and exponent,
encodings and byte-order marks, invalid UTF-8, duplicate keys, control characters and lone
surrogates in strings, large arrays and objects within the size limit), sent through
functions-framework's app and then to a real functions-framework server. Every answer must be
a JSON 200, 400 or 413 (never a 5xx), and a 400 must name `body` or a field."""

from __future__ import annotations

import codecs
import json
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.client import function_client, mimetype
from support.server import function_server, server_env

REPO = Path(__file__).resolve().parents[3]
JSON = {"Content-Type": "application/json"}
MAX_BODY_BYTES = 65_536  # the default: the issue's hostile bodies fit inside it
GOOD = {"revolving_utilization": 0.35, "age": 42, "late_30_59": 1, "late_60_89": 0, "late_90_plus": 0,
        "debt_ratio": 0.25, "monthly_income": 5500, "open_credit_lines": 6, "real_estate_loans": 1,
        "dependents": 2, "housing": "rent", "employment_type": "salaried", "loan_purpose": "car"}
NUMERIC = [k for k, v in GOOD.items() if not isinstance(v, str)]
STRINGS = [k for k, v in GOOD.items() if isinstance(v, str)]


def body_text(features: dict | None = None, **envelope) -> str:
    return json.dumps({"applicant_id": "A-1", "features": features or GOOD, **envelope})


def with_value(name: str, literal: str, where: str = "features") -> str:
    """A valid body whose `name` (a feature, or an envelope field) holds `literal` verbatim."""
    if where == "features":
        features = json.dumps({k: v for k, v in GOOD.items() if k != name})
        return '{"applicant_id": "A-1", "features": ' + features[:-1] + f', "{name}": {literal}}}}}'
    return '{"features": ' + json.dumps(GOOD) + f', "{name}": {literal}}}'


# --- strategies, one per way to break a body ------------------------------------------------

@st.composite
def deep_nesting(draw) -> bytes:
    depth = draw(st.integers(1, 20_000) | st.sampled_from([31, 32, 33, 999, 1000, 1001, 3000]))
    opener, closer = draw(st.sampled_from([("[", "]"), ('{"k":', "}"), ("[{\"k\":", "}]")]))
    balanced = draw(st.booleans())
    literal = opener * depth + ("0" if opener != "[" else "") + (closer * depth if balanced else "")
    return draw(st.sampled_from([with_value(draw(st.sampled_from(NUMERIC)), literal),
                                 with_value("exposure", literal, "envelope"), literal])).encode()


@st.composite
def number_literals(draw) -> bytes:
    """Numbers of any length, fraction and exponent, valid JSON or nearly so."""
    length = draw(st.integers(1, 30) | st.integers(30, 6000) | st.sampled_from([4300, 4301, 5000]))
    digits = (draw(st.text("0123456789", min_size=1, max_size=12)) * (length // 12 + 1))[:length]
    literal = draw(st.sampled_from(["", "-"])) + digits
    if draw(st.booleans()):
        literal += "." + draw(st.text("0123456789", min_size=1, max_size=40))
    if draw(st.booleans()):
        exponent = draw(st.integers(0, 10**draw(st.integers(1, 400))))
        literal += draw(st.sampled_from(["e", "E", "e+", "e-"])) + str(exponent)
    literal = draw(st.sampled_from([literal, literal, "NaN", "Infinity", "-Infinity", "-0", "0e0", "1E400",
                                    "1e-400", "01", "1.", ".5", "+1", "0x10"]))
    name = draw(st.sampled_from(NUMERIC + STRINGS))
    return draw(st.sampled_from([with_value(name, literal), with_value("exposure", literal, "envelope"),
                                 with_value("applicant_id", literal, "envelope"), literal])).encode()


ENCODINGS = ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le", "utf-32-be",
             "latin-1", "cp1252"]
BOMS = [b"", codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE, codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE,
        codecs.BOM_UTF8 * 2]
BAD_UTF8 = [b"\xff", b"\xc0\xaf", b"\xed\xa0\x80", b"\xe2\x82", b"\xf4\x90\x80\x80", b"\x80", b"\xf0\x9f\x98"]


@st.composite
def encodings(draw) -> bytes:
    """Valid bodies (some with non-ASCII text) in every encoding, behind any BOM, or with
    invalid UTF-8 sequences spliced in."""
    features = dict(GOOD, loan_purpose=draw(st.sampled_from(["car", "caf\u00e9", "\u20ac", "\U0001f600"])))
    text = body_text(features) if draw(st.booleans()) else json.dumps({"features": features}, ensure_ascii=False)
    encoding = draw(st.sampled_from(ENCODINGS))
    try:
        raw = text.encode(encoding)
    except UnicodeEncodeError:
        raw = text.encode("utf-8")
    raw = draw(st.sampled_from(BOMS)) + raw
    if draw(st.booleans()):
        cut = draw(st.integers(0, len(raw)))
        raw = raw[:cut] + draw(st.sampled_from(BAD_UTF8)) + raw[cut:]
    return raw


@st.composite
def duplicate_keys(draw) -> bytes:
    name = draw(st.sampled_from(NUMERIC + STRINGS))
    value = json.dumps(draw(st.sampled_from([GOOD[name], 1, None, "x"])))
    if draw(st.booleans()):  # a feature twice
        return with_value(name, value).encode()
    key = draw(st.sampled_from(["features", "applicant_id", "exposure"]))
    return (body_text()[:-1] + f', "{key}": ' + draw(st.sampled_from(["{}", "1", '"A-2"', json.dumps(GOOD)])) + "}").encode()


CONTROL = [chr(c) for c in range(0x20)] + ["\x7f", "\u2028", "\ufeff", "\ud800", "\udfff", "\U0010ffff"]


@st.composite
def odd_strings(draw) -> bytes:
    """NUL, control characters, lone surrogates and long strings, escaped or raw, in keys and values."""
    chars = draw(st.lists(st.sampled_from(CONTROL) | st.characters(), min_size=1, max_size=8))
    s = draw(st.sampled_from(["", "own", "A-"])) + "".join(chars) * draw(st.sampled_from([1, 1, 50, 200]))
    escaped = json.dumps(s)  # \\uXXXX escapes (ensure_ascii)
    raw = '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'  # control characters raw
    literal = draw(st.sampled_from([escaped, raw]))
    where = draw(st.sampled_from(["feature", "applicant_id", "key", "feature key", "list"]))
    if where == "feature":
        text = with_value(draw(st.sampled_from(STRINGS + NUMERIC)), literal)
    elif where == "applicant_id":
        text = with_value("applicant_id", literal, "envelope")
    elif where == "key":
        text = body_text()[:-1] + f", {literal}: 1}}"
    elif where == "feature key":
        text = with_value("x", "1").replace('"x"', literal)
    else:
        text = with_value("tags", f"[{literal}, {literal}]", "envelope")
    return text.encode("utf-8", "surrogatepass")


@st.composite
def large_collections(draw) -> bytes:
    """Arrays and objects as large as the size limit allows, where scalars are expected or not."""
    n = draw(st.integers(1, 12_000))
    item = draw(st.sampled_from(["0", "1.5", "null", '"x"', "[]", "{}", "true", "[0]"]))
    kind = draw(st.sampled_from(["array feature", "array body", "array envelope", "object features",
                                 "many unknown keys"]))
    if kind == "array feature":
        text = with_value(draw(st.sampled_from(NUMERIC + STRINGS)), "[" + ",".join([item] * n) + "]")
    elif kind == "array body":
        text = "[" + ",".join([item] * n) + "]"
    elif kind == "array envelope":
        text = with_value("exposure", "[" + ",".join([item] * n) + "]", "envelope")
    elif kind == "object features":
        text = json.dumps({"features": {f"f{i}": 1 for i in range(min(n, 3000))}})
    else:
        text = json.dumps({"features": GOOD, **{f"k{i}": None for i in range(min(n, 3000))}})
    return text.encode()[:MAX_BODY_BYTES + draw(st.sampled_from([0, 0, 100]))]


hostile_bodies = st.one_of(deep_nesting(), number_literals(), encodings(), duplicate_keys(), odd_strings(),
                           large_collections())

# The issue's two hand-made requests that answered 500, and their neighbours.
# body -> the field the 400 names: an over-long number is named by its key path.
ISSUE_BODIES = {
    "3000 [ in a feature": (with_value("age", "[" * 3000 + "]" * 3000).encode(), "body"),
    "3000 [ unbalanced": (with_value("age", "[" * 3000).encode(), "body"),
    "5000-digit number": (with_value("age", "9" * 5000).encode(), "features.age"),
    "5000-digit exposure": (with_value("exposure", "1" * 5000, "envelope").encode(), "exposure"),
}


def check(status: int, content_type: str, payload: bytes, body: bytes) -> None:
    """The property: never a 5xx; always JSON; a 400 names the body or a field."""
    assert status < 500, (status, body[:200], payload[:500])
    assert content_type.startswith("application/json")
    answer = json.loads(payload)
    assert status in (200, 400, 413), (status, answer)
    if status == 400:
        assert answer["error"] == "invalid_request"
        assert answer["details"] and all(d["field"] and d["problem"] for d in answer["details"])
    elif status == 200:
        assert 0 < answer["pd"] < 1


# --- through functions-framework's app ---------------------------------------------------

@pytest.fixture(scope="module")
def app(trained_store):
    mp = pytest.MonkeyPatch()
    mp.setenv("MODEL_STORE", str(trained_store.path))
    mp.setenv("MAX_BODY_BYTES", str(MAX_BODY_BYTES))
    mp.delenv("PREDICTION_LOG", raising=False)
    yield function_client()
    sys.modules.pop("main", None)
    mp.undo()


@pytest.mark.parametrize("body, field", ISSUE_BODIES.values(), ids=ISSUE_BODIES.keys())
def test_the_issues_bodies_are_a_400_naming_the_body_or_the_field(app, body, field):
    resp = app.post("/", content=body, headers=JSON)
    assert resp.status_code == 400, resp.text
    assert resp.json()["details"][0]["field"] == field


def test_structure_aware_fuzz_never_gets_a_5xx(app, capsys):
    statuses: dict[int, int] = {}

    @settings(max_examples=1500, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                     HealthCheck.function_scoped_fixture])
    @given(body=hostile_bodies)
    def fuzz(body):
        resp = app.post("/", content=body, headers=JSON)
        check(resp.status_code, mimetype(resp), resp.content, body)
        statuses[resp.status_code] = statuses.get(resp.status_code, 0) + 1

    fuzz()
    capsys.readouterr()  # prediction lines of the accepted bodies
    assert statuses.get(400, 0) >= 1000, statuses  # the strategies mostly build broken bodies


# --- through a real functions-framework server -------------------------------------------

@pytest.fixture(scope="module")
def server(trained_store, tmp_path_factory):
    env = server_env(MODEL_STORE=str(trained_store.path), MAX_BODY_BYTES=str(MAX_BODY_BYTES), PYTHONUNBUFFERED="1")
    log_path = tmp_path_factory.mktemp("fuzz-server") / "functions-framework.log"
    with function_server("score", env, log_path) as srv:
        yield srv


def post(server, body: bytes):
    return server.session.post(server.url, data=body, headers=JSON, timeout=30)


@pytest.mark.parametrize("body, field", ISSUE_BODIES.values(), ids=ISSUE_BODIES.keys())
def test_real_server_answers_the_issues_bodies_with_a_400(server, body, field):
    r = post(server, body)
    assert r.status_code == 400, r.text
    assert r.json()["details"][0]["field"] == field


def test_real_server_structure_aware_fuzz_never_gets_a_5xx(server):
    @settings(max_examples=300, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(body=hostile_bodies)
    def fuzz(body):
        r = post(server, body)
        check(r.status_code, r.headers.get("Content-Type", ""), r.content, body)

    fuzz()
    log = server.log_path.read_text(errors="replace")
    assert "Traceback" not in log and '"severity":"ERROR"' not in log
