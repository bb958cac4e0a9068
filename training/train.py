"""The `train` job: read, check, split, fit every model, export, verify, evaluate, publish."""

from __future__ import annotations

import hashlib
import importlib.metadata
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone

import numpy as np
import pandas as pd

from riskscore.contract import bundle
from riskscore.contract.manifest import DRIFT_BASELINE_FILE, FORECAST_FILE, MODEL_CARD_FILE
from riskscore.contract.schema import ScalingSpec, is_integer_code
from riskscore.drift.fairness import fairness_report
from riskscore.io.store import Store

from training.data.quality import enforce_training, training_gates
from training.data.spec import ModelSpec, check_data
from training.data.split import split_frame
from training.evaluation.master_scale import band_table, master_scale
from training.evaluation.vif import numeric_vifs
from training.models.protocol import Evaluation, TrainingData
from training.models.version import version_models
from training.onnx.derived import add_derived, compile_into
from training.onnx.serving_graph import serving_graph

LIBRARIES = ["xgboost", "lightgbm", "scikit-learn", "skl2onnx", "onnxmltools", "onnx", "onnxruntime", "numpy",
             "pandas", "statsmodels", "optbinning"]


@dataclass
class TrainResult:
    manifest: dict
    promoted: bool
    promotion_reason: str
    timings_s: dict = field(default_factory=dict)
    evaluation: dict = field(default_factory=dict)
    tuning: dict | None = None  # `--tune`: every trial, for the training-runs log


def data_fingerprint(df: pd.DataFrame) -> str:
    """sha256 over the checked training table's values, column names and dtypes."""
    h = hashlib.sha256()
    h.update(repr([(c, str(df[c].dtype)) for c in df.columns]).encode())
    h.update(pd.util.hash_pandas_object(df, index=False).to_numpy().tobytes())
    return h.hexdigest()


def new_version(store: Store, model: str, now: datetime) -> str:
    base = now.strftime("v%Y%m%d-%H%M%S")
    existing = set(store.list_dirs(model))
    version, n = base, 1
    while version in existing:
        n += 1
        version = f"{base}-{n}"
    return version


def version_scaling(spec: ModelSpec, pd_: np.ndarray, y: np.ndarray) -> ScalingSpec:
    """The version's scaling: the spec's, with its own `scaling.bands` when it lists them, else
    the PD master scale learned from the training rows' PDs `pd_` and outcomes `y`."""
    if "bands" in spec.scaling.model_fields_set:
        return spec.scaling
    return spec.scaling.model_copy(update={"bands": master_scale(pd_, y, spec.scaling, spec.master_scale)})


def promotion_decision(store: Store, spec: ModelSpec, test_auc: float, force: bool) -> tuple[bool, str]:
    current = bundle.read_current(store, spec.name)
    if current is None:
        return True, "no current version: this one becomes current"
    current_auc = bundle.read_manifest(store, spec.name, current["version"])["metrics"]["test"]["auc"]
    floor = current_auc - spec.promotion.auc_tolerance
    if test_auc >= floor:
        return True, (f"test AUC {test_auc:.4f} >= current {current['version']} AUC {current_auc:.4f} "
                      f"- tolerance {spec.promotion.auc_tolerance}")
    if force:
        return True, (f"--force: promoted although test AUC {test_auc:.4f} < current {current['version']} "
                      f"AUC {current_auc:.4f} - tolerance {spec.promotion.auc_tolerance}")
    return False, (f"test AUC {test_auc:.4f} < current {current['version']} AUC {current_auc:.4f} - tolerance "
                   f"{spec.promotion.auc_tolerance}: published but not promoted (use --force to override)")


class _Stages:
    """Times each stage and reports progress."""

    def __init__(self, log):
        self.log = log
        self.timings: dict[str, float] = {}

    def run(self, name: str, func, *args, **kwargs):
        self.log(f"[{len(self.timings) + 1}] {name} ...")
        start = time.perf_counter()
        out = func(*args, **kwargs)
        self.timings[name] = round(time.perf_counter() - start, 3)
        self.log(f"    {name} done in {self.timings[name]:.1f}s")
        return out


