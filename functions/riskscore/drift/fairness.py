"""Fairness evidence: approval rates, adverse impact ratios, AUC and calibration per protected group.

The one computation behind the model card's fairness section (training, on the test rows) and
the drift check's (scored or batch rows that carry the protected columns), numpy only.

- A spec declares `protected:` columns (`ProtectedColumn`). They are never model inputs:
  training reads them to evaluate only, and `score` never receives or logs them.
- Approval follows the spec's cut-off (`DecisionRule`: `approve_below_pd`, or
  `approve_from_rating`, that rating or better).
- Per group: rows, approval rate, adverse impact ratio (AIR: the group's approval rate over the
  most favoured group's; below 0.8 fails the four-fifths rule), and with outcomes the AUC, the
  observed default rate with its 95 % Wilson interval and the mean predicted PD (calibration).
- Groups of fewer than `MIN_GROUP_ROWS` rows are shown but neither chosen as the reference nor
  flagged: their rates are too noisy to mean anything.
"""

from __future__ import annotations

import math

import numpy as np

from riskscore.contract.protected import MISSING_GROUP, DecisionRule, ProtectedColumn
from riskscore.contract.schema import ScalingSpec
from riskscore.drift.stats import auc_ks

__all__ = ["FOUR_FIFTHS", "MIN_GROUP_ROWS", "FairnessAccumulator", "column_table", "fairness_report", "wilson"]

FOUR_FIFTHS = 0.8
MIN_GROUP_ROWS = 30


def wilson(k: int, n: int, z: float = 1.959964) -> tuple[float, float] | None:
    """The 95 % Wilson score interval of a proportion k/n (None for n = 0)."""
    if n == 0:
        return None
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def column_table(column: ProtectedColumn, groups: np.ndarray, approved: np.ndarray, pd_: np.ndarray,
                 y: np.ndarray | None = None) -> dict:
    """The fairness figures of one protected column over rows with a PD.

    `groups` (from `column.groups`), `approved` (bool), `pd_` (float, NaN rows are left out),
    `y` (0/1 outcomes, NaN where unknown; None: no outcomes).
    """
    keep = ~np.isnan(np.asarray(pd_, dtype=np.float64))
    groups, approved, pd_ = groups[keep], approved[keep], np.asarray(pd_, dtype=np.float64)[keep]
    y = None if y is None else np.asarray(y, dtype=np.float64)[keep]
    order = column.group_names() or sorted(set(groups.tolist()) - {MISSING_GROUP})
    names = [g for g in order + [MISSING_GROUP] if (groups == g).any()]
    total = int(groups.size)
    rows = []
    for g in names:
        m = groups == g
        n = int(m.sum())
        row = {"group": g, "rows": n, "share": n / total, "approved": int(approved[m].sum()),
               "approval_rate": float(approved[m].mean()), "mean_pd": float(pd_[m].mean()),
               "enough_rows": n >= MIN_GROUP_ROWS}
        if y is not None:
            known = m & ~np.isnan(y)
            k, d = int(known.sum()), int(y[known].sum()) if known.any() else 0
            row.update(labelled=k, defaults=d, observed_default_rate=d / k if k else None,
                       observed_interval=wilson(d, k), labelled_mean_pd=float(pd_[known].mean()) if k else None,
                       auc=auc_ks(y[known].astype(np.int8), pd_[known])[0] if 0 < d < k else None)
        rows.append(row)
    sized = [r for r in rows if r["enough_rows"]] or rows
    reference = max(sized, key=lambda r: r["approval_rate"]) if rows else None
    for r in rows:
        ref_rate = reference["approval_rate"]
        r["air"] = r["approval_rate"] / ref_rate if ref_rate > 0 else None
        r["four_fifths"] = ("too_few_rows" if not r["enough_rows"] else
                            None if r["air"] is None else "fails" if r["air"] < FOUR_FIFTHS else "passes")
    flagged = [r["group"] for r in rows if r["four_fifths"] == "fails"]
    airs = [r["air"] for r in rows if r["enough_rows"] and r["air"] is not None]
    return {"column": column.name, "description": column.description, "rows": total,
            "reference_group": reference["group"] if reference else None,
            "min_air": min(airs) if airs else None, "flagged_groups": flagged, "groups": rows}


def fairness_report(columns: list[ProtectedColumn], values: dict, rule: DecisionRule, scaling: ScalingSpec,
                    pd_: np.ndarray, score: np.ndarray, y: np.ndarray | None = None) -> dict:
    """The fairness figures of every protected column present in `values` ({name: raw values})."""
    groups = {c.name: c.groups(values[c.name]) for c in columns if c.name in values}
    return _report(columns, groups, rule, scaling, pd_, score, y)


def _report(columns, groups: dict, rule: DecisionRule, scaling: ScalingSpec, pd_, score, y) -> dict:
    approved = rule.approved(pd_, score, scaling)
    tables = [column_table(c, groups[c.name], approved, pd_, y) for c in columns if c.name in groups]
    return {"rule": rule.describe(), "four_fifths": FOUR_FIFTHS, "min_group_rows": MIN_GROUP_ROWS,
            "has_outcomes": y is not None, "columns": tables,
            "missing_columns": [c.name for c in columns if c.name not in groups],
            "flagged": [{"column": t["column"], "group": g} for t in tables for g in t["flagged_groups"]]}


class FairnessAccumulator:
    """Rows of a drift window, kept for `fairness_report`: per row the protected values, PD,
    score and outcome (about 20 bytes a row and column: labelled backtests keep the same)."""

    def __init__(self, columns: list[ProtectedColumn], rule: DecisionRule, scaling: ScalingSpec):
        self.columns, self.rule, self.scaling = columns, rule, scaling
        self.parts: list[tuple[dict, np.ndarray, np.ndarray, np.ndarray | None]] = []
        self.present: set[str] = set()

    def add(self, values: dict, pd_: np.ndarray, score: np.ndarray, y: np.ndarray | None) -> None:
        """`values`: {protected column: its values in this batch} (only the columns the source has)."""
        if values:
            self.present |= set(values)
            self.parts.append(({k: np.asarray(self.column(k).groups(v), dtype=object) for k, v in values.items()},
                               pd_, score, y))

    def column(self, name: str) -> ProtectedColumn:
        return next(c for c in self.columns if c.name == name)

    def result(self) -> dict | None:
        """The report over every row added, or None when no row carried a protected column."""
        if not self.parts:
            return None
        # Group names, not raw values, are kept: a column missing from a batch counts as missing.
        groups = {name: np.concatenate([p[0].get(name, np.full(p[1].size, MISSING_GROUP, dtype=object))
                                        for p in self.parts]) for name in sorted(self.present)}
        pd_ = np.concatenate([p[1] for p in self.parts])
        score = np.concatenate([p[2] for p in self.parts])
        labelled = any(p[3] is not None for p in self.parts)
        y = np.concatenate([p[3] if p[3] is not None else np.full(p[1].size, np.nan) for p in self.parts]) \
            if labelled else None
        return _report(self.columns, groups, self.rule, self.scaling, pd_, score, y)
