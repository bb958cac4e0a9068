"""Proxy targets from behaviour: RFM per customer, KMeans, the least engaged cluster labelled 1,
the rule and profiles in a JSON beside the table."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from training.data.proxy_target import LABEL, proxy_target, read_report, rfm, write


def _transactions(seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for c in range(120):
        # three kinds: dormant (a third: a transaction or two, long ago), occasional, engaged
        kind = c % 3
        n = (rng.integers(1, 3), rng.integers(6, 10), rng.integers(30, 40))[kind]
        days = (rng.integers(150, 300), rng.integers(30, 60), rng.integers(0, 10))[kind]
        last = pd.Timestamp("2026-06-30") - pd.Timedelta(days=int(days))
        for i in range(n):
            rows.append({"cust": f"c{c}", "when": last - pd.Timedelta(days=int(i * 3)),
                         "amt": float(rng.gamma(2, (10, 30, 50)[kind]))})
    rows.append({"cust": "c0", "when": pd.Timestamp("2026-08-01"), "amt": 1e6})  # after as-of: ignored
    return pd.DataFrame(rows)


def test_rfm_counts_only_up_to_as_of():
    t = pd.DataFrame({"cust": ["a", "a", "b", "a"], "when": ["2026-01-01", "2026-01-11", "2026-01-05", "2026-03-01"],
                      "amt": [10, 5, 7, 100]})
    got = rfm(t, "cust", "when", "amt", "2026-01-31").set_index("cust")
    assert got.loc["a"].tolist() == [20, 2, 15] and got.loc["b"].tolist() == [26, 1, 7]


def test_least_engaged_cluster_is_high_risk(tmp_path):
    table, report = proxy_target(_transactions(), "cust", "when", "amt", "2026-06-30", k=3)
    dormant = table["cust"].str[1:].astype(int) % 3 == 0
    assert (table.loc[dormant, LABEL] == 1).all() and (table.loc[~dormant, LABEL] == 0).all()
    assert report["label_rate"] == pytest.approx(1 / 3)
    risky = [p for p in report["profiles"] if p["label"] == 1]
    assert len(risky) == 1 and risky[0]["mean_recency_days"] > 100
    assert "Not an observed default" in report["rule"]
    out = write(table, report, tmp_path / "labels.csv")
    assert out.name == "labels.proxy_target.json"
    assert json.loads(out.read_text())["high_risk_cluster"] == report["high_risk_cluster"]
    assert read_report(str(tmp_path / "labels.csv"))["label_column"] == LABEL


@pytest.mark.parametrize("change, message", [
    (lambda t: t.drop(columns="amt"), "column 'amt' is not in the transactions table"),
    (lambda t: t.assign(amt=t["amt"].astype(object).where(t.index != 3, "n/a")), "1 a missing or non-numeric 'amt'"),
])
def test_bad_transactions_are_named(change, message):
    with pytest.raises(ValueError, match=message):
        proxy_target(change(_transactions()), "cust", "when", "amt", "2026-06-30")
