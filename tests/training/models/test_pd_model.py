"""The PD model and its ONNX export: parity with XGBoost, exact reason-code additivity, the
graph's interface, monotone constraints, score scaling, metrics, the out-of-time split and the
manifest a published version carries."""

from __future__ import annotations

import copy
import hashlib
import importlib.metadata
import json
import math
import re
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import onnx
import onnxruntime as ort
import pandas as pd
import pytest
import xgboost as xgb
from onnx import TensorProto
from scipy.stats import rankdata

from support.onnx_helpers import assert_raw_column_inputs
from riskscore.errors import ExportVerificationError
from riskscore.contract.schema import ScalingSpec
from riskscore.io.store import LocalStore
from training.data.spec import check_data
from training.data.split import split_frame
from training.models.pd.booster import PDModel, verify_export
from training.train import data_fingerprint, train

DEFAULT_SPEC_PATH = Path(__file__).resolve().parents[3] / "training" / "specs" / "credit_default.yaml"
PARITY = 1e-5
ADDITIVITY = 1e-4


def quiet(*_args):
    pass


# --- helpers ----------------------------------------------------------------------------

def feeds(features, rows: pd.DataFrame) -> dict[str, np.ndarray]:
    """Graph inputs built the way a client would: float32 [N, 1], strings with '' for missing."""
    out = {}
    for f in features:
        name, kind = (f["name"], f["type"]) if isinstance(f, dict) else (f.name, f.type)
        if kind == "numeric":
            out[name] = rows[name].to_numpy(dtype=np.float32, na_value=np.nan).reshape(-1, 1)
        else:
            out[name] = np.array(["" if v is None or v != v else str(v) for v in rows[name]],
                                 dtype=object).reshape(-1, 1)
    return out


def run_graph(model_bytes: bytes, features, rows: pd.DataFrame) -> dict[str, np.ndarray]:
    session = ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(names, feeds(features, rows))))


def split_of(spec, df: pd.DataFrame) -> dict[str, pd.DataFrame]:
    return split_frame(check_data(spec, df), spec.target, spec.split.valid_fraction,
                       spec.split.test_fraction, date=spec.date, seed=spec.split.seed)


# --- fixtures ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def fitted(trained_store, small_spec, small_data):
    """The trained version, with its native PD model rebuilt from what the manifest records
    (params, seed, the split of the same data): XGBoost is deterministic, so this is the very
    model that was exported, and the rebuild checks that a version is reproducible."""
    m = trained_store.result.manifest
    parts = split_of(small_spec, small_data)
    model = PDModel(small_spec.features, m["models"]["pd"]["params"], seed=m["spec"]["split"]["seed"]).fit(
        parts["train"], parts["train"][small_spec.target], parts["valid"], parts["valid"][small_spec.target])
    onnx_bytes = trained_store.store.read(f"{small_spec.name}/{m['version']}/pd.onnx")
    return SimpleNamespace(spec=small_spec, manifest=m, model=model, onnx_bytes=onnx_bytes,
                           parts=parts, test=parts["test"])


@pytest.fixture(scope="module")
def bundle_graph(trained_store, small_spec):
    m = trained_store.result.manifest
    return trained_store.store.read(f"{small_spec.name}/{m['version']}/pd.onnx")


# --- parity and additivity --------------------------------------------------------------

def test_onnx_matches_native_xgboost_on_the_test_split(fitted):
    assert fitted.model.best_iteration_ == fitted.manifest["models"]["pd"]["best_iteration"], \
        "the manifest's params and seed do not reproduce the exported model"
    exported = fitted.model.to_onnx(fitted.spec.scaling)
    assert exported.SerializeToString() == fitted.onnx_bytes, "the rebuilt model exports a different graph"
    assert fitted.model.contribution_bias_ == fitted.manifest["models"]["pd"]["contribution_bias"]
    recorded = fitted.manifest["parity"]["pd"]
    assert recorded["rows"] == len(fitted.test) == fitted.manifest["data"]["split_rows"]["test"]
    assert recorded["pd_max_abs_diff"] <= PARITY

    out = run_graph(fitted.onnx_bytes, fitted.manifest["features"], fitted.test)
    native = fitted.model.predict_native(fitted.test)
    assert out["pd"].shape == (len(fitted.test),)
    assert np.max(np.abs(out["pd"] - native["pd"])) <= PARITY
    assert np.max(np.abs(out["logit"] - native["logit"])) <= 1e-4
    assert np.max(np.abs(out["contributions"] - native["contributions"])) <= ADDITIVITY
    # ... and native is XGBoost's own prediction, not a re-implementation of the graph.
    direct = fitted.model.booster_model_.predict_proba(
        fitted.model.preprocessor_.transform(fitted.test), iteration_range=(0, fitted.model.best_iteration_ + 1))[:, 1]
    assert np.max(np.abs(direct - native["pd"])) <= 1e-6


