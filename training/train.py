"""The `train` job: read, check, split, fit, export, verify, evaluate and publish a version."""

from __future__ import annotations

import hashlib
import importlib.metadata
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone

import numpy as np
import pandas as pd

from riskscore import bundle
from riskscore.store import Store

from .metrics import pd_metrics
from .pd_model import PDModel, run_onnx, verify_export
from .spec import ModelSpec, check_data
from .split import split_frame

LIBRARIES = ["xgboost", "scikit-learn", "onnx", "onnxruntime", "numpy", "pandas"]


@dataclass
class TrainResult:
    manifest: dict
    promoted: bool
    promotion_reason: str
    timings_s: dict = field(default_factory=dict)


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


def rating_table(spec: ModelSpec, score: np.ndarray, y: np.ndarray) -> list[dict]:
    names = np.array([spec.scaling.rating(s) for s in score])
    rows = []
    for band in spec.scaling.bands:
        mask = names == band.name
        rows.append({"name": band.name, "min_score": band.min_score, "test_count": int(mask.sum()),
                     "observed_default_rate": float(y[mask].mean()) if mask.any() else None})
    return rows


def promotion_decision(store: Store, spec: ModelSpec, test_auc: float, force: bool) -> tuple[bool, str]:
    current = bundle.read_current(store, spec.name)
    if current is None:
        return True, "no current version: this one becomes current"
    current_auc = bundle.read_manifest(store, spec.name, current["version"])["metrics"]["test"]["auc"]
    floor = current_auc - spec.promotion.auc_tolerance
    if force:
        return True, f"--force: promoted regardless of the gate (current {current['version']} AUC {current_auc:.4f})"
    if test_auc >= floor:
        return True, (f"test AUC {test_auc:.4f} >= current {current['version']} AUC {current_auc:.4f} "
                      f"- tolerance {spec.promotion.auc_tolerance}")
    return False, (f"test AUC {test_auc:.4f} < current {current['version']} AUC {current_auc:.4f} - tolerance "
                   f"{spec.promotion.auc_tolerance}: published but not promoted (use --force to override)")


def train(spec: ModelSpec, raw: pd.DataFrame, store: Store, *, force: bool = False,
          log=print, now: datetime | None = None) -> TrainResult:
    """Train every model of `spec` on `raw`, verify each export and publish a version to `store`.

    Raises SpecError before any training if the data does not fit the spec, and
    ExportVerificationError (nothing published) if an ONNX export disagrees with its native model.
    """
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(stage: str) -> None:
        nonlocal clock
        timings[stage] = round(time.perf_counter() - clock, 3)
        clock = time.perf_counter()
        log(f"  {stage}: {timings[stage]:.1f}s")

    now = now or datetime.now(timezone.utc)
    log(f"checking {len(raw):,} rows against spec {spec.name!r}")
    df = check_data(spec, raw)
    parts = split_frame(df, spec.target, spec.split.valid_fraction, spec.split.test_fraction,
                        date=spec.date, seed=spec.split.seed)
    lap("check_and_split")

    log("training PD model (XGBoost, early stopping on the validation split)")
    params = spec.pd_model.model_dump()
    pd_model = PDModel(spec.features, params, seed=spec.split.seed).fit(
        parts["train"], parts["train"][spec.target], parts["valid"], parts["valid"][spec.target])
    lap("pd_fit")

    onnx_model, bias = pd_model.to_onnx(spec.scaling)
    parity = {"pd": verify_export(pd_model, onnx_model, bias, parts["test"])}
    lap("pd_export_and_verify")

    test = parts["test"]
    y_test = test[spec.target].to_numpy()
    native = pd_model.predict_native(test)
    metrics = {"test": pd_metrics(y_test, native["pd"]),
               "valid": pd_metrics(parts["valid"][spec.target].to_numpy(), pd_model.predict_native(parts["valid"])["pd"])}
    score = run_onnx(onnx_model, spec.features, test)["score"]
    lap("evaluate")

    features = [f.model_copy(update={"categories": pd_model.preprocessor_.categories_[f.name]})
                if f.type == "categorical" else f for f in spec.features]
    manifest = {
        "created_at": now.isoformat(timespec="seconds"),
        "description": spec.description,
        "spec": spec.model_dump(mode="json"),
        "features": [f.model_dump(mode="json") for f in features],
        "columns": {"target": spec.target, "id": spec.id, "exposure": spec.exposure,
                    "lgd": spec.lgd, "date": spec.date},
        "models": {"pd": {
            "file": "pd.onnx", "inputs": [f.name for f in spec.features],
            "outputs": ["pd", "logit", "score", "contributions"],
            "contribution_bias": bias,
            "contributions": "per-feature path attributions (Saabas) of the exported trees in log-odds; "
                             "contribution_bias + sum = logit, and pd = sigmoid(logit) (no calibration after the trees)",
            "matrix_columns": [label for _, label in pd_model.preprocessor_.columns_],
            "best_iteration": pd_model.best_iteration_, "params": params}},
        "metrics": metrics,
        "parity": parity,
        "scaling": spec.scaling.model_dump(mode="json"),
        "rating_bands": rating_table(spec, score, y_test),
        "data": {"fingerprint_sha256": data_fingerprint(df), "rows": int(len(df)),
                 "split_rows": {k: int(len(v)) for k, v in parts.items()},
                 "split": "out-of-time by " + spec.date if spec.date else "stratified random",
                 "date_ranges": ({k: [str(v[spec.date].min().date()), str(v[spec.date].max().date())]
                                  for k, v in parts.items()} if spec.date else None),
                 "default_rate": float(df[spec.target].mean())},
        "libraries": {lib: importlib.metadata.version(lib) for lib in LIBRARIES},
        "timings_s": timings,
    }
    files = {"pd.onnx": onnx_model.SerializeToString()}

    promoted, reason = promotion_decision(store, spec, metrics["test"]["auc"], force)
    version = new_version(store, spec.name, now)
    manifest = bundle.publish(store, spec.name, version, files, manifest, make_current=promoted)
    lap("publish")
    return TrainResult(manifest=manifest, promoted=promoted, promotion_reason=reason, timings_s=timings)

