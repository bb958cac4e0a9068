"""Experiment tracking and the model registry in MLflow (optional).

The bundle in the model store stays the source of truth for serving: MLflow gets a copy of
what a run produced (spec, parameters, metrics, timings, fingerprint, manifest, model card,
ONNX graphs) and a registry entry per version whose alias `champion` follows `current.json`.
Only the training side imports MLflow (mlflow-skinny, requirements-train.txt); serving never does.

Contract of `connect`: it answers within `connect_timeout_s` (no retries), before anything is
trained or published, so an unreachable or refusing server fails the run with one line
(`MlflowUnavailable`), or, when the caller allows it, lets the run go on without MLflow.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
from pathlib import Path

CHAMPION_ALIAS = "champion"
BUNDLE_VERSION_TAG = "bundle_version"
DEFAULT_EXPERIMENT = "credit-risk"
# Per call while connecting, no retries: enough for a tracking server on Cloud Run to start
# from zero instances, short against a run of minutes.
CONNECT_TIMEOUT_S = 10.0
# The files of a version that go to MLflow as artifacts (the rest are derived data).
ARTIFACT_SUFFIXES = (".onnx",)
ARTIFACT_NAMES = ("manifest.json", "model_card.html")


def warn(message: str) -> None:
    print(message, file=sys.stderr)


class MlflowUnavailable(RuntimeError):
    """MLflow could not be reached or refused a call; the message is one line."""


def resolve_uri(uri: str | None, environ=None) -> str | None:
    """The tracking URI: the flag, else MLFLOW_TRACKING_URI, else None (MLflow not used)."""
    env = os.environ if environ is None else environ
    return uri or env.get("MLFLOW_TRACKING_URI") or None


@contextlib.contextmanager
def _http_limits(timeout_s: float, retries: int):
    """MLflow's REST client reads its timeout and retry count from the environment on every
    call (defaults: 120 s and 7 retries with backoff, minutes against a dead host)."""
    names = {"MLFLOW_HTTP_REQUEST_TIMEOUT": str(int(max(1, round(timeout_s)))),
             "MLFLOW_HTTP_REQUEST_MAX_RETRIES": str(retries)}
    saved = {k: os.environ.get(k) for k in names}
    os.environ.update(names)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:300]}"


def flatten(obj, prefix: str = "") -> dict[str, str]:
    """Nested dicts -> {"a.b.c": value as text}; lists are kept as JSON text."""
    out: dict[str, str] = {}
    if isinstance(obj, dict):
        for key, value in obj.items():
            out.update(flatten(value, f"{prefix}{key}."))
        return out
    text = json.dumps(obj, sort_keys=True) if isinstance(obj, (list, tuple)) else str(obj)
    return {prefix[:-1]: text}


def run_metrics(manifest: dict, timings_s: dict) -> list[tuple[str, float, int]]:
    """(key, value, step) of every figure a run is judged by: test/valid/cv metrics, LGD,
    anomaly and expected-loss figures, every PD candidate's cross-validated AUC (and per fold,
    as steps), parity, stage timings and the rating bands' observed default rates."""
    out: list[tuple[str, float, int]] = []

    def add(key: str, value, step: int = 0) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
            return
        out.append((key, float(value), step))

    for group, figures in manifest.get("metrics", {}).items():
        if isinstance(figures, dict):
            for name, value in figures.items():
                add(f"{group}_{name}", value)
    for cand in manifest.get("models", {}).get("pd", {}).get("candidates", []) or []:
        family = cand["family"]
        add(f"candidate_{family}_selection_auc", cand.get("selection_auc"))
        add(f"candidate_{family}_auc_std", cand.get("auc_std"))
        add(f"candidate_{family}_chosen", 1.0 if cand.get("chosen") else 0.0)
        for step, auc in enumerate(cand.get("fold_aucs") or []):
            add(f"candidate_{family}_fold_auc", auc, step)
    for model, figures in manifest.get("parity", {}).items():
        for name, value in figures.items():
            add(f"parity_{model}_{name}", value)
    for stage, seconds in timings_s.items():
        add(f"time_{stage}_s", seconds)
    add("time_total_s", sum(timings_s.values()))
    for band in manifest.get("rating_bands", []):
        add(f"band_{band['name']}_test_count", band.get("test_count"))
        add(f"band_{band['name']}_default_rate", band.get("observed_default_rate"))
    return out