def test_contributions_add_up_to_the_logit_on_every_test_row(fitted):
    out = run_graph(fitted.onnx_bytes, fitted.manifest["features"], fitted.test)
    bias = fitted.manifest["models"]["pd"]["contribution_bias"]
    contributions = out["contributions"].astype(np.float64)
    assert contributions.shape == (len(fitted.test), len(fitted.spec.features))
    error = np.abs(contributions.sum(axis=1) + bias - out["logit"])
    assert error.max() <= ADDITIVITY, f"worst row {int(error.argmax())}: {error.max():.3g}"
    assert fitted.manifest["parity"]["pd"]["additivity_max_abs_diff"] <= ADDITIVITY
    # pd is the sigmoid of that logit: nothing (no calibration) comes after the trees.
    np.testing.assert_allclose(out["pd"], 1 / (1 + np.exp(-out["logit"].astype(np.float64))), atol=1e-6)
    # Not vacuous: reason codes differ between rows and features.
    assert np.std(contributions, axis=0).max() > 0.05


def test_graph_interface_is_the_raw_columns(bundle_graph, small_spec):
    model = onnx.load_from_string(bundle_graph)
    assert_raw_column_inputs(model, small_spec.features)

    outputs = {o.name: o for o in model.graph.output}
    assert set(outputs) == {"pd", "logit", "score", "contributions"}
    for name, out in outputs.items():
        assert out.type.WhichOneof("value") == "tensor_type", f"{name} is not a plain tensor"
        assert out.type.tensor_type.elem_type == TensorProto.FLOAT, name
    assert len(outputs["contributions"].type.tensor_type.shape.dim) == 2
    ops = {n.op_type for n in model.graph.node}
    assert "ZipMap" not in ops and not ops & {"SequenceConstruct", "SplitToSequence"}

    session = ort.InferenceSession(bundle_graph, providers=["CPUExecutionProvider"])
    assert {o.name: o.type for o in session.get_outputs()} == {
        "pd": "tensor(float)", "logit": "tensor(float)", "score": "tensor(float)",
        "contributions": "tensor(float)"}


# --- monotone constraints ---------------------------------------------------------------

MONOTONE_GRIDS = [
    # (feature, direction, grid, the PD must actually move along it for some row)
    ("late_90_plus", "increasing", np.arange(0, 21, dtype=float), True),
    ("age", "decreasing", np.arange(18, 96, dtype=float), True),
    ("revolving_utilization", "increasing", np.linspace(0, 1.5, 61), True),
    ("late_30_59", "increasing", np.arange(0, 21, dtype=float), False),
    ("late_60_89", "increasing", np.arange(0, 21, dtype=float), False),
    ("debt_ratio", "increasing", np.linspace(0, 5, 51), False),
    ("monthly_income", "decreasing", np.geomspace(300, 100_000, 60), False),
    ("dependents", "increasing", np.arange(0, 9, dtype=float), False),
]


