"""The PD master scale: the default rating bands, fixed PD intervals learned from the training
rows' PD distribution and default rates (what banks call a master scale).

Absolute score cut-offs put nearly every applicant of a low-default portfolio in the best band;
a master scale discriminates whatever the base rate. Its grades have roughly geometric PD
intervals (each about `ratio` times the one above), observed default rates that rise grade by
grade, and no grade holding more than `max_share` of the rows. Each PD edge becomes the score
edge serving's one rating rule (`ScalingSpec.rating_index`) uses, so scoring needs nothing new:
the manifest's `scaling.bands` carry the scale. A spec that lists `scaling.bands` itself keeps
its own scale.
"""

from __future__ import annotations

import math

import numpy as np
from pydantic import Field

from riskscore.contract.schema import RatingBand, ScalingSpec, StrictModel

__all__ = ["MasterScaleSpec", "band_table", "master_scale", "pd_at_score", "score_at_pd"]

PD_FLOOR = 0.0005
Z_RISE = 1.645  # one-sided 5 %: a neighbour's default rate must be clearly higher
# Grade names, best first; the scale uses the first `grades` of them.
GRADE_NAMES = ("A", "B", "C", "D", "E", "F", "G", "H", "I", "J", "K", "L")


class MasterScaleSpec(StrictModel):
    """How the default bands are learned (used when the spec lists no `scaling.bands`)."""

    grades: int = Field(7, ge=2, le=len(GRADE_NAMES))
    # No grade may hold more than this share of the training rows.
    max_share: float = Field(0.4, gt=0, le=1)
    # Nor less than this: a tiny grade's default rate is noise.
    min_share: float = Field(0.02, gt=0, lt=0.5)


def score_at_pd(scaling: ScalingSpec, pd_: np.ndarray | float) -> np.ndarray:
    """The score of a PD under `scaling` (the formula of ScalingSpec's docstring)."""
    p = np.clip(np.asarray(pd_, dtype=np.float64), 1e-12, 1 - 1e-12)
    if scaling.method == "linear":
        return scaling.linear_base + (1 - p) * scaling.linear_span
    return scaling.offset + scaling.factor * np.log((1 - p) / p)


def pd_at_score(scaling: ScalingSpec, score: float | None) -> float | None:
    """The PD whose score is `score` (the inverse of `score_at_pd`); None for None."""
    if score is None:
        return None
    if scaling.method == "linear":
        return float(min(1.0, max(0.0, 1 - (score - scaling.linear_base) / scaling.linear_span)))
    return float(1 / (1 + math.exp((score - scaling.offset) / scaling.factor)))


def _cells(pd_: np.ndarray, edges: list[float]) -> np.ndarray:
    """Each row's cell: 0 for PD below edges[0] (the best) ... len(edges) for the worst."""
    return np.searchsorted(np.asarray(edges), pd_, side="right")


