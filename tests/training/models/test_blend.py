"""The blend PD family: the mean log-odds of two fitted members, exported as one exact graph."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from riskscore.contract.schema import ScalingSpec
from training.models.pd.blend import BlendModel, blend_pd
from training.models.pd.lgbm import LightGBMModel
from training.models.pd.logistic import LogisticModel
from training.models.pd.booster import verify_export
from training.onnx.run import run_onnx
from training.data.spec import check_data, load_spec

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def fitted():
    spec = load_spec(ROOT / "training/specs/german_credit.yaml")
    df = check_data(spec, pd.read_csv(ROOT / "tests/data/german_credit.csv.gz"))
    train, test = df.iloc[:800], df.iloc[800:]
    members = [LogisticModel(spec.features, {"C": 0.1}).fit(train, train[spec.target]),
               LightGBMModel(spec.features, {"n_estimators": 120, "max_depth": 2, "learning_rate": 0.05}).fit(
                   train, train[spec.target])]
    return spec, BlendModel(members), test


def test_export_is_exact_and_averages_the_members(fitted):
    spec, blend, test = fitted
    graph = blend.to_onnx(ScalingSpec())
    report = verify_export(blend, graph, test)
    assert report["pd_max_abs_diff"] < 1e-5 and report["additivity_max_abs_diff"] < 1e-4
    out = run_onnx(graph, spec.features, test)
    members = [run_onnx(m.to_onnx(ScalingSpec()), spec.features, test) for m in blend.members]
    np.testing.assert_allclose(out["logit"], (members[0]["logit"] + members[1]["logit"]) / 2, atol=1e-5)
    np.testing.assert_allclose(out["contributions"],
                               (members[0]["contributions"] + members[1]["contributions"]) / 2, atol=1e-5)
    assert blend.contribution_bias_ == pytest.approx(np.mean([m.contribution_bias_ for m in blend.members]))
    np.testing.assert_allclose(out["pd"], blend_pd(members[0]["pd"], members[1]["pd"]), atol=1e-5)