@pytest.mark.parametrize("feature, direction, grid, must_move", MONOTONE_GRIDS, ids=[g[0] for g in MONOTONE_GRIDS])
def test_monotone_constraints_hold_through_the_graph(bundle_graph, trained_store, small_spec, small_data,
                                                     feature, direction, grid, must_move):
    declared = {f.name: f.monotone for f in small_spec.features}
    assert declared[feature] == direction, "the grid table is out of date with the spec"
    rows = split_of(small_spec, small_data)["test"].sample(40, random_state=0)
    repeated = rows.loc[rows.index.repeat(len(grid))].reset_index(drop=True)
    repeated[feature] = np.tile(grid, len(rows))
    pd_grid = run_graph(bundle_graph, trained_store.result.manifest["features"], repeated)["pd"]
    pd_grid = pd_grid.astype(np.float64).reshape(len(rows), len(grid))
    steps = np.diff(pd_grid, axis=1)
    if direction == "increasing":
        assert steps.min() >= 0, f"raising {feature} lowered a PD by {-steps.min():.3g}"
    else:
        assert steps.max() <= 0, f"raising {feature} raised a PD by {steps.max():.3g}"
    if must_move:
        assert np.abs(pd_grid[:, -1] - pd_grid[:, 0]).max() > 0.01, f"{feature} has no effect: test is vacuous"


# --- tampering is caught by verify_export -----------------------------------------------

def _ensemble(model: onnx.ModelProto):
    """The PD graph's one tree ensemble: per-feature contributions, then the margin (last target)."""
    return next(n for n in model.graph.node if n.op_type == "TreeEnsembleRegressor")


def _attr(node, name):
    return next(a for a in node.attribute if a.name == name)


def _is_margin(node, target: int) -> bool:
    return target == len(_attr(node, "base_values").floats) - 1


def _leaf_entry(model: onnx.ModelProto, fitted, output: str) -> int:
    """Index into target_* of a tree-0 leaf that the first test row reaches, in the margin
    target (`output` "logit_2d") or a contribution target ("contributions")."""
    matrix = fitted.model.preprocessor_.transform(fitted.test.head(1))
    leaf = int(fitted.model.exported_booster().predict(xgb.DMatrix(matrix), pred_leaf=True)[0, 0])
    node = _ensemble(model)
    trees, nodes = list(_attr(node, "target_treeids").ints), list(_attr(node, "target_nodeids").ints)
    targets = list(_attr(node, "target_ids").ints)
    weights = list(_attr(node, "target_weights").floats)
    candidates = [i for i, (t, n, g) in enumerate(zip(trees, nodes, targets))
                  if t == 0 and n == leaf and _is_margin(node, g) == (output == "logit_2d")]
    return max(candidates, key=lambda i: abs(weights[i]))


def _shift_weight(output):
    def tamper(model, fitted, bias):
        i = _leaf_entry(model, fitted, output)
        _attr(_ensemble(model), "target_weights").floats[i] += 0.25
        return bias
    return tamper


def _shift_base_value(model, fitted, bias):
    _attr(_ensemble(model), "base_values").floats[-1] += 0.05  # the margin's
    return bias


def _move_root_threshold(model, fitted, bias):
    node = _ensemble(model)
    values, trees = _attr(node, "nodes_values").floats, list(_attr(node, "nodes_treeids").ints)
    values[trees.index(0)] = -1e9  # every row now takes the same side of tree 0's root
    return bias


def _wrong_bias(model, fitted, bias):
    return bias + 0.01


TAMPERING = {
    "leaf weight of the PD trees": (_shift_weight("logit_2d"), r"PD ONNX export differs from XGBoost by"),
    "base value of the PD trees": (_shift_base_value, r"PD ONNX export differs from XGBoost by 0\.0"),
    "split threshold of the PD trees": (_move_root_threshold, r"PD ONNX export differs from XGBoost"),
    "leaf weight of the contribution trees": (_shift_weight("contributions"),
                                              r"reason-code contributions are not exact"),
    "contribution bias": (_wrong_bias, r"reason-code contributions are not exact: additivity error 0\.01"),
}


def test_verify_export_accepts_the_untouched_export(fitted):
    graph = fitted.model.to_onnx(fitted.spec.scaling)
    report = verify_export(fitted.model, graph, fitted.test)
    assert report["rows"] == len(fitted.test)
    assert report["pd_max_abs_diff"] <= PARITY and report["additivity_max_abs_diff"] <= ADDITIVITY


