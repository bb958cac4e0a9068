"""The spec's fairness declarations: `protected:` columns (never model inputs; training and the
drift check read them to evaluate only) and the `decision:` cut-off that says who is approved.
The figures themselves are computed in `riskscore.drift.fairness`."""

from __future__ import annotations

import numpy as np
from pydantic import Field, model_validator

from riskscore.contract.schema import ScalingSpec, StrictModel, category_code

__all__ = ["MISSING_GROUP", "DecisionRule", "ProtectedColumn"]

MISSING_GROUP = "missing"


class ProtectedColumn(StrictModel):
    """A protected attribute: each value a group, or for a numeric column, bands between `bands`."""

    name: str
    bands: list[float] | None = Field(None, min_length=1, description="numeric: band edges, increasing")
    description: str = ""

    @model_validator(mode="after")
    def _increasing(self) -> "ProtectedColumn":
        if self.bands is not None and any(b <= a for a, b in zip(self.bands, self.bands[1:])):
            raise ValueError(f"protected column {self.name!r}: bands must strictly increase")
        return self

    def group_names(self) -> list[str] | None:
        """The band names in order (numeric), or None (categorical: the values seen)."""
        if self.bands is None:
            return None
        e = [f"{b:g}" for b in self.bands]
        return [f"< {e[0]}"] + [f"{a} to < {b}" for a, b in zip(e, e[1:])] + [f"≥ {e[-1]}"]

    def groups(self, values) -> np.ndarray:
        """The group of each value (object array of names); missing values are `MISSING_GROUP`."""
        if self.bands is not None:
            x = np.asarray(values, dtype=np.float64)
            names = np.array(self.group_names() + [MISSING_GROUP], dtype=object)
            index = np.searchsorted(np.asarray(self.bands), x, side="right")
            return names[np.where(np.isnan(x), len(names) - 1, index)]
        codes = [category_code(v) for v in values]  # the spec's one reading of categorical values
        return np.array([MISSING_GROUP if c is None else c for c in codes], dtype=object)


class DecisionRule(StrictModel):
    """The spec's `decision:` cut-off: who would be approved."""

    approve_below_pd: float | None = Field(None, gt=0, lt=1)
    approve_from_rating: str | None = None

    @model_validator(mode="after")
    def _one(self) -> "DecisionRule":
        if (self.approve_below_pd is None) == (self.approve_from_rating is None):
            raise ValueError("decision: give exactly one of approve_below_pd and approve_from_rating")
        return self

    def describe(self) -> str:
        if self.approve_below_pd is not None:
            return f"approved when PD < {self.approve_below_pd:g}"
        return f"approved when rated {self.approve_from_rating} or better"

    def approved(self, pd_: np.ndarray, score: np.ndarray, scaling: ScalingSpec) -> np.ndarray:
        """Whether each row is approved (NaN PD or score: not approved)."""
        if self.approve_below_pd is not None:
            return np.asarray(pd_, dtype=np.float64) < self.approve_below_pd
        names = [b.name for b in scaling.bands]
        if self.approve_from_rating not in names:
            raise ValueError(f"decision.approve_from_rating {self.approve_from_rating!r} is not a rating band "
                             f"(bands: {names})")
        cut = scaling.bands[names.index(self.approve_from_rating)].min_score
        s = np.round(np.asarray(score, dtype=np.float64), 1)  # rated as shown, like the decision
        return np.ones(s.shape, dtype=bool) & ~np.isnan(s) if cut is None else s >= cut
