"""What every model-card section reads: the manifest and the test-set evaluation, made safe.

A section's context function takes a `CardInputs` and returns plain data for its template
(dicts, lists, numbers, strings). The helpers below turn whatever the manifest holds into
something a template can show: a missing or malformed value becomes an empty mapping or
list, or a number the report filters write as a dash.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

__all__ = ["CardInputs", "array", "chart_svg", "finite", "histogram", "mapping", "number_or_none", "seq"]


def finite(value) -> bool:
    """A real, finite number (not a bool, not a string)."""
    try:
        return value is not None and not isinstance(value, bool) and math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def number_or_none(value) -> float | None:
    """The value as a float when finite, else None (a template writes None as a dash)."""
    return float(value) if finite(value) else None


def mapping(value) -> Mapping:
    return value if isinstance(value, Mapping) else {}


def seq(value) -> list:
    return list(value) if isinstance(value, (list, tuple)) else []


def array(value) -> np.ndarray | None:
    """A non-empty 1-D float array, or None when absent or not numbers."""
    if value is None:
        return None
    try:
        arr = np.asarray(value, dtype=np.float64).ravel()
    except (TypeError, ValueError):
        return None  # not numbers: the sections that need the array say it is missing
    return arr if arr.size else None


def chart_svg(chart, alt: str) -> str:
    """A `riskscore.report.plots.Chart` as an inline-SVG string, for the `figure` macro of
    card/_macros.html (the one value a card template marks safe)."""
    return str(chart.svg(alt))


def histogram(values: np.ndarray, edges: np.ndarray, density: bool = True) -> np.ndarray:
    counts, _ = np.histogram(values, bins=edges)
    return counts / (counts.sum() * np.diff(edges)) if density and counts.sum() else counts.astype(float)


@dataclass
class CardInputs:
    """The manifest (before publish: `name`/`version` may be absent) and the evaluation arrays
    of the test rows (y_test, pd_test, score_test, importance, lgd_actual, lgd_pred,
    anomaly_score_test, forecast; any optional one may be None or absent)."""

    manifest: Mapping
    evaluation: Mapping
    spec: Mapping = field(init=False)
    metrics: Mapping = field(init=False)
    models: Mapping = field(init=False)
    columns: Mapping = field(init=False)
    data: Mapping = field(init=False)
    name: str = field(init=False)
    y: np.ndarray | None = field(init=False)
    pd: np.ndarray | None = field(init=False)
    score: np.ndarray | None = field(init=False)

    def __post_init__(self):
        m = self.manifest
        self.spec = mapping(m.get("spec"))
        self.metrics = mapping(m.get("metrics"))
        self.models = mapping(m.get("models"))
        self.columns = mapping(m.get("columns"))
        self.data = mapping(m.get("data"))
        self.name = str(m.get("name") or self.spec.get("name") or "model")
        self.y = array(self.evaluation.get("y_test"))
        self.pd = array(self.evaluation.get("pd_test"))
        self.score = array(self.evaluation.get("score_test"))
