"""Population-stability baseline for the model's inputs and outputs, and PSI.

The shared, numpy-only statistics (`psi`, `psi_level`, `bin_counts`,
`category_proportions`, `missing_rate`, `numeric_summary`) live in `riskscore.drift.stats`,
which the drift check (`riskscore.drift.check`) uses too: one implementation, so the check and the
baseline bin values the same way. They are re-exported here. This module adds the
training-time part: `drift_baseline(df, features, extra_numeric)` freezes bin edges and
reference proportions from the training data into a JSON-safe dict (pandas imported lazily).

Numeric bins. A feature's ``edges`` are the *inner* edges ``e_1 < e_2 < ... < e_k``
(strictly increasing, finite); ``-inf`` and ``+inf`` are implied at the ends, giving
``k + 1`` bins, each closed on the left and open on the right:
``(-inf, e_1), [e_1, e_2), ..., [e_k, +inf)``. A value ``x`` falls in bin
``searchsorted(edges, x, side="right")``, i.e. the number of edges ``<= x``. Edges are
the training deciles (``bins`` quantiles, inverted-CDF so they are observed values),
deduplicated when values repeat heavily: a count column with 80% zeros gets a handful of
edges, not nine, and a heavily repeated value keeps a bin of its own (see
`quantile_edges`). When the lowest edge is the training minimum, the first bin is empty in
training; it then catches values below anything seen in training. ``proportions`` are shares of the *non-missing* values in each bin (they
sum to 1); the missing share is kept apart as ``missing_rate``.

Categorical. ``categories`` lists the training categories (declared ones first, when the
spec declares them) and ends with the ``"__other__"`` slot, whose training proportion is 0:
at check time values not in the list land there. Proportions are over non-missing values.

PSI = sum over bins of (actual - expected) * ln(actual / expected), with proportions below
`eps` raised to `eps` (empty-bin smoothing). Reading: < 0.1 stable, 0.1 to 0.25 moderate
shift, > 0.25 significant shift.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover - typing only; serving must not need pandas
    import pandas as pd

    from riskscore.contract.schema import FeatureSpec

# The shared statistics live in the serving package (riskscore.drift.stats), so the drift
# check bins and compares exactly as the baseline was built; re-exported here for training.
from riskscore.drift.stats import (  # noqa: E402,F401 - re-exported
    OTHER,
    PSI_EPS,
    PSI_SIGNIFICANT,
    PSI_STABLE,
    bin_counts,
    category_proportions,
    missing_rate,
    numeric_summary,
    as_float,
    psi,
)


# =======================================================================================
# Training-time baseline (pandas imported lazily)
# =======================================================================================

BASELINE_VERSION = 1


def quantile_edges(values: Any, bins: int = 10) -> list[float]:
    """Inner edges of `bins` quantile bins of the non-missing values, deduplicated.

    The ``j / bins`` quantiles (j = 1..bins-1, inverted-CDF, so each edge is an observed
    value) with repeats removed. A value that several quantiles land on is a heavy atom
    (say 0 for a count where 85% of rows are 0); the next observed value above it is added
    as an edge too, so the atom gets a bin of its own instead of sharing one with the whole
    tail above it. Strictly increasing, finite, at most ``bins - 1`` edges; empty when no
    value is present.
    """
    x = as_float(values)
    x = x[~np.isnan(x)]
    if x.size == 0:
        return []
    if not np.all(np.isfinite(x)):
        raise ValueError("quantile_edges: values must be finite")
    qs = np.arange(1, bins) / bins
    atoms, hits = np.unique(np.quantile(x, qs, method="inverted_cdf"), return_counts=True)
    edges = set(atoms.tolist())
    heavy = atoms[hits > 1]
    if heavy.size:
        distinct = np.unique(x)
        after = np.searchsorted(distinct, heavy, side="right")
        edges.update(distinct[after[after < distinct.size]].tolist())
    return [float(v) for v in sorted(edges)]


def drift_baseline(
    df: "pd.DataFrame",
    features: "list[FeatureSpec]",
    extra_numeric: Mapping[str, np.ndarray] | None = None,
    bins: int = 10,
) -> dict:
    """Frozen bins and reference distributions for a later PSI / drift check.

    `features` are FeatureSpec-like (``name``, ``type``, optional ``categories``); each must
    be a column of `df`. Numeric columns must be numeric (None/NaN allowed as missing) and
    finite; categorical values are compared as strings, NaN/None missing. `extra_numeric`
    maps names to 1-D arrays of model outputs (e.g. ``{"pd": ..., "score": ...}``, of any
    length, typically scored on the test split) that are profiled like numeric features.

    Returns (JSON-safe: no NaN, no infinities)::

        {"version": 1, "rows": len(df), "bins": bins,
         "edges_convention": "...", "psi": {"eps", "stable_below", "significant_above"},
         "features": {name: entry}, "outputs": {name: entry}}

    numeric entry: ``{"type": "numeric", "edges": [...inner edges...], "proportions":
    [len(edges) + 1 shares of non-missing rows], "rows", "count", "missing_rate", "mean",
    "std", "min", "max"}``; with no non-missing value ``edges`` is [] and ``proportions``
    and the statistics are None.
    categorical entry: ``{"type": "categorical", "categories": [..., "__other__"],
    "proportions": [... , 0.0], "rows", "count", "missing_rate"}``; ``proportions`` is None
    when every value is missing.
    Bin with `bin_counts` / `category_proportions` and compare with `psi` at check time.
    """
    import pandas as pd

    if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)) or bins < 2:
        raise ValueError(f"bins must be an integer >= 2, got {bins!r}")
    missing = [f.name for f in features if f.name not in df.columns]
    if missing:
        raise ValueError(f"features missing from the data: {missing}")

    out_features: dict[str, dict] = {}
    for f in features:
        col = df[f.name]
        if f.type == "numeric":
            try:
                num = pd.to_numeric(col, errors="raise")
                values = pd.Series(num).astype("float64").to_numpy(dtype=np.float64, na_value=np.nan)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"feature {f.name!r} is numeric but holds non-numbers: {exc}") from None
            out_features[f.name] = _numeric_entry(f.name, values, bins)
        elif f.type == "categorical":
            strs = col.astype(object).where(col.notna(), None)
            values = np.array([None if v is None else str(v) for v in strs], dtype=object)
            out_features[f.name] = _categorical_entry(values, getattr(f, "categories", None))
        else:
            raise ValueError(f"feature {f.name!r} has unknown type {f.type!r}")

    outputs: dict[str, dict] = {}
    for name, arr in (extra_numeric or {}).items():
        values = np.asarray(arr)
        if values.ndim != 1:
            raise ValueError(f"extra_numeric[{name!r}] must be 1-D, got shape {values.shape}")
        outputs[str(name)] = _numeric_entry(f"extra_numeric[{name!r}]", as_float(values), bins)

    return {
        "version": BASELINE_VERSION,
        "rows": int(len(df)),
        "bins": int(bins),
        "edges_convention": ("numeric 'edges' are inner edges e_1 < ... < e_k; -inf/+inf implied; "
                             "bins (-inf,e_1), [e_1,e_2), ..., [e_k,+inf); bin of x = number of "
                             "edges <= x; 'proportions' are shares of non-missing values"),
        "psi": {"eps": PSI_EPS, "stable_below": PSI_STABLE, "significant_above": PSI_SIGNIFICANT},
        "features": out_features,
        "outputs": outputs,
    }


def _numeric_entry(label: str, values: np.ndarray, bins: int) -> dict:
    if np.isinf(values).any():
        raise ValueError(f"{label} has infinite values")
    summary = numeric_summary(values)
    if summary["count"] == 0:
        return {"type": "numeric", "edges": [], "proportions": None, **summary}
    edges = quantile_edges(values, bins)
    return {"type": "numeric", "edges": edges,
            "proportions": [float(p) for p in bin_counts(values, edges)], **summary}


def _categorical_entry(values: np.ndarray, declared: Sequence[str] | None) -> dict:
    present = np.array([v for v in values if v is not None], dtype=object)
    declared = [c for c in (declared or []) if c != OTHER]
    categories = declared + sorted(set(present.tolist()) - set(declared) - {OTHER}) + [OTHER]
    rows, count = int(values.size), int(present.size)
    proportions = [float(p) for p in category_proportions(present, categories)] if count else None
    return {"type": "categorical", "categories": categories, "proportions": proportions,
            "rows": rows, "count": count, "missing_rate": (rows - count) / rows if rows else 0.0}
