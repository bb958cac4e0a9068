"""Synthetic credit-bureau applicant table, modelled on Kaggle "Give Me Some Credit".

The real data cannot ship with the repo, so training, tests and benchmarks use this
generator instead. Every row carries the true default probability (`true_pd`) that
drew its `default` flag, so tests can compare a model against the oracle.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

END_DATE = np.datetime64("2026-06-30", "D")
MONTHS = 48
START_DATE = (END_DATE.astype("datetime64[M]") - (MONTHS - 1)).astype("datetime64[D]")
TARGET_DEFAULT_RATE = 0.07
MACRO_PERIOD_MONTHS = 24
MACRO_AMPLITUDE = 0.32  # logit scale; monthly default rate swings roughly 5% to 9%

EMPLOYMENT = np.array(["salaried", "self_employed", "unemployed", "retired", "student"], dtype=object)
HOUSING = np.array(["own", "mortgage", "rent", "other"], dtype=object)
PURPOSE = np.array(
    ["debt_consolidation", "credit_card", "home_improvement", "car", "education", "business", "other"],
    dtype=object,
)

# Log-odds effects on PD, aligned with the arrays above; the last EMPLOYMENT slot is "missing".
PD_EMPLOYMENT = np.array([0.0, 0.15, 0.65, -0.2, 0.35, 0.2])
PD_HOUSING = np.array([-0.3, -0.15, 0.15, 0.1])
PD_PURPOSE = np.array([0.15, 0.1, -0.15, -0.1, 0.2, 0.35, 0.0])
# Log-odds effects on the chance that a default lands in the high-loss LGD mode.
LGD_HOUSING = np.array([-0.9, -0.7, 0.3, 0.2])
LGD_PURPOSE = np.array([0.0, 0.2, -0.3, -0.6, 0.5, 0.7, 0.0])

COLUMNS = [
    "applicant_id", "application_date", "revolving_utilization", "age",
    "late_30_59", "late_60_89", "late_90_plus", "debt_ratio", "monthly_income",
    "open_credit_lines", "real_estate_loans", "dependents", "housing",
    "employment_type", "loan_purpose", "loan_amount", "default", "lgd", "true_pd",
]


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _draw_category(rng: np.random.Generator, logits: np.ndarray) -> np.ndarray:
    """One category index per row from row-wise logits of shape (n, k)."""
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    cum = np.cumsum(p / p.sum(axis=1, keepdims=True), axis=1)
    idx = (rng.random((len(logits), 1)) > cum).sum(axis=1)
    return np.minimum(idx, logits.shape[1] - 1)  # guards against cum[-1] rounding below 1


def _calibrate_intercept(logit: np.ndarray, target: float) -> float:
    """Bisection so the sample's mean PD hits the target; deterministic, no RNG."""
    lo, hi = -15.0, 15.0
    for _ in range(60):
        mid = (lo + hi) / 2
        if _sigmoid(logit + mid).mean() < target:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def generate(rows: int, seed: int) -> pd.DataFrame:
    """Generate `rows` synthetic loan applicants, deterministically from `seed`.

    Columns, in order (float64 unless noted; counts are integer-valued floats, as in
    the Kaggle data): applicant_id (str "A0000001", unique, in date order),
    application_date (datetime64[us] at midnight, uniform over the 48 months ending
    2026-06-30), revolving_utilization [0, 1.5], age 18-95, late_30_59, late_60_89,
    late_90_plus (0-20), debt_ratio [0, 5], monthly_income (>0, ~20% NaN),
    open_credit_lines 0-40, real_estate_loans 0-10, dependents 0-8 (~2.5% NaN),
    housing (str), employment_type (str, ~2% missing), loan_purpose (str),
    loan_amount (500-100000, the exposure at default), default (int64 0/1),
    lgd ([0, 1] where default == 1, NaN otherwise) and true_pd (the probability that
    drew `default`; an oracle for tests, never a model feature).

    PD is logistic in the features plus a 24-month macro cycle by application month,
    with the intercept calibrated so the sample default rate is about 7%. The same
    (rows, seed) always returns an identical frame; only numpy's default_rng(seed) is
    used. Rows are sorted by application_date.
    """
    if rows < 1:
        raise ValueError("rows must be positive")
    rng = np.random.default_rng(seed)
    n = rows

    days = rng.integers(0, (END_DATE - START_DATE).astype(int) + 1, n)
    days.sort()  # chronological rows, so ids follow application order
    dates = START_DATE + days
    month = (dates.astype("datetime64[M]") - START_DATE.astype("datetime64[M]")).astype(int)

    age = np.clip(np.round(rng.normal(51.0, 15.0, n)), 18, 95)

    emp_logits = np.column_stack([  # EMPLOYMENT order: students young, retirees old
        np.zeros(n),
        np.full(n, -1.7),
        np.full(n, -2.6),
        0.3 * (age - 64),
        -0.6 * (age - 22) - 0.5,
    ])
    emp = _draw_category(rng, emp_logits)

    # Latent income exists for everyone; the bureau just fails to report ~20% of it.
    log_income = (
        np.log(6200)
        - 0.0006 * (age - 50) ** 2  # earnings peak mid-career
        + np.array([0.0, 0.1, -0.9, -0.3, -1.1])[emp]  # in EMPLOYMENT order
        + rng.normal(0.0, 0.6, n)
    )
    income = np.clip(np.exp(log_income), 300, 100_000)
    inc_dev = np.log(income / 5000)

    # Unobserved financial stress: the common cause behind utilization, lateness and debt.
    stress = rng.normal(0.0, 1.0, n) - 0.25 * inc_dev

    util = rng.beta(0.55 * np.exp(0.35 * stress), 1.3 * np.exp(-0.35 * stress))
    util[rng.random(n) < 0.05] = 0.0  # unused cards
    over = rng.random(n) < _sigmoid(-4.1 + 0.9 * stress)
    util[over] = 1.0 + 0.5 * rng.beta(1.0, 3.0, over.sum())

    # Shared gamma frailty makes the three late counts correlated and heavy-tailed.
    frailty = rng.gamma(0.35, 1 / 0.35, n) * np.exp(0.7 * stress - 0.25)
    late_30 = np.minimum(rng.poisson(0.22 * frailty), 20).astype(float)
    late_60 = np.minimum(rng.poisson(0.06 * frailty), 20).astype(float)
    late_90 = np.minimum(rng.poisson(0.07 * frailty * np.exp(0.3 * stress)), 20).astype(float)

    debt_ratio = np.minimum(np.exp(np.log(0.3) + 0.25 * stress + 0.6 * rng.normal(0.0, 1.0, n)), 5.0)

    housing = _draw_category(rng, np.column_stack([
        -0.9 + 0.06 * (age - 45) + 0.3 * inc_dev,
        0.4 - 0.002 * (age - 45) ** 2 + 0.7 * inc_dev,
        0.3 - 0.04 * (age - 45) - 0.4 * inc_dev,
        -1.8 - 0.06 * (age - 45),
    ]))

    dependents = np.minimum(rng.poisson(1.2 * np.exp(-(((age - 40) / 14) ** 2)) + 0.1), 8).astype(float)
    mu_lines = (6.0 + 4.0 * np.exp(-(((age - 50) / 20) ** 2))) * np.exp(0.15 * inc_dev)
    open_lines = np.minimum(rng.negative_binomial(3.5, 3.5 / (3.5 + mu_lines)), 40).astype(float)
    real_estate = np.where(
        housing == 1,
        1 + rng.poisson(0.4 + 0.2 * np.maximum(inc_dev, 0), n),
        rng.poisson(np.where(housing == 0, 0.5, 0.15)),
    )
    real_estate = np.minimum(real_estate, 10).astype(float)

    is_home = housing <= 1
    purpose = _draw_category(rng, np.column_stack([
        0.6 + 1.2 * util,
        0.2 + 0.8 * util,
        -1.0 + 1.2 * is_home,
        np.full(n, 0.0),
        -1.5 + 2.5 * (emp == 4) - 0.05 * np.maximum(age - 30, 0),
        -1.8 + 1.8 * (emp == 1),
        np.full(n, -0.5),
    ]))
    purpose_size = np.array([0.2, -0.3, 0.3, 0.1, 0.0, 0.5, -0.4])
    loan_amount = np.clip(
        np.exp(np.log(12_000) + 0.5 * inc_dev + purpose_size[purpose] - 0.03 + rng.normal(0.0, 0.55, n)),
        500, 100_000,
    )

    income_missing = rng.random(n) < 0.20
    dependents_missing = rng.random(n) < 0.025
    emp_missing = rng.random(n) < 0.02
    emp_code = np.where(emp_missing, 5, emp)

    # True PD: uses latent (pre-masking) income and dependents; reporting gaps add a little risk.
    logit = (
        2.4 * np.tanh(1.6 * util) + 0.5 * (util > 1)  # saturates, except over-limit
        + 0.55 * np.log1p(late_30) + 0.75 * np.log1p(late_60) + 1.1 * np.log1p(late_90)
        + 0.5 * np.log1p(debt_ratio)
        + 0.08 * dependents
        - 0.9 * np.tanh((age - 40) / 22)
        - 0.35 * inc_dev + 0.15 * income_missing
        + 0.3 * (open_lines <= 2) + 0.02 * np.maximum(open_lines - 12, 0)
        + PD_EMPLOYMENT[emp_code] + PD_HOUSING[housing] + PD_PURPOSE[purpose]
        + 0.1 * np.log(loan_amount / 12_000)
        + 0.35 * stress  # distress the bureau never sees
        + MACRO_AMPLITUDE * np.sin(2 * np.pi * month / MACRO_PERIOD_MONTHS)
    )
    true_pd = np.clip(_sigmoid(logit + _calibrate_intercept(logit, TARGET_DEFAULT_RATE)), 1e-6, 1 - 1e-6)
    default = (rng.random(n) < true_pd).astype(np.int64)

    # LGD: a cure-or-write-off mixture; collateral and income pull toward recovery.
    p_high_loss = _sigmoid(
        0.3 + LGD_HOUSING[housing] + LGD_PURPOSE[purpose]
        - 0.5 * inc_dev + 0.6 * np.log(loan_amount / 12_000)
    )
    lgd = np.where(rng.random(n) < p_high_loss, rng.beta(4.0, 0.8, n), rng.beta(0.6, 4.0, n))
    lgd = np.where(default == 1, lgd, np.nan)

    ids = np.char.add("A", np.char.zfill(np.arange(1, n + 1).astype(str), 7))
    frame = pd.DataFrame({
        "applicant_id": ids.astype(object),
        "application_date": dates.astype("datetime64[us]"),
        "revolving_utilization": util,
        "age": age,
        "late_30_59": late_30,
        "late_60_89": late_60,
        "late_90_plus": late_90,
        "debt_ratio": debt_ratio,
        "monthly_income": np.where(income_missing, np.nan, np.round(income)),
        "open_credit_lines": open_lines,
        "real_estate_loans": real_estate,
        "dependents": np.where(dependents_missing, np.nan, dependents),
        "housing": HOUSING[housing],
        "employment_type": np.where(emp_missing, None, EMPLOYMENT[emp]),
        "loan_purpose": PURPOSE[purpose],
        "loan_amount": np.round(loan_amount, 2),
        "default": default,
        "lgd": lgd,
        "true_pd": true_pd,
    })
    return frame[COLUMNS]
