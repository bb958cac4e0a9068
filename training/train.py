"""The `train` job: read, check, split, fit every model, export, verify, evaluate, publish."""

from __future__ import annotations

import hashlib
import importlib.metadata
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone

import numpy as np
import pandas as pd

from riskscore import bundle
from riskscore.schema import is_integer_code
from riskscore.store import Store

from .metrics import pd_metrics
from .pd_family import fit_pd
from .pd_model import run_onnx, verify_export
from .preprocess import RawPreprocessor
from .spec import ModelSpec, check_data
from .split import split_frame

LIBRARIES = ["xgboost", "scikit-learn", "skl2onnx", "onnx", "onnxruntime", "numpy", "pandas", "statsmodels",
             "optbinning"]


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


def rating_table(spec: ModelSpec, score: np.ndarray, y: np.ndarray) -> list[dict]:
    names = np.array([spec.scaling.rating(s) for s in np.round(score.astype(np.float64), 1)])
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


def pd_manifest_entry(model, spec: ModelSpec) -> dict:
    """What the manifest says about the fitted PD model beyond its family and candidates."""
    if model.family == "xgboost":
        return {"contributions": "per-feature path attributions (Saabas) of the exported trees in log-odds, "
                                 "exact for the exported model: contribution_bias + sum = logit and "
                                 "pd = sigmoid(logit); no calibration step follows the trees, so a positive "
                                 "contribution always raises the PD",
                "matrix_columns": [label for _, label in model.preprocessor_.columns_],
                "best_iteration": model.best_iteration_, "params": model.params}
    return {"contributions": "scorecard points in log-odds: coefficient x weight of evidence of the "
                             "applicant's bin for each feature; contribution_bias (the intercept) + sum = "
                             "logit exactly, and a feature without points contributes 0",
            "params": model.params, "binning_rows": model.n_binning_rows_,
            "information_value": model.iv_rows(), "points": model.points_rows(spec.scaling)}


