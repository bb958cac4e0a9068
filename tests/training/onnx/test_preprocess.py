"""RawPreprocessor: skl2onnx's imputation and one-hot plus hand-built missing indicators, checked
against the scikit-learn steps bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from support.onnx_helpers import FEATURES, TYPICAL, applicants, holdout
from riskscore.errors import ExportVerificationError
from training.onnx.preprocess import RawPreprocessor


@pytest.fixture(scope="module")
def data():
    return holdout(3, rows=3000, train_rows=2000)


@pytest.fixture(scope="module")
def pre(data):
    return RawPreprocessor(FEATURES).fit(data[0])


def test_graph_equals_the_scikit_learn_steps_on_hostile_rows(pre, data):
    test = data[1].copy()
    test.loc[test.index[:50], "monthly_income"] = np.nan  # nullable numeric: median and indicator
    test.loc[test.index[50:100], "age"] = np.nan  # non-nullable: the median only
    test.loc[test.index[100:150], "housing"] = "castle"  # unseen: all zeros
    test.loc[test.index[150:200], "housing"] = None  # missing: its own column
    assert np.array_equal(pre.transform(test), pre.transform_native(test))


def test_columns_and_values_follow_the_matrix_contract(pre):
    row = applicants(dict(TYPICAL, monthly_income=np.nan, housing="castle", employment_type=None))
    matrix = pre.transform(row)[0]
    value = dict(zip([label for _, label in pre.columns_], matrix.tolist()))
    assert value["monthly_income"] == np.float32(pre.medians_["monthly_income"])
    assert value["monthly_income=missing"] == 1.0 and value["dependents=missing"] == 0.0
    assert [value[f"housing={c}"] for c in pre.categories_["housing"]] == [0.0] * len(pre.categories_["housing"])
    assert value["housing=missing"] == 0.0 and value["employment_type=missing"] == 1.0
    assert value["age"] == np.float32(TYPICAL["age"])


def test_fit_fails_when_the_graph_differs_from_the_steps(data, monkeypatch):
    original = RawPreprocessor._build_parts

    def wrong_median(self):
        parts = original(self)
        node = next(n for n in parts.nodes if n.name == "age__Imputer")
        next(a for a in node.attribute if a.name == "imputed_value_floats").floats[0] += 1.0
        return parts

    monkeypatch.setattr(RawPreprocessor, "_build_parts", wrong_median)
    rows = data[0].assign(age=np.where(np.arange(len(data[0])) % 10 == 0, np.nan, data[0]["age"]))
    with pytest.raises(ExportVerificationError, match="preprocessing graph differs .* on 200 of 2000 rows"):
        RawPreprocessor(FEATURES).fit(rows)
