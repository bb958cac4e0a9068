"""Columns of the conventional pipeline: the spec's 13 features, written out by hand as a
typical service would. `train_alternative` checks them against the spec before training."""

from __future__ import annotations

import numpy as np
import pandas as pd

NUMERIC = [
    "revolving_utilization", "age", "late_30_59", "late_60_89", "late_90_plus", "debt_ratio",
    "monthly_income", "open_credit_lines", "real_estate_loans", "dependents",
]
CATEGORICAL = ["housing", "employment_type", "loan_purpose"]
FEATURES = NUMERIC + CATEGORICAL


def model_frame(df: pd.DataFrame) -> pd.DataFrame:
    """The feature columns with the dtypes the pipeline expects: float64 numeric, object
    categorical with NaN for missing (SimpleImputer does not see None, nor a one-row column
    that pandas inferred as float because its only value is missing)."""
    out = df.reindex(columns=FEATURES).copy()
    out[NUMERIC] = out[NUMERIC].astype(np.float64)
    for col in CATEGORICAL:
        out[col] = [np.nan if v is None or v != v else str(v) for v in out[col]]
        out[col] = out[col].astype(object)
    return out