@pytest.mark.parametrize("tamper, message", TAMPERING.values(), ids=TAMPERING.keys())
def test_verify_export_catches_a_tampered_graph(fitted, tamper, message):
    graph = fitted.model.to_onnx(fitted.spec.scaling)
    verify_export(fitted.model, graph, fitted.test)  # the untouched export passes
    tampered, model = copy.deepcopy(graph), copy.copy(fitted.model)
    bias = fitted.model.contribution_bias_
    model.contribution_bias_ = tamper(tampered, fitted, bias)
    assert tampered.SerializeToString() != graph.SerializeToString() or model.contribution_bias_ != bias
    with pytest.raises(ExportVerificationError, match=message):
        verify_export(model, tampered, fitted.test)


# --- score scaling ----------------------------------------------------------------------

def _linear(p, s):
    return s.linear_base + (1 - p) * s.linear_span


def _pdo(p, s):
    factor = s.pdo / math.log(2)
    return s.base_score - factor * math.log(s.base_odds) + factor * np.log((1 - p) / p)


SCALINGS = {
    "linear default": (ScalingSpec(), lambda p, s: 300 + (1 - p) * 600),
    "linear custom": (ScalingSpec(linear_base=0, linear_span=1000), _linear),
    "pdo 600/50/20": (ScalingSpec(method="pdo"), _pdo),
    "pdo 500/20/40": (ScalingSpec(method="pdo", base_score=500, base_odds=20, pdo=40), _pdo),
}


@pytest.mark.parametrize("scaling, expected", SCALINGS.values(), ids=SCALINGS.keys())
def test_score_scaling(fitted, scaling, expected):
    graph = fitted.model.to_onnx(scaling)
    out = run_graph(graph.SerializeToString(), fitted.spec.features, fitted.test)
    p = out["pd"].astype(np.float64)
    np.testing.assert_allclose(out["score"], expected(p, scaling), atol=1e-3, rtol=0)
    assert np.ptp(out["score"]) > 10  # scores spread out, so the comparison means something


def test_pdo_base_odds_score_the_base_score(fitted):
    """At the base odds the pdo score is the base score, and doubling the odds adds `pdo` points."""
    scaling = ScalingSpec(method="pdo", base_score=600, base_odds=50, pdo=20)
    graph = fitted.model.to_onnx(scaling)
    session = ort.InferenceSession(graph.SerializeToString(), providers=["CPUExecutionProvider"])
    rows = fitted.test.head(200)
    pd_, logit, score = session.run(["pd", "logit", "score"], feeds(fitted.spec.features, rows))
    odds = np.exp(-logit.astype(np.float64))  # good:bad odds
    np.testing.assert_allclose(score, 600 + 20 * np.log2(odds / 50), atol=1e-3)


def test_manifest_scaling_and_rating_bands_follow_the_spec(fitted):
    m, spec = fitted.manifest, fitted.spec
    # The spec's scaling, with the PD master scale as its bands (the spec lists none).
    assert {k: v for k, v in m["scaling"].items() if k != "bands"} == spec.scaling.model_dump(mode="json",
                                                                                               exclude={"bands"})
    bands = m["rating_bands"]
    assert [b["name"] for b in bands] == [b["name"] for b in m["scaling"]["bands"]]
    assert sum(b["test_count"] for b in bands) == len(fitted.test)
    out = run_graph(fitted.onnx_bytes, m["features"], fitted.test)
    y = fitted.test[spec.target].to_numpy()
    shown = np.round(out["score"].astype(np.float64), 1)  # rated as shown, to 0.1 (the one rating rule)
    for band, upper in zip(bands, [b["min_score"] for b in bands[1:]] + [None]):
        mask = np.ones(len(y), bool)
        if band["min_score"] is not None:
            mask &= shown >= band["min_score"]
        if upper is not None:
            mask &= shown < upper
        assert band["test_count"] == int(mask.sum()), band["name"]
        if mask.any():
            assert band["observed_default_rate"] == pytest.approx(y[mask].mean())
    rates = [b["observed_default_rate"] for b in bands if b["test_count"] >= 30]
    assert rates == sorted(rates, reverse=True), "better ratings should default less"


# --- metrics ----------------------------------------------------------------------------

def _auc(y, p):
    ranks = rankdata(p)
    pos = y == 1
    return (ranks[pos].sum() - pos.sum() * (pos.sum() + 1) / 2) / (pos.sum() * (~pos).sum())


