"""A loaded model version: its ONNX sessions (the per-request graphs combined into one), its
decision core, and the decision of rows fed to it.

No transport here: `decide` takes graph inputs (column arrays, riskscore.model.feeds) and returns
the decision as columns (the one vectorized core, `riskscore.model.decision`); `score_rows`
wraps it for validated feature dicts and adds the applicant-facing texts.
"""

from __future__ import annotations

import numpy as np

from riskscore.contract.request import request_model
from riskscore.contract.manifest import Manifest
from riskscore.io.logline import emit
from riskscore.model import graphs
from riskscore.model.decision import DecisionCore
from riskscore.model.feeds import dict_feeds, known_categories, unknown_category_warnings
from riskscore.model.reasons import explanation, reason_list
from riskscore.settings import ScoreSettings

__all__ = ["ON_DEMAND", "Model", "build_session", "combined_graph"]


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


def combined_graph(manifest: Manifest | dict, files: dict[str, bytes], every_request: dict[str, bytes]):
    """The per-request graphs as one model: the one training combined and verified (the
    manifest's `serving_graph`, training/onnx/serving_graph.py), or, for a version published without
    it, combined now (riskscore.model.graphs: about 12 ms of CPU at every load)."""
    pre = Manifest.of(manifest).serving_graph
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
        m = Manifest.of(manifest)
        self.manifest = manifest
        self.version: str = m.version
        self.features = m.features
        self.reason_features, self.derived = m.reason_features, frozenset(f.name for f in m.derived)
        self.scaling = m.scaling
        # The verified non-ONNX files (model card, drift baseline, forecast) for pages served
        # from this version; the ONNX bytes are not kept once their sessions exist.
        self.documents = {name: data for name, data in files.items() if not name.endswith(".onnx")}
        onnx_files = {name: files[meta["file"]] for name, meta in m.models.items()}
        # (session, {model: its output names}); built one after the other, in this thread:
        # building them on two threads was at best 7 ms faster and cost 3.6 MiB more (a
        # second malloc arena); see docs/benchmarks.md.
        self._sessions: list[tuple[object, dict[str, list[str]]]] = []
        every_request = {name: data for name, data in onnx_files.items() if name not in ON_DEMAND}
        if len(every_request) > 1:
            try:
                combined, outputs = combined_graph(m, files, every_request)
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
        self.core = DecisionCore(m)
        # Built once per version, off the request path: the pydantic model of a valid request.
        self.request_model = request_model(self.features)
        self.known = known_categories(self.features)

    def run_feeds(self, feeds: dict[str, np.ndarray], skip: frozenset[str] = frozenset()) -> dict[str, np.ndarray]:
        """Every output of every model (but those in `skip`) for graph inputs (riskscore.model.feeds)."""
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
        d = self.decide(dict_feeds(rows, self.features, self.known), exposure, include_embedding)
        return [self.result(d, i, row, include_embedding) for i, row in enumerate(rows)]

    def result(self, d: dict[str, np.ndarray], i: int, row: dict, include_embedding: bool = False) -> dict:
        """Row `i` of the decision columns `d` as `score`'s response body, with the texts."""
        pd_, rating = float(d["pd"][i]), str(d["rating"][i])
        reasons = reason_list(self.reason_features, row, d["reason_index"][i], d["reason_contribution"][i],
                              self.derived)
        result = {"pd": pd_, "score": float(d["score"][i]), "rating": rating}
        exposure = float(d["exposure"][i])
        result["exposure"] = None if exposure != exposure else exposure
        if "lgd" in d:
            loss = float(d["expected_loss"][i])
            result.update(lgd=float(d["lgd"][i]), lgd_source=d["lgd_source"],
                          expected_loss=None if loss != loss else loss)
        if "segment" in d:
            result["segment"] = {"id": int(d["segment"][i]), "name": str(d["segment_name"][i])}
        if "anomaly_score" in d:
            result["anomaly"] = {"score": float(d["anomaly_score"][i]), "flag": bool(d["anomaly_flag"][i])}
        result["reasons"] = reasons
        result["explanation"] = explanation(rating, pd_, reasons, self.reason_features)
        result["warnings"] = unknown_category_warnings(row, self.known)
        if include_embedding and "embedding" in d:
            result["embedding"] = [round(float(v), 6) for v in d["embedding"][i]]
        return result