def _split_large(pd_: np.ndarray, edges: list[float], max_share: float) -> list[float]:
    """Split every cell holding more than `max_share` of the rows at its rows' geometric-mean
    PD (at the median when that does not help), until none does."""
    n = len(pd_)
    for _ in range(64):
        cells = _cells(pd_, edges)
        counts = np.bincount(cells, minlength=len(edges) + 1)
        big = int(np.argmax(counts))
        if counts[big] <= max_share * n:
            return edges
        inside = np.sort(pd_[cells == big])
        cut = float(np.exp(np.mean(np.log(np.clip(inside, 1e-12, None)))))
        share_below = np.searchsorted(inside, cut, side="right") / len(inside)
        if not 0.2 <= share_below <= 0.8:
            cut = float(inside[len(inside) // 2])
        if cut <= inside[0] or cut >= inside[-1]:
            return edges  # one PD value holds the cell: it cannot be split
        edges = sorted(set(edges) | {cut})
    return edges


def _rise(rates: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """The z statistic of each grade's default rate over the better grade's (pooled
    two-proportion test): how clearly the rate rises from cell i to cell i + 1."""
    n1, n2 = counts[:-1], counts[1:]
    pooled = (rates[:-1] * n1 + rates[1:] * n2) / np.maximum(n1 + n2, 1)
    se = np.sqrt(pooled * (1 - pooled) * (1 / np.maximum(n1, 1) + 1 / np.maximum(n2, 1)))
    return np.where(se > 0, (rates[1:] - rates[:-1]) / np.where(se > 0, se, 1), 0.0)


def _merge(edges: list[float], drop: int) -> list[float]:
    return edges[:drop] + edges[drop + 1:]


def master_scale(pd_: np.ndarray, y: np.ndarray, scaling: ScalingSpec,
                 spec: MasterScaleSpec | None = None) -> list[RatingBand]:
    """The master-scale bands for training PDs `pd_` and outcomes `y` (0/1), lowest score
    first, as `ScalingSpec.bands` takes them.

    Start from `grades` geometric PD intervals between the 2nd and 98th percentile PD; split
    any interval holding more than `max_share` of the rows; merge intervals under `min_share`
    into a neighbour; then merge neighbours whose observed default rates do not clearly rise
    (a one-sided two-proportion test at 5 %), so the rates rise grade by grade and go on
    rising on new rows.
    """
    spec = spec or MasterScaleSpec()
    pd_ = np.asarray(pd_, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    lo, hi = np.quantile(pd_, [0.02, 0.98])
    # Below PD_FLOOR a linear score cannot tell grades apart (0.1 points is 0.017 % of PD).
    lo = max(float(lo), PD_FLOOR)
    hi = max(float(hi), lo * 2)
    ratio = (hi / lo) ** (1 / spec.grades)
    edges = [lo * ratio ** i for i in range(1, spec.grades)]
    edges = _split_large(pd_, edges, spec.max_share)
    n = len(pd_)
    while len(edges) > 1:
        counts = np.bincount(_cells(pd_, edges), minlength=len(edges) + 1)
        small = int(np.argmin(counts))
        if counts[small] >= spec.min_share * n:
            break
        # Merge the small cell into its smaller neighbour (drop the edge between them).
        if small == 0:
            edges = _merge(edges, 0)
        elif small == len(edges):
            edges = _merge(edges, len(edges) - 1)
        else:
            edges = _merge(edges, small - 1 if counts[small - 1] <= counts[small + 1] else small)
    while len(edges) > 1:
        cells = _cells(pd_, edges)
        counts = np.bincount(cells, minlength=len(edges) + 1)
        rates = np.bincount(cells, weights=y, minlength=len(edges) + 1) / np.maximum(counts, 1)
        z = _rise(rates, counts)
        # A falling rate must go; a rise too small to tell from noise (one-sided 5 %) goes
        # too, unless the merged grade would hold more than max_share of the rows.
        fits = counts[:-1] + counts[1:] <= spec.max_share * n
        candidates = [i for i in range(len(edges)) if z[i] <= 0 or (z[i] < Z_RISE and fits[i])]
        if not candidates:
            break
        edges = _merge(edges, min(candidates, key=lambda i: z[i]))
    # Too many grades after splitting: keep the names we have by merging the smallest pairs.
    while len(edges) + 1 > len(GRADE_NAMES):
        counts = np.bincount(_cells(pd_, edges), minlength=len(edges) + 1)
        edges = _merge(edges, int(np.argmin(counts[:-1] + counts[1:])))
    # PD edges -> score edges (0.1 points: the score is rated as shown, rounded to 0.1). A
    # lower PD is a higher score: the best grade is the last band.
    scores = sorted({round(float(s), 1) for s in score_at_pd(scaling, np.asarray(edges))})  # equal: one edge
    names = GRADE_NAMES[:len(scores) + 1]
    bands = [RatingBand(name=names[-1])]
    for name, score in zip(reversed(names[:-1]), scores):
        bands.append(RatingBand(name=name, min_score=score))
    return bands


def band_table(scaling: ScalingSpec, pd_: np.ndarray, score: np.ndarray, y: np.ndarray) -> list[dict]:
    """Per band (lowest score first), on the given rows (the test rows): its score and PD
    range, rows, share, predicted (mean PD) and observed default rate."""
    pd_ = np.asarray(pd_, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    index = scaling.rating_index(np.round(np.asarray(score, dtype=np.float64), 1))
    n = max(len(pd_), 1)
    rows = []
    for i, band in enumerate(scaling.bands):
        mask = index == i
        upper = scaling.bands[i + 1].min_score if i + 1 < len(scaling.bands) else None
        rows.append({
            "name": band.name, "min_score": band.min_score,
            # The PD range the score range stands for: the band's lower score is its highest PD.
            "pd_max": pd_at_score(scaling, band.min_score) if band.min_score is not None else 1.0,
            "pd_min": pd_at_score(scaling, upper) if upper is not None else 0.0,
            "test_count": int(mask.sum()), "share": float(mask.sum() / n),
            "predicted_default_rate": float(pd_[mask].mean()) if mask.any() else None,
            "observed_default_rate": float(y[mask].mean()) if mask.any() else None,
        })
    return rows


def card_rows(bands: list[dict]) -> tuple[list[str], list[list[str]], str]:
    """The model card's rating-band table as plain text cells (best band first, as analysts
    read a master scale), and a note on whether observed default rates rise band by band
    and stay near the predicted ones."""
    from riskscore.report.format import count, percent

    headers = ["Band", "Score range", "PD range", "Test rows", "Share", "Predicted default rate",
               "Observed default rate"]
    rows = []
    for i, b in enumerate(bands):
        lo, hi = b.get("min_score"), bands[i + 1].get("min_score") if i + 1 < len(bands) else None
        scores = (f"{_bound(lo)} to < {_bound(hi)}" if lo is not None and hi is not None else
                  f"≥ {_bound(lo)}" if lo is not None else f"< {_bound(hi)}" if hi is not None else "all scores")
        pds = (f"{percent(b['pd_min'], 2)} to {percent(b['pd_max'], 2)}"
               if b.get("pd_min") is not None and b.get("pd_max") is not None else "—")
        rows.append([str(b.get("name", "")), scores, pds, count(b.get("test_count")), percent(b.get("share")),
                     percent(b.get("predicted_default_rate"), 2), percent(b.get("observed_default_rate"), 2)])
    rates = [b.get("observed_default_rate") for b in bands if b.get("observed_default_rate") is not None]
    if len(rates) < 2:
        note = ""
    elif all(a > c for a, c in zip(rates, rates[1:])):
        note = "Observed default rates fall band by band from the lowest to the highest score, as they should."
    else:
        note = ("Observed default rates do not fall band by band from the lowest to the highest score: "
                "review the band boundaries.")
    return headers, rows[::-1], note


def _bound(value) -> str:
    v = float(value)
    return f"{int(v):,}" if v.is_integer() else f"{v:g}"