def train(spec: ModelSpec, raw: pd.DataFrame, store: Store, *, force: bool = False,
          log=print, now: datetime | None = None, pd_overrides: dict | None = None,
          tune_trials: int = 0, allow=(), source: dict | None = None,
          target_proxy: dict | None = None) -> TrainResult:
    """Train every model of `spec` on `raw`, verify each export and publish a version to `store`.

    Raises SpecError before any training if the data does not fit the spec, and
    ExportVerificationError (nothing published) if an ONNX export disagrees with its native model.
    The version becomes current only if it passes the promotion gate (or `force`).
    `pd_overrides` ({family: params}) replace the spec's PD parameters; `tune_trials` runs that
    many Optuna trials on the champion family (recorded in the manifest and `TrainResult.tuning`).
    The data-quality gates run first: DataQualityError (a SpecError; nothing published) names
    every failing gate not in `allow` or the spec's `quality.allow`. `source` (how the table was
    read: engine, tables) goes into the manifest. `target_proxy` (the JSON `proxy-target` wrote
    beside the table) says the target is a proxy.
    """
    from training.evaluation.drift_baseline import drift_baseline
    from training.evaluation.model_card import render_model_card
    from training.models.forecast import default_rate_forecast

    now = now or datetime.now(timezone.utc)
    st = _Stages(log)
    log(f"checking {len(raw):,} rows against spec {spec.name!r}")
    quality = enforce_training(st.run("data_quality", training_gates, spec, raw, allow))
    df = st.run("check_and_split", check_data, spec, raw)
    # The models are fitted on the raw features plus the derived ones; every graph then
    # computes the derived ones itself (compile_into), so callers send raw columns only.
    df = add_derived(df, spec.derived, spec.features)
    fit_spec = spec.with_derived()
    parts = split_frame(df, spec.target, spec.split.valid_fraction, spec.split.test_fraction,
                        date=spec.date, seed=spec.split.seed)
    data = TrainingData(fit_spec, df, parts)
    train_df, test_df = parts["train"], parts["test"]
    files: dict[str, bytes] = {}
    models: dict[str, dict] = {}
    parity: dict[str, dict] = {}

    # Every model the same way: fit, export, verify against the native model (or raise), entry,
    # evaluate its graph. PD comes first (the family and regime are chosen in models/pd/family.py;
    # the test split stays out); the others share the raw-column preprocessing fitted with it.
    ev = Evaluation(data, models)
    fitted = {}
    for model in version_models(fit_spec, data, log=log, pd_overrides=pd_overrides, tune_trials=tune_trials):
        st.run(f"{model.key}_fit", model.fit_version, data)
        graph = model.to_onnx()
        parity[model.key] = st.run(f"{model.key}_export_and_verify", model.verify, graph, test_df)
        graph = compile_into(graph, spec.derived, fit_spec.features, test_df)
        models[model.key] = model.manifest_entry()
        files[models[model.key]["file"]] = graph.SerializeToString()
        model.evaluate(graph, ev)
        fitted[model.key] = model
    pd_fit, pre = fitted["pd"].fit_, fitted["pd"].preprocessor_
    metrics = ev.metrics
    train_out = ev.rows("pd", "train")
    # The rows behind the card's test arrays: the held-out test split, or every row out of fold
    # when PD was fitted on every row (the same figures as metrics.test).
    eval_rows = df if fitted["pd"].all_rows_ else test_df
    y_eval, pd_eval, score_eval = ev.card["y_test"], ev.card["pd_test"], ev.card["score_test"]
    scaling = version_scaling(spec, train_out["pd"], train_df[spec.target].to_numpy())
    # Fairness on those rows: the protected columns are read here, to evaluate, and nowhere else.
    fairness = fairness_report(spec.protected, {p.name: eval_rows[p.name].to_numpy() for p in spec.protected},
                               spec.decision, scaling, pd_eval, score_eval, y_eval) if spec.protected else None
    serving = st.run("serving_graph", serving_graph,
                     {key: files[entry["file"]] for key, entry in models.items()}, spec.features, test_df)

    artifacts = {}
    forecast = None
    if spec.date:
        forecast = st.run("forecast", default_rate_forecast, df[spec.date], df[spec.target])
        files[FORECAST_FILE] = bundle.dumps(forecast)
        artifacts["forecast"] = FORECAST_FILE
    baseline = st.run("drift_baseline", drift_baseline, train_df, spec.features,
                      extra_numeric={"pd": train_out["pd"], "score": train_out["score"]})
    files[DRIFT_BASELINE_FILE] = bundle.dumps(baseline)
    artifacts["drift_baseline"] = DRIFT_BASELINE_FILE

    features = [_with_categories(f, pre.categories_[f.name]) if f.type == "categorical" else f
                for f in spec.features]
    manifest = {
        "created_at": now.isoformat(timespec="seconds"),
        "description": spec.description,
        "spec": spec.model_dump(mode="json"),
        "features": [f.model_dump(mode="json") for f in features],
        "columns": {"target": spec.target, "id": spec.id, "exposure": spec.exposure,
                    "lgd": spec.lgd, "date": spec.date},
        "models": models,
        "artifacts": artifacts,
        "metrics": metrics,
        "parity": parity,
        "scaling": scaling.model_dump(mode="json"),
        # per rating band on the card's test rows: score and PD range, rows, share, predicted and observed rate
        "rating_bands": band_table(scaling, pd_eval, score_eval, y_eval),
        "data": {"fingerprint_sha256": data_fingerprint(df), "rows": int(len(df)),
                 "split_rows": {k: int(len(v)) for k, v in parts.items()},
                 "split": "out-of-time by " + spec.date if spec.date else "stratified random",
                 "date_ranges": ({k: [str(v[spec.date].min().date()), str(v[spec.date].max().date())]
                                  for k, v in parts.items()} if spec.date else None),
                 "default_rate": float(df[spec.target].mean()),
                 "source": source},
        # the gates' report (riskscore.contract.quality); batch runs compare with missing_rates
        "data_quality": quality,
        "collinearity": {"vif": numeric_vifs(train_df, [f.name for f in spec.numeric]),
                         "rows": "training split, missing values at the column median"},
        "libraries": {lib: importlib.metadata.version(lib) for lib in LIBRARIES},
    }
    if fairness is not None:
        manifest["fairness"] = fairness
    if spec.derived:  # computed inside every graph; reason codes may name them
        manifest["derived"] = [{**d.model_dump(mode="json"), "feature": d.feature().model_dump(mode="json")}
                               for d in spec.derived]
    if target_proxy is not None:
        manifest["target_proxy"] = target_proxy
    if serving is not None:  # the per-request models, combined once here (training/onnx/serving_graph.py)
        files[serving[1]["file"]] = serving[0]
        manifest["serving_graph"] = serving[1]
    evaluation = {**ev.card, "forecast": forecast}
    files[MODEL_CARD_FILE] = st.run("model_card", render_model_card, manifest, evaluation).encode()
    artifacts["model_card"] = MODEL_CARD_FILE

    promoted, reason = promotion_decision(store, spec, metrics["test"]["auc"], force)
    version = new_version(store, spec.name, now)
    manifest["timings_s"] = st.timings
    manifest["promotion"] = {"promoted": promoted, "reason": reason}
    manifest = st.run("publish", bundle.publish, store, spec.name, version, files, manifest, make_current=promoted)
    return TrainResult(manifest=manifest, promoted=promoted, promotion_reason=reason,
                       timings_s=st.timings, evaluation=evaluation, tuning=pd_fit.tuning)


def _with_categories(f, categories: list[str]):
    """The feature as serving needs it: its categories, and whether codes may come as integers."""
    codes = f.integer_codes if f.integer_codes is not None else bool(categories) and all(
        map(is_integer_code, categories))
    return f.model_copy(update={"categories": list(categories), "integer_codes": codes})

