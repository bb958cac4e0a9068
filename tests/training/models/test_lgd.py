"""The LGD model: export parity, the mean baseline, and the ONNX pitfalls its parity check must catch."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import helper

from riskscore.errors import ExportVerificationError
from training.models.lgd import LGDModel
from training.onnx.run import run_onnx


@pytest.fixture(scope="module")
def lgd(pre, parts):
    d = {k: v[v["default"] == 1] for k, v in parts.items()}
    return LGDModel(pre, n_estimators=80).fit(d["train"], d["train"]["lgd"], d["valid"], d["valid"]["lgd"]), d


def test_lgd_export_matches_xgboost_and_stays_in_unit_interval(lgd, parts):
    model, _ = lgd
    report = model.verify(model.to_onnx(), parts["test"])
    assert report["lgd_max_abs_diff"] <= 1e-5
    out = run_onnx(model.to_onnx(), model.preprocessor.features, parts["test"])["lgd"]
    assert out.min() >= 0 and out.max() <= 1
    assert out.std() > 0.01  # it learned something row-specific


def test_lgd_beats_the_mean_baseline(lgd):
    model, d = lgd
    m = model.metrics(d["test"], d["test"]["lgd"])
    assert m["mae"] < m["baseline_mae"] and m["rmse"] < m["baseline_rmse"]


def _drop_sigmoid(model: onnx.ModelProto) -> onnx.ModelProto:
    """What onnxmltools does to reg:logistic regressors (onnxmltools issue 646)."""
    g = model.graph
    sig = next(n for n in g.node if n.op_type == "Sigmoid")
    idx = list(g.node).index(sig)
    g.node.remove(sig)
    g.node.insert(idx, helper.make_node("Identity", list(sig.input), list(sig.output)))
    return model


def _base_score_as_margin(model: onnx.ModelProto) -> onnx.ModelProto:
    """Treat XGBoost 3's probability-space base_score as a margin (the 2.x/3.x confusion)."""
    node = next(n for n in model.graph.node if n.op_type == "TreeEnsembleRegressor")
    attr = next(a for a in node.attribute if a.name == "base_values")
    p = 1 / (1 + np.exp(-attr.floats[0]))
    attr.floats[0] = float(p)
    return model


@pytest.mark.parametrize("pitfall", [_drop_sigmoid, _base_score_as_margin], ids=["sigmoid dropped", "base_score"])
def test_parity_check_catches_known_export_pitfalls(lgd, parts, pitfall):
    model, _ = lgd
    broken = pitfall(model.to_onnx())
    with pytest.raises(ExportVerificationError, match="LGD ONNX export differs"):
        model.verify(broken, parts["test"])


def test_preprocessor_is_kept_when_fitted_else_cloned_and_fitted(lgd, pre, small_spec):
    """As every model after PD (training/onnx/preprocess.fitted_preprocessor)."""
    from training.onnx.preprocess import RawPreprocessor

    model, d = lgd
    assert model.preprocessor_ is pre
    raw = RawPreprocessor(small_spec.features)
    fresh = LGDModel(raw, n_estimators=20).fit(d["train"], d["train"]["lgd"], d["valid"], d["valid"]["lgd"])
    assert not hasattr(raw, "medians_")
    assert fresh.preprocessor_ is not raw and hasattr(fresh.preprocessor_, "medians_")
    fresh.verify(fresh.to_onnx(), d["test"])
