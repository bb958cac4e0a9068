"""Derived features: the expression grammar, its missing/zero semantics, and the compiled graph
taking raw columns only while answering exactly like the graph fitted on the derived inputs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from riskscore.contract.schema import FeatureSpec
from training.onnx.derived import DerivedSpec, add_derived, parse

FEATURES = [FeatureSpec(name="debt", type="numeric", nullable=True),
            FeatureSpec(name="income", type="numeric", nullable=True),
            FeatureSpec(name="housing", type="categorical")]
NAN = np.nan


def _values(expression: str, debt, income) -> np.ndarray:
    df = pd.DataFrame({"debt": debt, "income": income, "housing": ["own"] * len(debt)})
    return add_derived(df, [DerivedSpec(name="x", expression=expression)], FEATURES)["x"].to_numpy()


@pytest.mark.parametrize("expression, debt, income, expected", [
    ("debt / income", [1, 3, 1, NAN, 0], [2, 0, NAN, 1, 0], [0.5, NAN, NAN, NAN, NAN]),
    ("log1p(debt)", [0, np.e - 1, -1, -2, NAN], [1] * 5, [0, 1, NAN, NAN, NAN]),
    ("min(debt, income)", [1, 5, NAN], [2, 3, 1], [1, 3, NAN]),
    ("max(debt, income)", [1, 5, 1], [2, 3, NAN], [2, 5, NAN]),
    ("clip(debt, 0, 10)", [-5, 5, 50, NAN], [1] * 4, [0, 5, 10, NAN]),
    ("debt - income", [5, NAN], [2, 1], [3, NAN]),
    ("debt * income", [5, 1e30], [2, 1e30], [10, NAN]),          # overflow is missing
    ("min(debt / income, 5)", [1, 1], [0, 1], [NAN, 1]),           # no infinity slips through
    ("-debt + 2 * income", [1], [3], [5]),
])
def test_semantics(expression, debt, income, expected):
    got = _values(expression, debt, income)
    np.testing.assert_allclose(got, np.array(expected, dtype=np.float64), rtol=1e-6, equal_nan=True)


@pytest.mark.parametrize("expression, message", [
    ("debt / salary", "'salary' is not a numeric feature"),
    ("housing * 2", "'housing' is not a numeric feature"),
    ("exp(debt)", "unknown function"),
    ("min(debt)", "min takes 2 positional arguments, found 1"),
    ("clip(debt, 0, income)", "clip's bounds must be numbers"),
    ("debt ** 2", "operator Pow is not supported"),
    ("debt / (", "not a valid expression"),
    ("2 * 3", "uses no feature"),
    ("debt if income else 1", "IfExp is not supported"),
])
def test_bad_expression_names_feature_and_problem(expression, message):
    with pytest.raises(ValueError, match=rf"derived feature 'x' .*{message}"):
        parse(DerivedSpec(name="x", expression=expression), {"debt", "income"})