class Tracker:
    """One MLflow server (tracking and registry) for one experiment. Build with `connect`."""

    def __init__(self, client, uri: str, experiment_id: str | None, request_timeout_s: float, retries: int):
        self.client = client
        self.uri = uri
        self.experiment_id = experiment_id
        self._timeout_s = request_timeout_s
        self._retries = retries

    @classmethod
    def connect(cls, uri: str, experiment: str | None = DEFAULT_EXPERIMENT, *, connect_timeout_s: float = CONNECT_TIMEOUT_S,
                request_timeout_s: float = 30.0, retries: int = 2) -> "Tracker":
        """Reach the server within `connect_timeout_s` and find or create the experiment (None:
        the registry only). Raises MlflowUnavailable (one line naming the URI) if it cannot."""
        from mlflow.tracking import MlflowClient

        client = MlflowClient(tracking_uri=uri, registry_uri=uri)
        try:
            with _http_limits(connect_timeout_s, 0):
                if experiment is None:
                    client.search_registered_models(max_results=1)
                    experiment_id = None
                else:
                    found = client.get_experiment_by_name(experiment)
                    experiment_id = found.experiment_id if found else client.create_experiment(experiment)
        except Exception as exc:  # noqa: BLE001 - connection refused, timeout, HTTP 4xx/5xx, bad URI
            raise MlflowUnavailable(f"MLflow at {uri} is not usable within {connect_timeout_s:g} s: "
                                    f"{_one_line(exc)}") from exc
        return cls(client, uri, experiment_id, request_timeout_s, retries)

    @contextlib.contextmanager
    def _calls(self, what: str):
        try:
            with _http_limits(self._timeout_s, self._retries):
                yield
        except MlflowUnavailable:
            raise
        except Exception as exc:  # noqa: BLE001
            raise MlflowUnavailable(f"MLflow at {self.uri}: {what} failed: {_one_line(exc)}") from exc

    # --- runs -------------------------------------------------------------------------------

    def start_run(self, run_name: str, tags: dict[str, str] | None = None, parent_run_id: str | None = None) -> str:
        tags = dict(tags or {})
        if parent_run_id:
            tags["mlflow.parentRunId"] = parent_run_id
        with self._calls("creating a run"):
            return self.client.create_run(self.experiment_id, run_name=run_name, tags=tags).info.run_id

    def end_run(self, run_id: str, failed: BaseException | None = None) -> None:
        with self._calls("ending the run"):
            if failed is not None:
                self.client.set_tag(run_id, "error", _one_line(failed))
            self.client.set_terminated(run_id, "FAILED" if failed is not None else "FINISHED")

    def log_training(self, run_id: str, *, spec: dict, params: dict, result, store, data_uri: str) -> None:
        """Everything one published version is judged by (see the module docstring)."""
        from mlflow.entities import Metric, Param, RunTag

        m = result.manifest
        flat = {f"spec.{k}": v for k, v in flatten({k: v for k, v in spec.items() if k != "features"}).items()}
        flat.update({k: str(v) for k, v in params.items()})
        flat.update({"data_uri": data_uri, "pd_family": m["models"]["pd"]["family"],
                     "pd_regime": m["models"]["pd"]["regime"]["name"], "features": str(len(spec.get("features", [])))})
        tags = {BUNDLE_VERSION_TAG: m["version"], "model_name": m["name"], "store": store.uri,
                "data_fingerprint": m["data"]["fingerprint_sha256"], "data_rows": str(m["data"]["rows"]),
                "promoted": str(result.promoted).lower(), "promotion_reason": result.promotion_reason[:5000]}
        metrics = [Metric(k, v, 0, step) for k, v, step in run_metrics(m, result.timings_s)]
        with self._calls("logging the run"):
            params_ = [Param(k, v[:6000]) for k, v in sorted(flat.items())]
            for i in range(0, max(len(params_), len(metrics)), 100):  # the server takes ≤ 100 params a call
                self.client.log_batch(run_id, metrics=metrics[i:i + 100], params=params_[i:i + 100],
                                      tags=[RunTag(k, v) for k, v in tags.items()] if i == 0 else [])
            self.client.log_dict(run_id, spec, "spec.json")
            self.client.log_dict(run_id, m["data"], "data.json")
            self._log_bundle(run_id, store, m)
            if result.tuning:
                self._log_trials(run_id, result.tuning)

    def _log_bundle(self, run_id: str, store, manifest: dict) -> None:
        from riskscore.contract import bundle

        loaded = bundle.load(store, manifest["name"], manifest["version"])  # the verified bytes
        with tempfile.TemporaryDirectory() as tmp:
            for name, data in loaded.files.items():
                if name.endswith(ARTIFACT_SUFFIXES) or name in ARTIFACT_NAMES:
                    Path(tmp, name).write_bytes(data)
            Path(tmp, "manifest.json").write_bytes(bundle.dumps(loaded.manifest))
            self.client.log_artifacts(run_id, tmp, "bundle")

    def _log_trials(self, parent_run_id: str, tuning: dict) -> None:
        from mlflow.entities import Metric, Param

        for trial in tuning.get("trials", []):
            child = self.client.create_run(self.experiment_id, run_name=f"trial-{trial['number']}",
                                           tags={"mlflow.parentRunId": parent_run_id, "trial": str(trial["number"]),
                                                 "family": tuning["family"], "sampler": tuning["sampler"]})
            run_id = child.info.run_id
            metrics = [Metric("selection_auc", float(trial["auc"]), 0, 0)] if trial.get("auc") is not None else []
            self.client.log_batch(run_id, metrics=metrics,
                                  params=[Param(k, str(v)) for k, v in sorted(trial["params"].items())])
            self.client.set_terminated(run_id, "FINISHED")
        self.client.log_batch(parent_run_id, metrics=[
            Metric("tune_untuned_auc", float(tuning["untuned_auc"]), 0, 0),
            Metric("tune_best_auc", float(tuning["best_auc"]), 0, 0)])

    # --- registry ---------------------------------------------------------------------------

    def register(self, run_id: str, manifest: dict, make_champion: bool) -> str:
        """Register the version under the model's name, tagged with its bundle version id;
        returns the registry's version number. `make_champion`: it is current, so the
        alias `champion` moves to it."""
        name = manifest["name"]
        with self._calls(f"registering {name} {manifest['version']}"):
            if self._registered(name) is None:
                self.client.create_registered_model(
                    name, description="Credit-risk model bundles; serving reads the model store, "
                                      "MLflow mirrors it (alias 'champion' = current.json).")
            run = self.client.get_run(run_id)
            mv = self.client.create_model_version(
                name, source=f"{run.info.artifact_uri}/bundle", run_id=run_id,
                tags={BUNDLE_VERSION_TAG: manifest["version"],
                      "data_fingerprint": manifest["data"]["fingerprint_sha256"]},
                description=f"bundle {manifest['version']} (created {manifest['created_at']})")
            if make_champion:
                self.client.set_registered_model_alias(name, CHAMPION_ALIAS, mv.version)
            return str(mv.version)

    def _registered(self, name: str):
        from mlflow.exceptions import MlflowException

        try:
            return self.client.get_registered_model(name)
        except MlflowException as exc:
            if getattr(exc, "error_code", "") == "RESOURCE_DOES_NOT_EXIST":
                return None
            raise

    def registry_version(self, name: str, bundle_version: str) -> str | None:
        """The registry's version number of a bundle version, or None if it was never registered."""
        with self._calls(f"looking up {name} {bundle_version}"):
            if self._registered(name) is None:
                return None
            found = self.client.search_model_versions(
                f"name = '{name}' and tags.{BUNDLE_VERSION_TAG} = '{bundle_version}'")
            return str(max(int(v.version) for v in found)) if found else None

    def set_champion(self, name: str, bundle_version: str) -> str | None:
        """Move the alias `champion` to the registry version of `bundle_version` (what
        current.json now names); None when that version was never registered (nothing moves)."""
        number = self.registry_version(name, bundle_version)
        if number is not None:
            with self._calls(f"moving alias {CHAMPION_ALIAS!r} of {name}"):
                self.client.set_registered_model_alias(name, CHAMPION_ALIAS, number)
        return number


