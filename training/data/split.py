"""Train / validation / test split: out-of-time when the spec has a date column."""

from __future__ import annotations

import numpy as np
import pandas as pd


def split_frame(df: pd.DataFrame, target: str, valid_fraction: float, test_fraction: float,
                date: str | None = None, seed: int = 42) -> dict[str, pd.DataFrame]:
    """Return {'train', 'valid', 'test'}.

    With a date column the most recent `test_fraction` of rows (by date) is the test set and
    the `valid_fraction` before it the validation set, so metrics describe future applicants;
    the cuts fall between dates, never inside one.
    Without one, a stratified random split. Each part must hold both classes.
    """
    if date:
        return _split_by_date(df, target, date, valid_fraction, test_fraction)
    n = len(df)
    rng = np.random.default_rng(seed)
    y = df[target].to_numpy()
    # Stratify: shuffle each class, then interleave by rank so every slice has the base rate.
    keys = np.empty(n)
    for cls in (0, 1):
        idx = np.flatnonzero(y == cls)
        keys[idx] = (rng.permutation(len(idx)) + rng.random(len(idx))) / max(len(idx), 1)
    order = np.argsort(keys, kind="stable")
    n_test = int(round(n * test_fraction))
    n_valid = int(round(n * valid_fraction))
    n_train = n - n_test - n_valid
    parts = {"train": df.iloc[np.sort(order[:n_train])],
             "valid": df.iloc[np.sort(order[n_train:n_train + n_valid])],
             "test": df.iloc[np.sort(order[n_train + n_valid:])]}
    _check_parts(parts, target)
    return parts


def _split_by_date(df: pd.DataFrame, target: str, date: str, valid_fraction: float,
                   test_fraction: float) -> dict[str, pd.DataFrame]:
    """Cut on whole dates, so no day falls on both sides of a boundary."""
    dates = df[date].to_numpy()
    ordered = np.sort(dates)
    n = len(df)
    test_start = ordered[n - int(round(n * test_fraction))]
    valid_start = ordered[n - int(round(n * test_fraction)) - int(round(n * valid_fraction))]
    parts = {"train": df[dates < valid_start], "valid": df[(dates >= valid_start) & (dates < test_start)],
             "test": df[dates >= test_start]}
    _check_parts(parts, target)
    return parts


def _check_parts(parts: dict[str, pd.DataFrame], target: str) -> None:
    for name, part in parts.items():
        if part[target].nunique() < 2:
            raise ValueError(f"the {name} split ({len(part)} rows) does not contain both target classes; "
                             "use more data or larger split fractions")
