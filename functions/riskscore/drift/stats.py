"""Population-stability statistics shared by training (the drift baseline) and serving (the
drift check): one implementation, numpy only (no pandas, no scipy), so both bin and compare
values the same way.

Bins follow `training/drift_baseline.py`'s convention: numeric ``edges`` are the inner edges
``e_1 < ... < e_k``; bin of x = number of edges <= x (``searchsorted(edges, x, "right")``);
categorical values outside the baseline's categories land in ``"__other__"``.

Besides PSI this module has the two p-values the drift check reports, in closed form so the
serving functions need no scipy: `ks_pvalue` (the asymptotic Kolmogorov distribution, equal
to ``scipy.stats.kstwobign.sf``) and `chi2_sf` (the regularized upper incomplete gamma
function, equal to ``scipy.stats.chi2.sf``); tests compare both with scipy.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from pydantic import Field, model_validator

from riskscore.contract.schema import StrictModel

__all__ = ["DriftSpec", "OTHER", "PSI_EPS", "PSI_SIGNIFICANT", "PSI_STABLE", "as_float", "auc_ks", "bin_counts",
           "bin_labels", "float_values",
           "category_proportions", "chi2_homogeneity", "chi2_sf", "ks_binned", "ks_pvalue", "missing_rate",
           "numeric_summary", "psi"]

OTHER = "__other__"          # categorical slot for values unseen in training
PSI_EPS = 1e-4               # floor for empty bins in `psi`
PSI_STABLE = 0.1             # default PSI warning threshold (DriftSpec.psi_warning)
PSI_SIGNIFICANT = 0.25       # default PSI alert threshold (DriftSpec.psi_alert)


def psi(expected: Sequence[float], actual: Sequence[float], eps: float = PSI_EPS) -> float:
    """Population stability index of `actual` proportions against `expected` ones.

    Both are proportions over the same bins (same length, non-negative, each summing to 1
    within 1e-6). Proportions below `eps` are raised to `eps` before
    ``sum((a - e) * ln(a / e))``, so empty bins give a finite value; bins where both are
    empty contribute 0. Raises ValueError on mismatched, empty, negative or non-normalised
    input (pass proportions, not counts).
    """
    e = np.asarray(expected, dtype=np.float64)
    a = np.asarray(actual, dtype=np.float64)
    if e.ndim != 1 or a.ndim != 1 or e.size == 0 or e.shape != a.shape:
        raise ValueError(f"psi needs two equally long, non-empty lists of proportions; "
                         f"got lengths {e.size} and {a.size}")
    if not (eps > 0):
        raise ValueError(f"eps must be positive, got {eps!r}")
    for name, p in (("expected", e), ("actual", a)):
        if not np.all(np.isfinite(p)) or np.any(p < 0):
            raise ValueError(f"psi: {name} proportions must be finite and non-negative")
        if abs(p.sum() - 1.0) > 1e-6:
            raise ValueError(f"psi: {name} proportions sum to {p.sum():.6g}, not 1")
    e = np.maximum(e, eps)
    a = np.maximum(a, eps)
    return float(np.sum((a - e) * np.log(a / e)))


def bin_counts(values: Any, edges: Sequence[float]) -> np.ndarray:
    """Share of the non-missing `values` in each of the ``len(edges) + 1`` frozen bins.

    `edges` are inner edges (see the module docstring): bin i is ``[edges[i-1], edges[i])``
    with ``-inf``/``+inf`` at the ends. NaN and None count as missing and are left out.
    Returns float64 proportions summing to 1, or all zeros when no value is present (the
    caller should then skip PSI for the feature). Infinite values fall in the outer bins.
    """
    x = as_float(values)
    x = x[~np.isnan(x)]
    e = np.asarray(edges, dtype=np.float64)
    counts = np.bincount(np.searchsorted(e, x, side="right"), minlength=e.size + 1).astype(np.float64)
    return counts / x.size if x.size else counts


def category_proportions(values: Any, categories: Sequence[str]) -> np.ndarray:
    """Share of the non-missing `values` in each of `categories`, in that order.

    Values are compared as strings (``str(v)``); None and NaN are missing and left out.
    Values not in `categories` go to the ``"__other__"`` slot, which must then be among
    the categories (ValueError otherwise). Returns all zeros when no value is present.
    """
    index = {c: i for i, c in enumerate(categories)}
    other = index.get(OTHER)
    counts = np.zeros(len(categories), dtype=np.float64)
    total = 0
    unseen: set[str] = set()
    for v in _as_object(values):
        if _is_missing(v):
            continue
        i = index.get(v if isinstance(v, str) else str(v), other)
        if i is None:
            unseen.add(str(v))
            continue
        counts[i] += 1
        total += 1
    if unseen:
        raise ValueError(f"values outside the categories and no {OTHER!r} slot: {sorted(unseen)[:5]}")
    return counts / total if total else counts


def missing_rate(values: Any) -> float:
    """Share of `values` that are None or NaN (0.0 for an empty input)."""
    arr = values if isinstance(values, np.ndarray) else np.asarray(values, dtype=object)
    if arr.size == 0:
        return 0.0
    if arr.dtype.kind in "fc":
        return float(np.isnan(arr).mean())
    if arr.dtype.kind in "iub":
        return 0.0
    return float(np.mean([_is_missing(v) for v in arr.ravel()]))


def numeric_summary(values: Any) -> dict:
    """rows, count (non-missing), missing_rate, mean, std (ddof=1; 0 for one value), min, max.

    Statistics are over non-missing values and None when there are none.
    """
    x = as_float(values)
    rows = int(x.size)
    x = x[~np.isnan(x)]
    n = int(x.size)
    out = {"rows": rows, "count": n, "missing_rate": (rows - n) / rows if rows else 0.0,
           "mean": None, "std": None, "min": None, "max": None}
    if n:
        out.update(mean=float(x.mean()), std=float(x.std(ddof=1)) if n > 1 else 0.0,
                   min=float(x.min()), max=float(x.max()))
    return out


def as_float(values: Any) -> np.ndarray:
    """1-D float64 view of `values`; None and NaN (and pandas NA) become NaN."""
    try:
        return np.asarray(values, dtype=np.float64).ravel()
    except (TypeError, ValueError):
        arr = np.asarray(values, dtype=object).ravel()
        return np.array([np.nan if _is_missing(v) else v for v in arr], dtype=np.float64)


def _as_object(values: Any) -> np.ndarray:
    return np.asarray(values, dtype=object).ravel()


def _is_missing(v: Any) -> bool:
    if v is None:
        return True
    try:
        return bool(v != v)  # NaN, and pandas' NA / NaT when they reach here
    except (TypeError, ValueError):
        return False


# --------------------------------------------------------------------------- thresholds


class DriftSpec(StrictModel):
    """The spec's `drift:` section (optional): thresholds of the drift check.

    A PSI below `psi_warning` is stable, up to `psi_alert` a warning, above it an alert
    (defaults 0.1 and 0.25, the usual reading of PSI). A window or model version with fewer
    than `min_rows` rows is `insufficient_data`: too few rows to tell drift from noise.
    """

    psi_warning: float = Field(PSI_STABLE, gt=0)
    psi_alert: float = Field(PSI_SIGNIFICANT, gt=0)
    min_rows: int = Field(500, ge=1)
    # Champion/challenger: a score below this is a decline (default: the lowest rating band's
    # upper edge); the comparison counts the decisions a challenger would change.
    cutoff_score: float | None = None

    @model_validator(mode="after")
    def _ordered(self) -> "DriftSpec":
        if self.psi_alert < self.psi_warning:
            raise ValueError(f"psi_alert ({self.psi_alert}) must not be below psi_warning ({self.psi_warning})")
        return self

    def status(self, value: float | None) -> str:
        """'stable', 'warning' or 'alert' for a PSI (None: 'stable', nothing to compare)."""
        if value is None or value < self.psi_warning:
            return "stable"
        return "warning" if value <= self.psi_alert else "alert"


# --------------------------------------------------------------------------- p-values


def ks_pvalue(d: float, n: int, m: int) -> float:
    """Asymptotic p-value of a two-sample Kolmogorov-Smirnov statistic `d` (sizes n and m).

    ``Q(sqrt(n m / (n + m)) d)`` with ``Q(l) = 2 sum_{j>=1} (-1)^(j-1) exp(-2 j^2 l^2)``, the
    Kolmogorov distribution's survival function (`scipy.stats.kstwobign.sf`).
    """
    if n <= 0 or m <= 0:
        return 1.0
    lam = math.sqrt(n * m / (n + m)) * float(d)
    if lam < 0.2:  # the series converges slowly here and Q is 1 to 15 digits
        return 1.0
    j = np.arange(1, 101, dtype=np.float64)
    q = 2.0 * np.sum((-1.0) ** (j - 1) * np.exp(-2.0 * j * j * lam * lam))
    return float(min(1.0, max(0.0, q)))


def chi2_sf(x: float, dof: int) -> float:
    """P(X > x) for a chi-square variable with `dof` degrees of freedom.

    The regularized upper incomplete gamma Q(dof/2, x/2): a power series below a + 1, a
    continued fraction (modified Lentz) above (Numerical Recipes' gammq).
    """
    if dof <= 0:
        raise ValueError(f"chi2_sf: dof must be positive, got {dof}")
    if x <= 0:
        return 1.0
    a, x = dof / 2.0, x / 2.0
    lead = a * math.log(x) - x - math.lgamma(a)
    if x < a + 1:
        term = total = 1.0 / a
        ap = a
        for _ in range(10_000):
            ap += 1
            term *= x / ap
            total += term
            if abs(term) < abs(total) * 1e-15:
                break
        return float(min(1.0, max(0.0, 1.0 - total * math.exp(lead))))
    tiny = 1e-300
    b = x + 1.0 - a
    c = 1.0 / tiny
    d = 1.0 / b
    h = d
    for i in range(1, 10_000):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-15:
            break
    return float(min(1.0, max(0.0, math.exp(lead) * h)))


def ks_binned(expected: Sequence[float], actual: Sequence[float]) -> float:
    """Kolmogorov-Smirnov distance between two distributions known on the same ordered bins:
    the largest gap between their cumulative shares at the bin edges (a lower bound of the
    distance between the unbinned distributions, as the baseline keeps only binned shares)."""
    e = np.cumsum(np.asarray(expected, dtype=np.float64))
    a = np.cumsum(np.asarray(actual, dtype=np.float64))
    return float(np.max(np.abs(e - a))) if e.size else 0.0


def chi2_homogeneity(expected_counts: Sequence[float], actual_counts: Sequence[float]) -> tuple[float, int]:
    """Pearson chi-square statistic and degrees of freedom of a 2 x k table (baseline counts
    against window counts); categories empty in both are dropped."""
    table = np.vstack([np.asarray(expected_counts, dtype=np.float64), np.asarray(actual_counts, dtype=np.float64)])
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2 or (table.sum(axis=1) == 0).any():
        return 0.0, 0
    fitted = table.sum(axis=1, keepdims=True) * table.sum(axis=0, keepdims=True) / table.sum()
    return float(np.sum((table - fitted) ** 2 / fitted)), int(table.shape[1] - 1)


def auc_ks(y: np.ndarray, p: np.ndarray) -> tuple[float, float]:
    """AUC (Mann-Whitney, ties at half) and KS = max(TPR - FPR) of scores `p` for labels `y`."""
    order = np.argsort(p, kind="mergesort")
    ps, ys = p[order], y[order]
    _, first, counts = np.unique(ps, return_index=True, return_counts=True)
    ranks = np.repeat(first + (counts + 1) / 2.0, counts)  # average 1-based rank of each tie group
    pos = float(ys.sum())
    neg = float(ys.size - pos)
    auc = (ranks[ys == 1].sum() - pos * (pos + 1) / 2) / (pos * neg)
    # KS over distinct thresholds t (flag p >= t): the last k = size - first rows of the sort.
    tpr = np.cumsum(ys[::-1])[ps.size - 1 - first] / pos
    fpr = np.cumsum(1 - ys[::-1])[ps.size - 1 - first] / neg
    return float(auc), float(np.max(np.abs(tpr - fpr)))


def bin_labels(edges: np.ndarray) -> list[str]:
    """Readable labels of the bins that `edges` bound (below the first, between, at or above the last)."""
    if not edges.size:
        return ["all"]
    fmt = [f"{v:.4g}" for v in edges]
    return [f"< {fmt[0]}"] + [f"{a} to < {b}" for a, b in zip(fmt, fmt[1:])] + [f"≥ {fmt[-1]}"]


def float_values(array) -> np.ndarray:
    """An Arrow numeric array as float64 with nulls as NaN."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if array.type != pa.float64():
        array = pc.cast(array, pa.float64())
    if array.null_count:
        array = pc.fill_null(array, np.nan)
    return array.to_numpy(zero_copy_only=False)
