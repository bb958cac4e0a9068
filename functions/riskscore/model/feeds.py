"""Graph inputs, the one form every graph takes: per feature a [N, 1] column, float32 for a
numeric feature (missing = NaN), str for a categorical one (missing, and unknown under the
spec's `as_missing` policy, = ''). From validated dicts (`score`), Arrow record batches (batch,
Dataflow) or data frames (training, whose frames hold only categories it has seen).
pyarrow is imported by the Arrow form only; pandas never (a frame is used by its methods)."""

from __future__ import annotations

import numpy as np

__all__ = ["arrow_feeds", "dict_feeds", "frame_feeds", "known_categories"]


def known_categories(features) -> dict[str, set]:
    """Each categorical feature's known categories, for `dict_feeds`."""
    return {f.name: set(f.categories or []) for f in features if f.type == "categorical"}


def dict_feeds(rows: list[dict], features, known: dict[str, set]) -> dict[str, np.ndarray]:
    """Validated feature dicts -> graph inputs; None is NaN (numeric) or '' (categorical)."""
    out = {}
    for f in features:
        values = [r.get(f.name) for r in rows]
        if f.type == "numeric":
            out[f.name] = np.array([np.nan if v is None else v for v in values],
                                   dtype=np.float32).reshape(-1, 1)
        else:
            categories = known[f.name]
            # Unknown categories reach here only under the spec's `as_missing` policy.
            out[f.name] = np.array([v if v in categories else "" for v in values], dtype=object).reshape(-1, 1)
    return out


def arrow_feeds(rows, features, known) -> dict[str, np.ndarray]:
    """Cast rows (a record batch) -> graph inputs, as `dict_feeds` for dicts; `known`: each
    categorical feature's categories as a pyarrow string array."""
    import pyarrow.compute as pc

    out = {}
    for f in features:
        col = rows.column(f.name)
        if f.type == "numeric":
            out[f.name] = col.to_numpy(zero_copy_only=False).astype(np.float32).reshape(-1, 1)
        else:
            categories = known[f.name]
            # Codes into the known categories (unknown and missing -> the extra '' slot), then
            # a table lookup: no Python per row.
            codes = pc.fill_null(pc.index_in(col, value_set=categories), len(categories))
            table = np.array(categories.to_pylist() + [""], dtype=object)
            out[f.name] = table[codes.to_numpy(zero_copy_only=False)].reshape(-1, 1)
    return out


def frame_feeds(df, features) -> dict[str, np.ndarray]:
    """A pandas data frame's raw columns -> graph inputs (categorical values as str(v))."""
    feeds = {}
    for f in features:
        col = df[f.name]
        if f.type == "numeric":
            feeds[f.name] = col.to_numpy(dtype=np.float32, na_value=np.nan).reshape(-1, 1)
        else:
            values = col.astype(str).to_numpy(dtype=object)  # str(v) of every value, vectorized
            values[col.isna().to_numpy()] = ""
            feeds[f.name] = values.reshape(-1, 1)
    return feeds
