"""The LightGBM PD family: the graph routes every row as LightGBM does (thresholds in float32),
contributions add up to LightGBM's own margin, parity on rows with gaps."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from riskscore.contract.schema import ScalingSpec
from training.models.pd.lgbm import LightGBMModel, float32_below_next
from training.models.pd.booster import verify_export
from training.data.spec import check_data, load_spec

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize("t", [0.5, 1.0000001, 0.1, 1e-30, -3.3, 123456.789])
def test_threshold_keeps_lightgbm_routing(t):
    exported = np.float32(float32_below_next(t))
    below, above = np.nextafter(exported, np.float32(-np.inf)), exported
    assert float(below) <= t < float(above)  # x <= t  <=>  x < exported, for float32 x


@pytest.mark.parametrize("spec_file, table, valid", [
    ("german_credit.yaml", "german", False),
    ("credit_default.yaml", "synthetic", True),
])
def test_export_is_exact(spec_file, table, valid):
    spec = load_spec(ROOT / "training/specs" / spec_file)
    if table == "german":
        raw = pd.read_csv(ROOT / "tests/data/german_credit.csv.gz")
    else:
        from training.data.synthetic import generate
        raw = generate(rows=4000, seed=3)
    df = check_data(spec, raw)
    train, valid_rows, test = df.iloc[:2400], df.iloc[2400:3000], df.iloc[3000:] if len(df) > 3000 else None
    if test is None:
        train, test = df.iloc[:800], df.iloc[800:]
    params = {"n_estimators": 150, "learning_rate": 0.05, "max_depth": 3, "min_child_weight": 1.0}
    model = LightGBMModel(spec.features, params, seed=1).fit(
        train, train[spec.target], *((valid_rows, valid_rows[spec.target]) if valid else (None, None)))
    graph = model.to_onnx(ScalingSpec())
    report = verify_export(model, graph, test)
    bias = model.contribution_bias_
    assert report["pd_max_abs_diff"] < 1e-5 and report["additivity_max_abs_diff"] < 1e-4
    native = model.predict_native(test)
    np.testing.assert_allclose(native["contributions"].sum(axis=1) + bias, native["logit"], atol=1e-9)
    assert np.abs(native["contributions"]).max() > 0.01
