"""Variance inflation factors and the scorecard's collinearity pruning.

VIF_j = 1 / (1 - R²_j), R²_j from regressing column j on the others; computed here as the
diagonal of the inverse correlation matrix (the same number, one inversion). 1 means no overlap
with the other columns; 5-10 is the usual warning zone; a column that is an exact combination of
others has an infinite VIF (reported as None with `collinear: true` in JSON).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd


def vifs(X: np.ndarray) -> np.ndarray:
    """VIF of each column of `X` (rows x columns, no missing values); constant columns get NaN
    (they explain nothing and nothing explains them), exact combinations inf."""
    X = np.asarray(X, dtype=np.float64)
    k = X.shape[1]
    out = np.full(k, np.nan)
    varying = np.flatnonzero(X.std(axis=0) > 0)
    if len(varying) == 1:
        out[varying] = 1.0
    if len(varying) < 2:
        return out
    corr = np.corrcoef(X[:, varying], rowvar=False)
    if np.linalg.matrix_rank(corr, tol=1e-10) < len(varying):
        # Exact combinations: those with a (near) zero eigenvector loading are infinite; the
        # others come from the pseudo-inverse, as statsmodels' regression would give them.
        eigvals, eigvecs = np.linalg.eigh(corr)
        null = eigvecs[:, eigvals < 1e-10]
        inf = np.abs(null).max(axis=1) > 1e-6
        diag = np.diag(np.linalg.pinv(corr, hermitian=True)).copy()
        diag[inf] = np.inf
    else:
        diag = np.diag(np.linalg.inv(corr))
    out[varying] = np.maximum(diag, 1.0)
    return out


def numeric_vifs(df: pd.DataFrame, names: list[str]) -> list[dict]:
    """[{feature, vif, collinear}] for the numeric columns `names` of `df`, missing values filled
    with each column's median (as a model sees a typical value); sorted by VIF, highest first."""
    if not names:
        return []
    X = df[names].astype(np.float64)
    X = X.fillna(X.median()).fillna(0.0).to_numpy()
    values = vifs(X)
    rows = []
    for name, v in zip(names, values):
        finite = math.isfinite(v)
        rows.append({"feature": name, "vif": round(float(v), 3) if finite else None,
                     "collinear": bool(math.isinf(v))})
    return sorted(rows, key=lambda r: (-(math.inf if r["collinear"] else (r["vif"] or 0.0)), r["feature"]))


def collinear_drops(X: np.ndarray, names: list[str], strength: dict[str, float], max_vif: float,
                    strength_name: str = "IV") -> dict[str, str]:
    """{dropped feature: why} until every VIF of `X`'s columns is at most `max_vif`.

    Each round takes the column with the highest VIF and its most correlated partner and drops
    the weaker of the two by `strength` (ties: the later name), so the stronger signal stays.
    """
    X = np.asarray(X, dtype=np.float64)
    keep = list(range(len(names)))
    dropped: dict[str, str] = {}
    while len(keep) > 1:
        v = vifs(X[:, keep])
        v = np.where(np.isnan(v), 0.0, v)
        worst = int(np.argmax(v))
        if v[worst] <= max_vif:
            break
        corr = np.corrcoef(X[:, keep], rowvar=False)
        corr = np.nan_to_num(corr)
        np.fill_diagonal(corr, 0.0)
        partner = int(np.argmax(np.abs(corr[worst])))
        a, b = names[keep[worst]], names[keep[partner]]
        weaker, stronger = (a, b) if (strength.get(a, 0.0), a) < (strength.get(b, 0.0), b) else (b, a)
        shown = "inf" if math.isinf(v[worst]) else f"{v[worst]:.1f}"
        dropped[weaker] = (f"VIF {shown} above max_vif {max_vif:g}: collinear with {stronger!r} "
                           f"(correlation {corr[worst, partner]:+.2f}), whose {strength_name} "
                           f"{strength.get(stronger, 0.0):.4f} beats {strength.get(weaker, 0.0):.4f}")
        keep.remove(names.index(weaker))
    return dropped
