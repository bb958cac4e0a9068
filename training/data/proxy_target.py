"""A proxy credit-risk label from behaviour, for tables with no default flag.

`python -m training proxy-target --transactions T --customer-id C --date D --amount A
--as-of DATE --out F [--clusters K]`: per customer, from the transactions up to `as_of`,
recency (days since the last one), frequency (how many) and monetary value (their total);
the three (log1p of frequency and monetary, which are heavily skewed) are standardised and
clustered by KMeans. The least engaged cluster (lowest mean of -recency + frequency +
monetary, standardised) is labelled high risk, 1; every other customer 0. The table (one row
per customer: id, recency_days, frequency, monetary, cluster, the label) goes to `F`, and
the rule, the cluster profiles and the label rate to `<F without suffix>.proxy_target.json`
beside it. Training on a table with that JSON beside it records in the manifest and the
model card that the target is a proxy and how it was made.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.preprocessing import StandardScaler

LABEL = "proxy_default"
SUFFIX = ".proxy_target.json"


def rfm(transactions: pd.DataFrame, customer_id: str, date: str, amount: str, as_of) -> pd.DataFrame:
    """recency_days, frequency, monetary per customer from the transactions on or before `as_of`."""
    for col in (customer_id, date, amount):
        if col not in transactions.columns:
            raise ValueError(f"column {col!r} is not in the transactions table (columns: "
                             f"{sorted(map(str, transactions.columns))[:20]})")
    as_of = pd.Timestamp(as_of)
    dates = pd.to_datetime(transactions[date], errors="coerce")
    amounts = pd.to_numeric(transactions[amount], errors="coerce")
    bad = int(dates.isna().sum() + amounts.isna().sum())
    if bad:
        raise ValueError(f"{int(dates.isna().sum())} rows have a missing or unreadable {date!r} and "
                         f"{int(amounts.isna().sum())} a missing or non-numeric {amount!r}")
    t = pd.DataFrame({"id": transactions[customer_id].astype(str), "date": dates, "amount": amounts})
    t = t[t["date"] <= as_of]
    if t.empty:
        raise ValueError(f"no transaction on or before as-of date {as_of.date()}")
    g = t.groupby("id", sort=True)
    out = pd.DataFrame({"recency_days": (as_of - g["date"].max()).dt.days.astype(np.int64),
                        "frequency": g.size().astype(np.int64), "monetary": g["amount"].sum()})
    out.index.name = customer_id
    return out.reset_index()


def proxy_target(transactions: pd.DataFrame, customer_id: str, date: str, amount: str, as_of,
                 k: int = 3, seed: int = 0) -> tuple[pd.DataFrame, dict]:
    """(one row per customer with RFM, cluster and the label; the report for the JSON)."""
    table = rfm(transactions, customer_id, date, amount, as_of)
    if len(table) < k:
        raise ValueError(f"{len(table)} customers cannot form {k} clusters")
    x = np.column_stack([table["recency_days"], np.log1p(table["frequency"]),
                         np.sign(table["monetary"]) * np.log1p(np.abs(table["monetary"]))])
    z = StandardScaler().fit_transform(x)
    km = KMeans(n_clusters=k, n_init=10, random_state=seed).fit(z)
    table["cluster"] = km.labels_.astype(np.int64)
    centres = km.cluster_centers_
    engagement = -centres[:, 0] + centres[:, 1] + centres[:, 2]
    risky = int(np.argmin(engagement))
    table[LABEL] = (table["cluster"] == risky).astype(np.int64)
    profiles = []
    for c in range(k):
        rows = table[table["cluster"] == c]
        profiles.append({"cluster": c, "customers": int(len(rows)), "share": float(len(rows) / len(table)),
                         "mean_recency_days": float(rows["recency_days"].mean()),
                         "mean_frequency": float(rows["frequency"].mean()),
                         "mean_monetary": float(rows["monetary"].mean()),
                         "engagement": float(engagement[c]), "label": int(c == risky)})
    report = {
        "kind": "proxy target", "label_column": LABEL, "customer_id": customer_id,
        "as_of": str(pd.Timestamp(as_of).date()), "clusters": k, "seed": seed,
        "transactions": int(len(transactions)), "customers": int(len(table)),
        "label_rate": float(table[LABEL].mean()), "high_risk_cluster": risky,
        "rule": (f"recency (days since the last transaction up to {pd.Timestamp(as_of).date()}), frequency "
                 "(transactions) and monetary value (their total) per customer; log1p of frequency and "
                 f"monetary, standardised, KMeans with k={k}; the least engaged cluster (lowest mean of "
                 "-recency + frequency + monetary, standardised) is high risk (1), every other customer 0. "
                 "Not an observed default: a behavioural proxy."),
        "profiles": profiles,
    }
    return table, report


def report_path(table_path: str | Path) -> Path:
    p = Path(table_path)
    return p.with_name(p.stem + SUFFIX)


def read_report(table_path: str) -> dict | None:
    """The proxy-target JSON beside a local table, if there is one."""
    if "://" in table_path or table_path.lstrip().upper().startswith("SELECT"):
        return None
    p = report_path(table_path)
    return json.loads(p.read_text()) if p.is_file() else None


def write(table: pd.DataFrame, report: dict, out: str | Path) -> Path:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".parquet":
        table.to_parquet(out, index=False)
    else:
        table.to_csv(out, index=False)
    path = report_path(out)
    path.write_text(json.dumps(report, indent=2))
    return path