def _ks(y, p):
    order = np.argsort(-p, kind="stable")
    ys, ps = y[order], p[order]
    tpr, fpr = np.cumsum(ys) / ys.sum(), np.cumsum(1 - ys) / (1 - ys).sum()
    last_of_tie = np.r_[ps[1:] != ps[:-1], True]
    return float(np.max((tpr - fpr)[last_of_tie]))


def test_metrics_are_present_and_correct(fitted):
    test = fitted.manifest["metrics"]["test"]
    y = fitted.test[fitted.spec.target].to_numpy()
    p = run_graph(fitted.onnx_bytes, fitted.manifest["features"], fitted.test)["pd"].astype(np.float64)
    assert test["rows"] == len(y)
    assert test["default_rate"] == pytest.approx(y.mean())
    assert test["mean_pd"] == pytest.approx(p.mean(), abs=1e-6)
    assert test["auc"] == pytest.approx(_auc(y, p), abs=1e-4)
    assert 0.7 < test["auc"] < 0.95
    assert test["gini"] == pytest.approx(2 * test["auc"] - 1, abs=1e-12)
    assert test["ks"] == pytest.approx(_ks(y, p), abs=1e-4)
    assert test["brier"] == pytest.approx(np.mean((p - y) ** 2), abs=1e-6)
    assert y.mean() < test["pr_auc"] <= 1
    calibration = test["calibration"]
    assert [r["decile"] for r in calibration] == list(range(1, 11))
    assert sum(r["count"] for r in calibration) == len(y)
    assert sum(r["defaults"] for r in calibration) == int(y.sum())
    order = np.argsort(p, kind="stable")
    for row, idx in zip(calibration, np.array_split(order, 10)):
        assert row["mean_pd"] == pytest.approx(p[idx].mean(), abs=1e-6)
        assert row["observed_rate"] == pytest.approx(y[idx].mean())
        assert row["pd_min"] <= row["mean_pd"] <= row["pd_max"]
    assert [r["mean_pd"] for r in calibration] == sorted(r["mean_pd"] for r in calibration)
    valid = fitted.manifest["metrics"]["valid"]
    assert valid["rows"] == fitted.manifest["data"]["split_rows"]["valid"]
    assert {"auc", "gini", "ks", "brier", "pr_auc", "calibration"} <= set(valid)


# --- splits -----------------------------------------------------------------------------

def test_out_of_time_split_orders_train_valid_test(small_spec, small_data, trained_store):
    parts = split_of(small_spec, small_data)
    date = small_spec.date
    n = len(small_data)
    # sizes follow the fractions up to the rows of one boundary day
    for name, fraction in (("valid", small_spec.split.valid_fraction), ("test", small_spec.split.test_fraction)):
        assert abs(len(parts[name]) - n * fraction) <= small_data[date].value_counts().max() + 1
    assert sum(len(p) for p in parts.values()) == n
    index = pd.Index(np.concatenate([p.index.to_numpy() for p in parts.values()]))
    assert index.is_unique and set(index) == set(small_data.index)
    # strictly out of time: no day on both sides of a cut
    assert parts["valid"][date].min() > parts["train"][date].max()
    assert parts["test"][date].min() > parts["valid"][date].max()
    ranges = trained_store.result.manifest["data"]["date_ranges"]
    assert ranges["train"][1] < ranges["valid"][0] <= ranges["valid"][1] < ranges["test"][0]
    assert ranges["test"][1] == str(small_data[date].max().date())


def test_random_split_without_a_date_is_stratified(small_spec, small_data):
    spec = small_spec.model_copy(update={"date": None})
    parts = split_of(spec, small_data)
    rate = small_data[spec.target].mean()
    for name, part in parts.items():
        assert abs(part[spec.target].mean() - rate) < 0.005, name
    # and not by date: the test rows span the whole period
    test_dates = small_data.loc[parts["test"].index, small_spec.date]
    assert test_dates.min() < small_data[small_spec.date].quantile(0.1)


# --- the manifest -----------------------------------------------------------------------

