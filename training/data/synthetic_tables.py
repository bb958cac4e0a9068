"""Synthetic customers / loans / bureau tables, as a lender's systems hold them.

`generate_tables(customers, seed)` returns three DataFrames, deterministic in `seed`:

- customers: customer_id, birth_year, annual_income (~3 % missing), employment_years,
  home_ownership (RENT/OWN/MORTGAGE), region;
- loans: one application per customer: loan_id, customer_id, application_date (DATE),
  amount, term_months, purpose, interest_rate, defaulted (0/1, the target);
- bureau: 0 to 12 tradelines per customer (one-to-many): customer_id, account_type,
  credit_limit, balance, is_open (0/1), worst_delinquency_days (0, 30, 60, 90 or 120),
  months_on_book.

The default flag is drawn from a logistic model of what the multi-table spec's SQL derives
(loan-to-income, bureau utilisation, worst delinquency, thin files, age, tenure), so a model
trained through that SQL finds real signal; `training/specs/multi_table.yaml` is that SQL.
`write_tables(frames, folder, fmt)` writes `<name>.csv` or `<name>.parquet` per table.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

TABLES = ("customers", "loans", "bureau")
REGIONS = np.array(["north", "south", "east", "west", "capital"], dtype=object)
OWNERSHIP = np.array(["RENT", "OWN", "MORTGAGE"], dtype=object)
PURPOSES = np.array(["car", "home_improvement", "debt_consolidation", "education", "other"], dtype=object)
ACCOUNT_TYPES = np.array(["credit_card", "personal_loan", "mortgage", "auto_loan"], dtype=object)
DELINQUENCY_DAYS = np.array([0, 30, 60, 90, 120])
END_DATE = np.datetime64("2026-06-30", "D")


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def generate_tables(customers: int = 5_000, seed: int = 7) -> dict[str, pd.DataFrame]:
    """The three tables for `customers` applicants (see the module docstring)."""
    rng = np.random.default_rng(seed)
    n = customers
    ids = np.array([f"C{i:07d}" for i in range(1, n + 1)], dtype=object)
    age = rng.integers(21, 78, n)  # at the end date; applications run up to two years earlier
    income = np.round(np.exp(rng.normal(10.6, 0.5, n)), -2)
    employment_years = np.minimum(rng.gamma(2.0, 3.0, n), age - 18).round(1)
    ownership = OWNERSHIP[rng.choice(3, n, p=[0.45, 0.2, 0.35])]
    customers_df = pd.DataFrame({
        "customer_id": ids, "birth_year": 2026 - age,
        "annual_income": np.where(rng.random(n) < 0.03, np.nan, income),
        "employment_years": employment_years, "home_ownership": ownership,
        "region": REGIONS[rng.integers(0, len(REGIONS), n)]})

    # Bureau: a Poisson count of tradelines per customer (some thin files with none).
    counts = np.minimum(rng.poisson(np.clip(1.0 + (age - 19) / 12, 0.3, None)), 12)
    owner = np.repeat(np.arange(n), counts)
    m = len(owner)
    risk = rng.normal(0, 1, n)  # a customer's latent credit behaviour drives every tradeline
    limit = np.round(np.exp(rng.normal(8.3, 0.8, m)), -1)
    utilisation = np.clip(_sigmoid(rng.normal(-0.8 + 0.9 * risk[owner], 0.9)) * 1.1, 0, 1.3)
    delinquency_level = np.clip(np.floor(rng.exponential(0.35 + 0.35 * np.clip(risk[owner] + 1, 0, None))), 0, 4)
    bureau_df = pd.DataFrame({
        "customer_id": ids[owner],
        "account_type": ACCOUNT_TYPES[rng.integers(0, len(ACCOUNT_TYPES), m)],
        "credit_limit": limit, "balance": np.round(limit * utilisation, 2),
        "is_open": (rng.random(m) < 0.75).astype(np.int64),
        "worst_delinquency_days": DELINQUENCY_DAYS[delinquency_level.astype(int)],
        "months_on_book": rng.integers(1, 240, m)})

    # Loans: one application per customer, the target drawn from the derived features.
    amount = np.round(np.clip(income * rng.lognormal(-1.2, 0.6, n), 1_000, 150_000), -2)
    term = rng.choice([12, 24, 36, 48, 60], n)
    days = rng.integers(0, 730, n)
    dates = (END_DATE - days.astype("timedelta64[D]")).astype("datetime64[D]")
    sums = pd.DataFrame({"o": owner, "b": bureau_df["balance"], "l": limit,
                         "d": bureau_df["worst_delinquency_days"]}).groupby("o").agg(
        b=("b", "sum"), l=("l", "sum"), d=("d", "max")).reindex(np.arange(n))
    util = (sums["b"] / sums["l"]).to_numpy()
    worst = sums["d"].fillna(0).to_numpy()
    logit = (-4.6 + 3.0 * np.clip(amount / income, 0, 3) + 1.4 * np.nan_to_num(util, nan=0.3)
             + 0.022 * worst + 0.5 * (counts == 0) - 0.02 * (age - 40) - 0.04 * employment_years
             + 0.25 * (ownership == "RENT") + 0.3 * risk)
    defaulted = (rng.random(n) < _sigmoid(logit)).astype(np.int64)
    loans_df = pd.DataFrame({
        "loan_id": np.array([f"L{i:07d}" for i in range(1, n + 1)], dtype=object), "customer_id": ids,
        "application_date": pd.to_datetime(dates).date, "amount": amount, "term_months": term,
        "purpose": PURPOSES[rng.integers(0, len(PURPOSES), n)],
        "interest_rate": np.round(0.04 + 0.08 * _sigmoid(logit) + rng.normal(0, 0.01, n), 4),
        "defaulted": defaulted})
    order = np.argsort(dates, kind="stable")
    loans_df = loans_df.iloc[order].reset_index(drop=True)
    return {"customers": customers_df, "loans": loans_df, "bureau": bureau_df}


def write_tables(frames: dict[str, pd.DataFrame], folder: str | Path, fmt: str = "csv") -> list[Path]:
    """Write each frame to `<folder>/<name>.<fmt>` (csv or parquet); returns the paths."""
    if fmt not in ("csv", "parquet"):
        raise ValueError(f"format {fmt!r}: expected csv or parquet")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, df in frames.items():
        path = folder / f"{name}.{fmt}"
        if fmt == "csv":
            df.to_csv(path, index=False)
        else:
            df.to_parquet(path, index=False)
        paths.append(path)
    return paths
