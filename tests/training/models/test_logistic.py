"""The logistic PD family: exact export (parity, additivity), C by inner CV, and an unseen
category scored as the population average rather than as an extreme."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from riskscore.contract.schema import ScalingSpec
from training.models.pd.logistic import C_GRID, LogisticModel
from training.models.pd.booster import verify_export
from training.onnx.run import run_onnx
from training.data.spec import check_data, load_spec

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def german():
    spec = load_spec(ROOT / "training/specs/german_credit.yaml")
    df = check_data(spec, pd.read_csv(ROOT / "tests/data/german_credit.csv.gz"))
    return spec, df.iloc[:800], df.iloc[800:]


@pytest.fixture(scope="module")
def fitted(german):
    spec, train, _ = german
    return LogisticModel(spec.features, {}, seed=0).fit(train, train[spec.target])


def test_export_is_exact_on_held_out_rows(fitted, german):
    _, _, test = german
    graph = fitted.to_onnx(ScalingSpec())
    report = verify_export(fitted, graph, test)
    assert report["pd_max_abs_diff"] < 1e-6 and report["additivity_max_abs_diff"] < 1e-5


def test_c_comes_from_inner_cv(fitted):
    assert fitted.C_ in C_GRID
    assert fitted.inner_cv_["mean_auc"][C_GRID.index(fitted.C_)] == max(fitted.inner_cv_["mean_auc"])


def test_same_model_as_a_scikit_learn_pipeline(fitted, german):
    """Imputation, one-hot and scaling reproduce the textbook pipeline's probabilities."""
    spec, train, test = german
    cols = ColumnTransformer([("num", StandardScaler(), [f.name for f in spec.numeric]),
                              ("cat", make_pipeline(OneHotEncoder(handle_unknown="ignore", sparse_output=False),
                                                    StandardScaler()), [f.name for f in spec.categorical])])
    reference = make_pipeline(cols, LogisticRegression(C=fitted.C_, max_iter=5000)).fit(train, train[spec.target])
    # on the training rows: every category known (an unseen one is where the two differ, below)
    np.testing.assert_allclose(fitted.predict_native(train)["pd"], reference.predict_proba(train)[:, 1], atol=1e-6)


def test_unseen_category_contributes_the_average(fitted, german):
    spec, train, test = german
    rows = test.head(20).copy()
    rows["purpose"] = "a code never seen"
    out = run_onnx(fitted.to_onnx(ScalingSpec()), spec.features, rows)
    col = [f.name for f in spec.features].index("purpose")
    np.testing.assert_allclose(out["contributions"][:, col], 0.0, atol=1e-6)
    # the average over the training rows of a known category's contribution is 0 too
    known = fitted.predict_native(train)["contributions"][:, col]
    assert abs(known.mean()) < 1e-9 and known.std() > 0.01


def test_missing_values_are_imputed_with_indicators():
    """A table with gaps (nullable numeric and categorical): parity holds on rows with gaps."""
    from training.data.synthetic import generate

    spec = load_spec(ROOT / "training/specs/credit_default.yaml")
    df = check_data(spec, generate(rows=3000, seed=2))
    nullable = [f.name for f in spec.features if f.nullable]
    assert df[nullable].isna().any().any()
    model = LogisticModel(spec.features, {"C": 0.3}, seed=0).fit(df.iloc[:2000], df[spec.target].iloc[:2000])
    graph = model.to_onnx(ScalingSpec())
    verify_export(model, graph, df.iloc[2000:])
    assert model.C_ == 0.3
