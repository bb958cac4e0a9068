"""DeLong's paired test of two AUCs measured on the same rows.

DeLong, DeLong & Clarke-Pearson (1988), in the fast midrank form of Sun & Xu (2014): each
model's AUC splits into per-positive and per-negative structural components, whose
covariances give the variance of the AUC difference. Unlike a fixed tolerance, the test knows
how many rows (and how correlated the two models' scores) stand behind a gap.
"""

from __future__ import annotations

import math

import numpy as np


def _midranks(x: np.ndarray) -> np.ndarray:
    """1-based ranks of `x`, ties sharing their mean rank."""
    order = np.argsort(x, kind="mergesort")
    sorted_x = x[order]
    ranks = np.empty(len(x))
    i = 0
    while i < len(x):
        j = i
        while j < len(x) and sorted_x[j] == sorted_x[i]:
            j += 1
        ranks[order[i:j]] = 0.5 * (i + j - 1) + 1
        i = j
    return ranks


def delong_covariance(y, scores: list) -> tuple[np.ndarray, np.ndarray]:
    """(AUC of each score vector, their DeLong covariance matrix), all on the rows of `y`."""
    y = np.asarray(y).astype(bool)
    s = np.asarray(scores, dtype=np.float64)
    pos, neg = s[:, y], s[:, ~y]
    m, n = pos.shape[1], neg.shape[1]
    if m < 2 or n < 2:
        raise ValueError(f"DeLong's test needs at least two rows of each class; found {m} positive, {n} negative")
    tx = np.array([_midranks(p) for p in pos])
    ty = np.array([_midranks(q) for q in neg])
    tz = np.array([_midranks(np.concatenate([p, q])) for p, q in zip(pos, neg)])
    aucs = (tz[:, :m].sum(axis=1) / m - (m + 1) / 2) / n
    v01 = (tz[:, :m] - tx) / n        # per positive: share of negatives it outranks
    v10 = 1.0 - (tz[:, m:] - ty) / m  # per negative: share of positives outranking it
    cov = np.atleast_2d(np.cov(v01)) / m + np.atleast_2d(np.cov(v10)) / n
    return aucs, cov


def delong_test(y, a, b) -> dict:
    """Two-sided paired test of AUC(a) = AUC(b) on the same rows."""
    aucs, cov = delong_covariance(y, [a, b])
    var = float(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
    diff = float(aucs[0] - aucs[1])
    if var <= 0:  # identical rankings: no difference to test
        return {"auc_a": float(aucs[0]), "auc_b": float(aucs[1]), "diff": diff, "se": 0.0, "z": 0.0,
                "p_value": 1.0}
    z = diff / math.sqrt(var)
    return {"auc_a": float(aucs[0]), "auc_b": float(aucs[1]), "diff": diff, "se": math.sqrt(var), "z": z,
            "p_value": math.erfc(abs(z) / math.sqrt(2))}
