import numpy as np
import pandas as pd
import pytest
from scipy.stats import rankdata

from training.data.synthetic import generate

ROWS = 50_000

EXPECTED_DTYPES = [
    ("applicant_id", "string"),
    ("application_date", "datetime64[us]"),
    ("revolving_utilization", "float64"),
    ("age", "float64"),
    ("late_30_59", "float64"),
    ("late_60_89", "float64"),
    ("late_90_plus", "float64"),
    ("debt_ratio", "float64"),
    ("monthly_income", "float64"),
    ("open_credit_lines", "float64"),
    ("real_estate_loans", "float64"),
    ("dependents", "float64"),
    ("housing", "string"),
    ("employment_type", "string"),
    ("loan_purpose", "string"),
    ("loan_amount", "float64"),
    ("default", "int64"),
    ("lgd", "float64"),
    ("true_pd", "float64"),
]

# (column, lower, upper, integer-valued)
BOUNDS = [
    ("revolving_utilization", 0.0, 1.5, False),
    ("age", 18, 95, True),
    ("late_30_59", 0, 20, True),
    ("late_60_89", 0, 20, True),
    ("late_90_plus", 0, 20, True),
    ("debt_ratio", 0.0, 5.0, False),
    ("open_credit_lines", 0, 40, True),
    ("real_estate_loans", 0, 10, True),
    ("dependents", 0, 8, True),
    ("loan_amount", 500, 100_000, False),
    ("default", 0, 1, True),
]

CATEGORIES = [
    ("housing", {"own", "mortgage", "rent", "other"}),
    ("employment_type", {"salaried", "self_employed", "unemployed", "retired", "student"}),
    ("loan_purpose", {"debt_consolidation", "credit_card", "home_improvement", "car",
                      "education", "business", "other"}),
]

# (column, lower, upper): open interval for the share of missing values
MISSING_SHARES = [
    ("monthly_income", 0.17, 0.23),
    ("dependents", 0.01, 0.05),
    ("employment_type", 0.01, 0.03),
]


def auc(y: np.ndarray, score: np.ndarray) -> float:
    """ROC-AUC via the Mann-Whitney rank-sum statistic (ties get average ranks)."""
    ranks = rankdata(score)
    pos = int(y.sum())
    neg = len(y) - pos
    return (ranks[y == 1].sum() - pos * (pos + 1) / 2) / (pos * neg)


@pytest.fixture(scope="module")
def df() -> pd.DataFrame:
    return generate(ROWS, seed=7)


@pytest.fixture(scope="module")
def monthly_default_rate(df) -> pd.Series:
    return df.groupby(df["application_date"].dt.to_period("M"))["default"].mean()


def test_columns_in_order(df):
    assert list(df.columns) == [name for name, _ in EXPECTED_DTYPES]
    assert len(df) == ROWS


@pytest.mark.parametrize("column,dtype", EXPECTED_DTYPES)
def test_dtype(df, column, dtype):
    if dtype == "string":
        assert pd.api.types.is_string_dtype(df[column])
    else:
        assert df[column].dtype == np.dtype(dtype)


def test_same_seed_is_identical():
    pd.testing.assert_frame_equal(generate(2_000, seed=3), generate(2_000, seed=3))


def test_different_seed_differs():
    a, b = generate(2_000, seed=3), generate(2_000, seed=4)
    assert not a.equals(b)
    assert not np.allclose(a["true_pd"], b["true_pd"])


def test_default_rate(df):
    assert 0.06 <= df["default"].mean() <= 0.08


@pytest.mark.parametrize("column,lower,upper", MISSING_SHARES)
def test_missing_share(df, column, lower, upper):
    assert lower < df[column].isna().mean() < upper


@pytest.mark.parametrize("column,lower,upper,integral", BOUNDS)
def test_bounds(df, column, lower, upper, integral):
    values = df[column].dropna()
    assert values.min() >= lower
    assert values.max() <= upper
    if integral:
        assert (values == np.round(values)).all()


def test_monthly_income_positive_with_median_near_5000(df):
    income = df["monthly_income"].dropna()
    assert (income > 0).all()
    assert 4_000 <= income.median() <= 6_000


def test_true_pd_strictly_inside_unit_interval(df):
    assert df["true_pd"].notna().all()
    assert ((df["true_pd"] > 0) & (df["true_pd"] < 1)).all()


@pytest.mark.parametrize("column,allowed", CATEGORIES)
def test_categories(df, column, allowed):
    assert set(df[column].dropna().unique()) == allowed


def test_applicant_ids_unique_and_formatted(df):
    ids = df["applicant_id"]
    assert ids.is_unique
    assert ids.str.fullmatch(r"A\d{7}").all()


def test_lgd_present_only_for_defaults_and_bimodal(df):
    defaulted = df["default"] == 1
    assert df.loc[~defaulted, "lgd"].isna().all()
    lgd = df.loc[defaulted, "lgd"]
    assert lgd.notna().all()
    assert lgd.between(0, 1).all()
    assert (lgd < 0.2).mean() >= 0.20
    assert (lgd > 0.8).mean() >= 0.20


def test_dates_are_days_spanning_at_least_36_months(df):
    dates = df["application_date"]
    assert (dates == dates.dt.normalize()).all()
    assert dates.max() <= pd.Timestamp("2026-06-30")
    span = dates.max().to_period("M").ordinal - dates.min().to_period("M").ordinal
    assert span >= 36


def test_monthly_default_rate_is_cyclical(monthly_default_rate):
    assert monthly_default_rate.max() - monthly_default_rate.min() >= 0.02


def test_oracle_auc_is_bureau_like(df):
    assert 0.78 <= auc(df["default"].to_numpy(), df["true_pd"].to_numpy()) <= 0.90


def test_late_counts_are_correlated(df):
    corr = df[["late_30_59", "late_60_89", "late_90_plus"]].corr()
    assert (corr.to_numpy()[np.triu_indices(3, k=1)] > 0.2).all()
