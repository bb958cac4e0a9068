"""The model side of serving: load a verified bundle into ONNX sessions once, then score.

No transport here: `decide` takes graph inputs (column arrays) and returns the decision as
columns (the one vectorized core, `riskscore.model.decision`); `score_rows` wraps it for validated
feature dicts and adds the applicant-facing texts.
"""

from __future__ import annotations

import threading
import time

import numpy as np

from riskscore.contract import bundle
from riskscore.model import graphs
from riskscore.errors import RiskScoreError, StoreUnavailable
from riskscore.io.logline import emit
from riskscore.model.decision import DecisionCore
from riskscore.model.reasons import explanation, reason_list
from riskscore.contract.request import request_model
from riskscore.contract.schema import FeatureSpec, ScalingSpec
from riskscore.settings import ScoreSettings
from riskscore.io.store import open_store


# Models run only when a caller asks for them (`include_embedding`); every other model of a
# version runs on every request.
ON_DEMAND = frozenset({"embedding"})


def build_session(graph: bytes, settings: ScoreSettings, optimization: str = "all"):
    """One ONNX session on the CPU with the configured thread pools (thread-safe to call).

    `optimization`: onnxruntime's graph optimization level, "all" (its default) or "basic".
    Both give identical outputs; "basic" runs one applicant faster through these graphs (the
    extended fusions cost more than they save on a single row; docs/benchmarks.md).
    """
    # Imported here, in the serving process: onnxruntime is not fork-safe (it starts a thread
    # at import; a process forked after that aborts or hangs at exit), and gunicorn forks
    # its worker from the master that imported main.py.
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = settings.ort_intra_op_threads
    opts.inter_op_num_threads = settings.ort_inter_op_threads
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = {"all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
                                     "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC}[optimization]
    return ort.InferenceSession(graph, sess_options=opts, providers=["CPUExecutionProvider"])


def combined_graph(manifest: dict, files: dict[str, bytes], every_request: dict[str, bytes]):
    """The per-request graphs as one model: the one training combined and verified (the
    manifest's `serving_graph`, training/serving_graph.py), or, for a version published without
    it, combined now (riskscore.model.graphs: about 12 ms of CPU at every load)."""
    pre = manifest.get("serving_graph")
    if pre is not None and sorted(pre["models"]) == sorted(every_request) and pre["file"] in files:
        return files[pre["file"]], pre["outputs"]
    return graphs.combine(every_request)


class Model:
    """A loaded version: manifest, feature schema and its ONNX sessions.

    The models that run on every request share ONE session over their combined graph
    (riskscore.model.graphs): one `run` per call instead of one per model, with exactly the outputs
    the graphs give one by one; a version whose graphs cannot be combined gets one session
    per model. The on-demand models (ON_DEMAND) have their own sessions. onnxruntime's
    `InferenceSession.run` is thread-safe, so one instance serves all threads.

    `optimization` is passed to `build_session`: "basic" for `score` (one row per call),
    "all" (onnxruntime's default) for batch chunks, where the extended fusions pay off.
    """

    def __init__(self, manifest: dict, files: dict[str, bytes], settings: ScoreSettings,
                 optimization: str = "all"):
        self.manifest = manifest
        self.version: str = manifest["version"]
        self.features = [FeatureSpec.model_validate(f) for f in manifest["features"]]
        self.scaling = ScalingSpec.model_validate(manifest["scaling"])
        # The verified non-ONNX files (model card, drift baseline, forecast) for pages served
        # from this version; the ONNX bytes are not kept once their sessions exist.
        self.documents = {name: data for name, data in files.items() if not name.endswith(".onnx")}
        onnx_files = {name: files[meta["file"]] for name, meta in manifest["models"].items()}
        # (session, {model: its output names}); built one after the other, in this thread:
        # building them on two threads was at best 7 ms faster and cost 3.6 MiB more (a
        # second malloc arena); see docs/benchmarks.md.
        self._sessions: list[tuple[object, dict[str, list[str]]]] = []
        every_request = {name: data for name, data in onnx_files.items() if name not in ON_DEMAND}
        if len(every_request) > 1:
            try:
                combined, outputs = combined_graph(manifest, files, every_request)
                self._sessions.append((build_session(combined, settings, optimization), outputs))
                onnx_files = {name: data for name, data in onnx_files.items() if name in ON_DEMAND}
            except Exception as exc:  # noqa: BLE001 - CombineError, or onnxruntime refusing the result
                # The separate graphs are what training verified: serve those.
                emit("WARNING", "model graphs not combined; one session per model", reason=str(exc)[:500],
                    model_version=self.version)
        for name, data in onnx_files.items():
            session = build_session(data, settings, optimization)
            self._sessions.append((session, {name: [o.name for o in session.get_outputs()]}))
        # The session that runs each model (the per-request models share one).
        self.sessions = {name: session for session, outputs in self._sessions for name in outputs}
        self._plans: dict[frozenset[str], list[tuple[object, list[str]]]] = {}
        self.core = DecisionCore(manifest)
        # Built once per version, off the request path: the pydantic model of a valid request.
        self.request_model = request_model(self.features)
        self._known = {f.name: set(f.categories or []) for f in self.features if f.type == "categorical"}

    def feeds(self, rows: list[dict]) -> dict[str, np.ndarray]:
        """Validated feature dicts -> graph inputs; None is NaN (numeric) or '' (categorical)."""
        out = {}
        for f in self.features:
            values = [r.get(f.name) for r in rows]
            if f.type == "numeric":
                out[f.name] = np.array([np.nan if v is None else v for v in values],
                                       dtype=np.float32).reshape(-1, 1)
            else:
                known = self._known[f.name]
                # Unknown categories reach here only under the spec's `as_missing` policy.
                out[f.name] = np.array([v if v in known else "" for v in values], dtype=object).reshape(-1, 1)
        return out

    def run_feeds(self, feeds: dict[str, np.ndarray], skip: frozenset[str] = frozenset()) -> dict[str, np.ndarray]:
        """Every output of every model (but those in `skip`) for graph inputs (`feeds`' form)."""
        out: dict[str, np.ndarray] = {}
        for session, names in self._plan(skip):
            out.update(zip(names, session.run(names, feeds)))
        return out

    def _plan(self, skip: frozenset[str]) -> list[tuple[object, list[str]]]:
        """(session, output names to fetch) for the models not in `skip`; kept per `skip`."""
        plan = self._plans.get(skip)
        if plan is None:
            plan = [(session, wanted) for session, outputs in self._sessions
                    if (wanted := [o for name, names in outputs.items() if name not in skip for o in names])]
            self._plans[skip] = plan
        return plan

    def decide(self, feeds: dict[str, np.ndarray], exposure: np.ndarray | None = None,
               include_embedding: bool = False) -> dict[str, np.ndarray]:
        """The decision of every row as columns (see `DecisionCore.decide`): the one path that
        `score`, `batch_score` and every other caller take."""
        out = self.run_feeds(feeds, skip=frozenset() if include_embedding else frozenset({"embedding"}))
        return self.core.decide(out, exposure)

    def score_rows(self, rows: list[dict], exposures: list[float | None] | None = None,
                   include_embedding: bool = False) -> list[dict]:
        """The credit decision for each row: PD, score, rating, LGD, expected loss, segment,
        anomaly, adverse reasons and an explanation (plus the embedding if asked)."""
        exposure = None if exposures is None else np.array(
            [np.nan if e is None else e for e in exposures], dtype=np.float64)
        d = self.decide(self.feeds(rows), exposure, include_embedding)
        return [self.result(d, i, row, include_embedding) for i, row in enumerate(rows)]

    def result(self, d: dict[str, np.ndarray], i: int, row: dict, include_embedding: bool = False) -> dict:
        """Row `i` of the decision columns `d` as `score`'s response body, with the texts."""
        pd_, rating = float(d["pd"][i]), str(d["rating"][i])
        reasons = reason_list(self.features, row, d["reason_index"][i], d["reason_contribution"][i])
        result = {"pd": pd_, "score": float(d["score"][i]), "rating": rating}
        if "lgd" in d:
            exposure, loss = float(d["exposure"][i]), float(d["expected_loss"][i])
            result.update(lgd=float(d["lgd"][i]), exposure=None if exposure != exposure else exposure,
                          expected_loss=None if loss != loss else loss)
        if "segment" in d:
            result["segment"] = {"id": int(d["segment"][i]), "name": str(d["segment_name"][i])}
        if "anomaly_score" in d:
            result["anomaly"] = {"score": float(d["anomaly_score"][i]), "flag": bool(d["anomaly_flag"][i])}
        result["reasons"] = reasons
        result["explanation"] = explanation(rating, pd_, reasons, self.features)
        if include_embedding and "embedding" in d:
            result["embedding"] = [round(float(v), 6) for v in d["embedding"][i]]
        return result


def trim_heap() -> None:
    """Return the C heap's free pages to the OS (glibc's malloc_trim; elsewhere nothing).

    After a load, the bundle's bytes, the combined graph and onnxruntime's copies of it are
    freed, but glibc keeps most of that heap resident: about 2 MiB per instance here, which
    made the combined session look larger than the separate ones (docs/benchmarks.md).
    """
    import ctypes  # already imported by numpy

    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to trim this way
        pass


class Scorer:
    """load() once per instance; score() from any thread.

    If the store cannot be reached at cold start, `ensure_loaded` re-raises the failure
    (a 503) and tries again after `load_retry_s`, so the instance recovers without restarting.
    """

    def __init__(self, settings: ScoreSettings):
        self.settings = settings
        self.model: Model | None = None
        self._lock = threading.Lock()
        self._last_error: RiskScoreError | None = None
        self._last_attempt = -float("inf")

    def load(self) -> Model:
        s = self.settings
        store = open_store(s.model_store, read_timeout_s=s.store_read_timeout_s,
                           read_deadline_s=s.store_read_deadline_s)
        loaded = bundle.load(store, s.model_name, s.model_version)
        model = Model(loaded.manifest, loaded.files, s, optimization="basic")
        del loaded
        trim_heap()
        self.model = model
        return model

    def ensure_loaded(self) -> Model:
        if self.model is not None:
            return self.model
        with self._lock:
            if self.model is not None:
                return self.model
            if self._last_error and time.monotonic() - self._last_attempt < self.settings.load_retry_s:
                raise self._last_error
            self._last_attempt = time.monotonic()
            try:
                return self.load()
            except RiskScoreError as exc:
                self._last_error = exc if exc.status >= 500 else StoreUnavailable(exc.message)
                raise self._last_error from exc
            except Exception as exc:  # a broken client or file system: retry later, never crash
                self._last_error = StoreUnavailable(
                    f"could not load model {self.settings.model_name!r} from {self.settings.model_store}: {exc}")
                raise self._last_error from exc

    def load_in_background(self) -> threading.Thread:
        """Start loading now without blocking (requests wait on the same lock); a failure is
        kept for `ensure_loaded` to report as 503 and retry."""
        def load() -> None:
            try:
                self.ensure_loaded()
            except RiskScoreError as exc:
                emit("ERROR", "model not loaded at cold start; requests get 503 until a retry succeeds",
                    error=exc.code, reason=exc.message, model_store=self.settings.model_store,
                    model_name=self.settings.model_name)

        thread = threading.Thread(target=load, name="model-load", daemon=True)
        thread.start()
        return thread

    def score(self, features: dict, exposure: float | None = None, include_embedding: bool = False) -> dict:
        model = self.ensure_loaded()
        result = model.score_rows([features], [exposure], include_embedding)[0]
        return dict(result, model_version=model.version)