class RunMirror:
    """What `train` does with MLflow, optional-aware: `open` before training (an unusable
    server raises MlflowUnavailable, or with `optional` warns once and the run goes on without
    MLflow), `published` after the bundle is in the store, `failed` when training raised."""

    def __init__(self, tracker: Tracker | None, optional: bool, warn):
        self.tracker, self.optional, self.warn = tracker, optional, warn
        self.run_id: str | None = None
        self.registry_version: str | None = None

    @classmethod
    def open(cls, uri: str | None, experiment: str, run_name: str, *, optional: bool = False,
             warn=warn, connect_timeout_s: float = CONNECT_TIMEOUT_S) -> "RunMirror":
        mirror = cls(None, optional, warn)
        if uri:
            mirror._guard(lambda: mirror._start(uri, experiment, run_name, connect_timeout_s))
        return mirror

    def _start(self, uri: str, experiment: str, run_name: str, connect_timeout_s: float) -> None:
        self.tracker = Tracker.connect(uri, experiment, connect_timeout_s=connect_timeout_s)
        self.run_id = self.tracker.start_run(run_name, {"source": "python -m training train"})

    def _guard(self, step) -> None:
        try:
            step()
        except MlflowUnavailable as exc:
            if not self.optional:
                raise
            self.warn(f"warning: {exc}; going on without MLflow (--mlflow-optional)")
            self.tracker = self.run_id = None

    @property
    def active(self) -> bool:
        return self.tracker is not None and self.run_id is not None

    def published(self, *, spec: dict, params: dict, result, store, data_uri: str) -> None:
        if not self.active:
            return

        def step() -> None:
            self.tracker.log_training(self.run_id, spec=spec, params=params, result=result, store=store,
                                      data_uri=data_uri)
            self.registry_version = self.tracker.register(self.run_id, result.manifest, result.promoted)
            self.tracker.end_run(self.run_id)

        self._guard(step)

    def failed(self, error: BaseException) -> None:
        if self.active:
            self._guard(lambda: self.tracker.end_run(self.run_id, failed=error))