def train(spec: ModelSpec, raw: pd.DataFrame, store: Store, *, force: bool = False,
          log=print, now: datetime | None = None, pd_overrides: dict | None = None,
          tune_trials: int = 0) -> TrainResult:
    """Train every model of `spec` on `raw`, verify each export and publish a version to `store`.

    Raises SpecError before any training if the data does not fit the spec, and
    ExportVerificationError (nothing published) if an ONNX export disagrees with its native model.
    The version becomes current only if it passes the promotion gate (or `force`).
    `pd_overrides` ({family: params}) replace the spec's PD parameters; `tune_trials` runs that
    many Optuna trials on the champion family (recorded in the manifest and `TrainResult.tuning`).
    """
    from .anomaly import AnomalyModel
    from .drift_baseline import drift_baseline
    from .embedding import EmbeddingModel
    from .forecast import default_rate_forecast
    from .lgd_model import LGDModel
    from .model_card import render_model_card
    from .segments import SegmentModel

    now = now or datetime.now(timezone.utc)
    st = _Stages(log)
    log(f"checking {len(raw):,} rows against spec {spec.name!r}")
    df = st.run("check_and_split", check_data, spec, raw)
    parts = split_frame(df, spec.target, spec.split.valid_fraction, spec.split.test_fraction,
                        date=spec.date, seed=spec.split.seed)
    train_df, valid_df, test_df = parts["train"], parts["valid"], parts["test"]
    y = {k: v[spec.target].to_numpy() for k, v in parts.items()}
    files: dict[str, bytes] = {}
    models: dict[str, dict] = {}
    parity: dict[str, dict] = {}
    metrics: dict = {}

    # PD: the model everything else is judged by. The family (or the champion of both) and
    # the training regime are chosen in pd_family; the test split stays out of it.
    fit = st.run("pd_fit", fit_pd, spec, train_df, y["train"], valid_df, y["valid"], log=log,
                 overrides=pd_overrides, tune_trials=tune_trials)
    pd_model = fit.model
    onnx_pd, bias = pd_model.to_onnx(spec.scaling)
    parity["pd"] = st.run("pd_export_and_verify", verify_export, pd_model, onnx_pd, bias, test_df)
    files["pd.onnx"] = onnx_pd.SerializeToString()
    # The exported graph scores every row once; the splits' outputs are slices of it.
    full_out = run_onnx(onnx_pd, spec.features, df)
    test_out = _rows(full_out, df, test_df)
    metrics["test"] = pd_metrics(y["test"], test_out["pd"].astype(np.float64))
    if fit.regime["name"] == "large":
        metrics["valid"] = pd_metrics(y["valid"], pd_model.predict_native(valid_df)["pd"])
    else:  # the validation rows are in the refit: only the cross-validated figure is honest
        champion = next(c for c in fit.candidates if c["chosen"])
        metrics["cv"] = {"auc": champion["selection_auc"], "auc_std": champion["auc_std"],
                         "folds": fit.regime["folds"], "rows": fit.regime["rows"]}
    # Segments, anomaly, LGD and embedding share one raw-column preprocessing, fitted on the
    # rows the PD model was fitted on (its own, for XGBoost).
    pre = (pd_model.preprocessor_ if pd_model.family == "xgboost" else
           RawPreprocessor(spec.features).fit(train_df if fit.regime["name"] == "large"
                                               else pd.concat([train_df, valid_df])))
    models["pd"] = {
        "file": "pd.onnx", "outputs": ["pd", "logit", "score", "contributions"],
        "family": pd_model.family, "regime": fit.regime, "candidates": fit.candidates,
        "selection": fit.selection, "contribution_bias": bias,
        "tuning": ({k: v for k, v in fit.tuning.items() if k != "trials"} if fit.tuning else None),
        **pd_manifest_entry(pd_model, spec)}

    lgd_all = None
    if spec.lgd:
        defaulted = {k: v[v[spec.target] == 1] for k, v in parts.items()}
        lgd_model = st.run("lgd_fit", LGDModel(pre, seed=spec.split.seed).fit,
                           defaulted["train"], defaulted["train"][spec.lgd],
                           defaulted["valid"], defaulted["valid"][spec.lgd])
        onnx_lgd = lgd_model.to_onnx()
        parity["lgd"] = st.run("lgd_export_and_verify", lgd_model.verify, onnx_lgd, test_df)
        files["lgd.onnx"] = onnx_lgd.SerializeToString()
        models["lgd"] = lgd_model.manifest_entry()
        metrics["lgd"] = lgd_model.metrics(defaulted["test"], defaulted["test"][spec.lgd])
        lgd_all = run_onnx(onnx_lgd, spec.features, df)["lgd"]
        if spec.exposure:
            el = full_out["pd"] * lgd_all * df[spec.exposure].to_numpy()
            metrics["expected_loss"] = {"total": float(np.nansum(el)), "mean": float(np.nanmean(el)),
                                        "definition": "PD x LGD x exposure"}

    seg_model = st.run("segments_fit", SegmentModel(pre, k=spec.segments, seed=spec.split.seed).fit,
                       train_df, y["train"])
    onnx_seg = seg_model.to_onnx()
    parity["segment"] = st.run("segments_export_and_verify", seg_model.verify, onnx_seg, test_df)
    files["segment.onnx"] = onnx_seg.SerializeToString()
    segment_all = run_onnx(onnx_seg, spec.features, df)["segment"]
    models["segment"] = dict(seg_model.manifest_entry(), profiles=seg_model.profiles(
        segment_all, df[spec.target].to_numpy(), full_out["pd"],
        lgd_all if lgd_all is not None else np.full(len(df), np.nan)))

    anomaly = st.run("anomaly_fit", AnomalyModel(pre, contamination=spec.contamination,
                                                 seed=spec.split.seed).fit, train_df)
    onnx_anom = anomaly.to_onnx()
    parity["anomaly"] = st.run("anomaly_export_and_verify", anomaly.verify, onnx_anom, test_df)
    files["anomaly.onnx"] = onnx_anom.SerializeToString()
    models["anomaly"] = anomaly.manifest_entry()
    anomaly_test = run_onnx(onnx_anom, spec.features, test_df)
    metrics["anomaly"] = {"test_flag_rate": float(np.mean(anomaly_test["anomaly_flag"])),
                          "contamination": spec.contamination}

    embedding = st.run("embedding_fit", EmbeddingModel(pre, seed=spec.split.seed).fit, train_df)
    onnx_emb = embedding.to_onnx()
    parity["embedding"] = st.run("embedding_export_and_verify", embedding.verify, onnx_emb, test_df)
    files["embedding.onnx"] = onnx_emb.SerializeToString()
    models["embedding"] = embedding.manifest_entry()

    artifacts = {}
    forecast = None
    if spec.date:
        forecast = st.run("forecast", default_rate_forecast, df[spec.date], df[spec.target])
        files["forecast.json"] = bundle.dumps(forecast)
        artifacts["forecast"] = "forecast.json"
    train_out = _rows(full_out, df, train_df)
    baseline = st.run("drift_baseline", drift_baseline, train_df, spec.features,
                      extra_numeric={"pd": train_out["pd"], "score": train_out["score"]})
    files["drift_baseline.json"] = bundle.dumps(baseline)
    artifacts["drift_baseline"] = "drift_baseline.json"

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
        "scaling": spec.scaling.model_dump(mode="json"),
        "rating_bands": rating_table(spec, test_out["score"], y["test"]),
        "data": {"fingerprint_sha256": data_fingerprint(df), "rows": int(len(df)),
                 "split_rows": {k: int(len(v)) for k, v in parts.items()},
                 "split": "out-of-time by " + spec.date if spec.date else "stratified random",
                 "date_ranges": ({k: [str(v[spec.date].min().date()), str(v[spec.date].max().date())]
                                  for k, v in parts.items()} if spec.date else None),
                 "default_rate": float(df[spec.target].mean())},
        "libraries": {lib: importlib.metadata.version(lib) for lib in LIBRARIES},
    }
    test_defaults = test_df[test_df[spec.target] == 1]
    evaluation = {
        "y_test": y["test"], "pd_test": test_out["pd"], "score_test": test_out["score"],
        "importance": dict(zip([f.name for f in spec.features],
                               np.abs(test_out["contributions"]).mean(axis=0).tolist())),
        "lgd_actual": test_defaults[spec.lgd].to_numpy() if spec.lgd else None,
        "lgd_pred": (pd.Series(lgd_all, index=df.index).loc[test_defaults.index].to_numpy()
                     if spec.lgd else None),
        "anomaly_score_test": anomaly_test["anomaly_score"],
        "forecast": forecast,
    }
    files["model_card.html"] = st.run("model_card", render_model_card, manifest, evaluation).encode()
    artifacts["model_card"] = "model_card.html"

    promoted, reason = promotion_decision(store, spec, metrics["test"]["auc"], force)
    version = new_version(store, spec.name, now)
    manifest["timings_s"] = st.timings
    manifest["promotion"] = {"promoted": promoted, "reason": reason}
    manifest = st.run("publish", bundle.publish, store, spec.name, version, files, manifest, make_current=promoted)
    return TrainResult(manifest=manifest, promoted=promoted, promotion_reason=reason,
                       timings_s=st.timings, evaluation=evaluation, tuning=fit.tuning)


def _with_categories(f, categories: list[str]):
    """The feature as serving needs it: its categories, and whether codes may come as integers."""
    codes = f.integer_codes if f.integer_codes is not None else bool(categories) and all(
        map(is_integer_code, categories))
    return f.model_copy(update={"categories": list(categories), "integer_codes": codes})


def _rows(outputs: dict[str, np.ndarray], df: pd.DataFrame, part: pd.DataFrame) -> dict[str, np.ndarray]:
    """The rows of `part` (a subset of `df`) in graph outputs computed on all of `df`."""
    positions = df.index.get_indexer(part.index)
    return {name: values[positions] for name, values in outputs.items()}