def test_manifest_describes_the_version(trained_store, small_spec, small_data):
    m = trained_store.result.manifest
    store = trained_store.store
    assert m["name"] == small_spec.name
    assert re.fullmatch(r"v\d{8}-\d{6}(-\d+)?", m["version"])
    assert datetime.fromisoformat(m["created_at"]).tzinfo is not None
    stored = json.loads(store.read(f"{small_spec.name}/{m['version']}/manifest.json"))
    assert (stored["name"], stored["version"], stored["files"]) == (m["name"], m["version"], m["files"])

    features = {f["name"]: f for f in m["features"]}
    assert list(features) == [f.name for f in small_spec.features]
    for f in small_spec.features:
        got = features[f.name]
        assert (got["type"], got["nullable"], got["min"], got["max"], got["monotone"]) == (
            f.type, f.nullable, f.min, f.max, f.monotone), f.name
        if f.type == "categorical":
            assert got["categories"], f"{f.name}: serving needs the learned categories"
            assert set(got["categories"]) <= set(small_data[f.name].dropna())

    assert "pd.onnx" in m["files"]
    for name, meta in m["files"].items():
        data = store.read(f"{small_spec.name}/{m['version']}/{name}")
        assert meta["sha256"] == hashlib.sha256(data).hexdigest(), name
        assert meta["bytes"] == len(data), name

    for lib in ("xgboost", "onnx", "onnxruntime", "numpy", "pandas", "scikit-learn"):
        assert m["libraries"][lib] == importlib.metadata.version(lib)
    assert {"auc", "gini", "ks", "brier", "pr_auc", "calibration"} <= set(m["metrics"]["test"])
    assert {k: v for k, v in m["scaling"].items() if k != "bands"} == small_spec.scaling.model_dump(
        mode="json", exclude={"bands"})
    assert [b["name"] for b in m["rating_bands"]] == [b["name"] for b in m["scaling"]["bands"]]

    data = m["data"]
    assert re.fullmatch(r"[0-9a-f]{64}", data["fingerprint_sha256"])
    assert data["fingerprint_sha256"] == data_fingerprint(check_data(small_spec, small_data))
    assert data["rows"] == len(small_data) == sum(data["split_rows"].values())
    assert data["default_rate"] == pytest.approx(small_data[small_spec.target].mean())


def test_data_fingerprint_changes_with_any_value(small_spec, small_data):
    df = check_data(small_spec, small_data)
    base = data_fingerprint(df)
    assert data_fingerprint(df.copy()) == base
    changed = df.copy()
    changed.loc[changed.index[123], "age"] += 1
    assert data_fingerprint(changed) != base
    assert data_fingerprint(df.iloc[::-1]) != base  # row order is part of the data
    assert data_fingerprint(df.rename(columns={"age": "age_years"})) != base


# --- large sample: the model gets close to the oracle -----------------------------------

@pytest.mark.slow
def test_large_sample_auc_close_to_oracle_and_parity(tmp_path):
    from sklearn.metrics import roc_auc_score

    from training.data.spec import load_spec
    from training.data.synthetic import generate

    spec = load_spec(DEFAULT_SPEC_PATH)
    df = generate(200_000, seed=7)
    store = LocalStore(tmp_path / "models")
    result = train(spec, df, store, log=quiet)
    m = result.manifest

    test = split_of(spec, df)["test"]
    assert len(test) == m["data"]["split_rows"]["test"]
    assert abs(len(test) - len(df) * spec.split.test_fraction) <= df[spec.date].value_counts().max()
    assert test.index.isin(df.index).all()
    oracle_auc = roc_auc_score(df.loc[test.index, spec.target], df.loc[test.index, "true_pd"])
    model_auc = m["metrics"]["test"]["auc"]
    assert abs(model_auc - oracle_auc) <= 0.01, f"model AUC {model_auc:.4f} vs oracle {oracle_auc:.4f}"
    assert m["parity"]["pd"]["pd_max_abs_diff"] <= PARITY
    assert m["parity"]["pd"]["rows"] == len(test)

    onnx_bytes = store.read(f"{spec.name}/{m['version']}/pd.onnx")
    p = run_graph(onnx_bytes, m["features"], test)["pd"].astype(np.float64)
    assert roc_auc_score(test[spec.target], p) == pytest.approx(model_auc, abs=1e-4)