def sync_champion(uri: str | None, model: str, bundle_version: str, *, optional: bool = False,
                  warn=warn) -> str | None:
    """After promote/rollback: move the registry alias `champion` to `bundle_version`.
    Returns the registry version it now names (None: no URI, or that version was never
    registered, which is said through `warn`)."""
    if not uri:
        return None
    try:
        number = Tracker.connect(uri, None).set_champion(model, bundle_version)
    except MlflowUnavailable as exc:
        if not optional:
            raise
        warn(f"warning: {exc}; the registry alias {CHAMPION_ALIAS!r} was not moved (--mlflow-optional)")
        return None
    if number is None:
        warn(f"warning: {model} {bundle_version} is not registered in MLflow at {uri}: alias "
             f"{CHAMPION_ALIAS!r} not moved")
    return number


def add_arguments(parser, *, experiment: bool) -> None:
    """The MLflow flags of `train` (`experiment`: with --mlflow-experiment), `promote`, `rollback`."""
    parser.add_argument("--mlflow-uri", help="MLflow tracking server (default: MLFLOW_TRACKING_URI; unset: no MLflow)")
    if experiment:
        parser.add_argument("--mlflow-experiment", default=DEFAULT_EXPERIMENT, help="MLflow experiment name")
    parser.add_argument("--mlflow-optional", action="store_true",
                        help="if MLflow cannot be reached, warn and go on without it (default: fail)")
