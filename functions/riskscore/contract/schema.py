"""Feature schema and score scaling shared by training (the spec) and serving (the manifest).

Training writes these models into `manifest.json`; the score function reads them back to
validate requests and map scores to ratings, so both sides agree by construction.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = ["DEFAULT_BANDS", "FeatureSpec", "RatingBand", "ScalingSpec", "StrictModel", "category_code",
           "is_integer_code"]


class StrictModel(BaseModel):
    """Unknown keys are errors: a typo in a spec or a manifest must not pass silently."""

    model_config = ConfigDict(extra="forbid")


def category_code(value) -> str | None:
    """The canonical string of a categorical value, whatever type the source stored it as.

    A categorical column is read by its declared type, never by what a CSV parser guessed:
    integer codes 2, 2.0 and "2" are all the category "2"; None, NaN and "" are missing (None).
    Training, batch scoring and drift reading all use this one mapping.
    """
    if value is None or type(value).__name__ in ("NAType", "NaTType"):  # pandas' missing markers
        return None
    if isinstance(value, bool):
        return str(value)
    kind = getattr(getattr(value, "dtype", None), "kind", "")  # numpy scalars
    if isinstance(value, float) or kind == "f":
        value = float(value)
        if value != value:
            return None
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, int) or kind in ("i", "u"):
        return str(int(value))
    text = str(value)
    return text if text != "" else None


def is_integer_code(text: str) -> bool:
    """True for the canonical string of an integer ("3", "-1"), as `category_code` writes it."""
    return text.lstrip("-").isdigit() and text == str(int(text))


class FeatureSpec(StrictModel):
    """One model input: a raw named column of the applicant table."""

    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    type: Literal["numeric", "categorical"]
    description: str = ""
    nullable: bool = False
    min: float | None = None
    max: float | None = None
    monotone: Literal["increasing", "decreasing"] | None = None
    # Categorical only: the allowed values. Learned from the training data when omitted,
    # and always written to the manifest so serving knows them.
    categories: list[str] | None = None
    # Categorical only: the categories are integer codes (education 1, 2, 3), so `score`
    # accepts each code as a JSON integer or as a string. Decided from the categories when
    # omitted (true when every category is an integer); the manifest records the decision.
    integer_codes: bool | None = None
    # What serving does with a category never seen in training: reject the request, or
    # score it like a missing value (all one-hot columns zero).
    unknown: Literal["error", "as_missing"] = "error"

    @property
    def accepts_integer_codes(self) -> bool:
        """Whether `score` takes this categorical feature's codes as JSON integers too."""
        if self.type != "categorical":
            return False
        if self.integer_codes is not None:
            return self.integer_codes
        return bool(self.categories) and all(map(is_integer_code, self.categories))

    @field_validator("categories", mode="before")
    @classmethod
    def _codes_as_strings(cls, value):
        # A YAML list of codes (`categories: [1, 2, 3]`) names the same categories as strings.
        if isinstance(value, list):
            return [category_code(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v
                    for v in value]
        return value

    @model_validator(mode="after")
    def _check_kind(self) -> "FeatureSpec":
        if self.type == "categorical":
            if self.integer_codes and self.categories and not all(map(is_integer_code, self.categories)):
                bad = [c for c in self.categories if not is_integer_code(c)][:5]
                raise ValueError(f"feature {self.name!r}: integer_codes but categories {bad} are not integers")
            if self.min is not None or self.max is not None:
                raise ValueError(f"feature {self.name!r}: min/max apply to numeric features only")
            if self.monotone is not None:
                raise ValueError(f"feature {self.name!r}: monotone applies to numeric features only")
        elif self.categories is not None or self.integer_codes is not None:
            raise ValueError(f"feature {self.name!r}: categories and integer_codes apply to categorical "
                             "features only")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"feature {self.name!r}: min {self.min} is above max {self.max}")
        return self


class RatingBand(StrictModel):
    """Scores at or above `min_score` (and below the next band) get this rating; the
    lowest band has no lower bound (`min_score` null)."""

    name: str
    min_score: float | None = None


DEFAULT_BANDS = [
    RatingBand(name="Poor"),
    RatingBand(name="Average", min_score=500),
    RatingBand(name="Good", min_score=650),
    RatingBand(name="Excellent", min_score=750),
]


class ScalingSpec(StrictModel):
    """How a PD becomes a score.

    linear: score = base + (1 - PD) * span (default 300 + (1 - PD) * 600).
    pdo: points to double the odds (Siddiqi): factor = pdo / ln 2,
         offset = base_score - factor * ln(base_odds), score = offset + factor * ln((1-PD)/PD).
    """

    method: Literal["linear", "pdo"] = "linear"
    linear_base: float = 300.0
    linear_span: float = 600.0
    base_score: float = 600.0
    base_odds: float = Field(50.0, gt=0)
    pdo: float = Field(20.0, gt=0)
    bands: list[RatingBand] = Field(default_factory=lambda: list(DEFAULT_BANDS))

    @model_validator(mode="after")
    def _check_bands(self) -> "ScalingSpec":
        edges = [b.min_score for b in self.bands[1:]]
        if not self.bands or self.bands[0].min_score is not None:
            raise ValueError("scaling.bands: the first (lowest) band must have no min_score")
        if None in edges or edges != sorted(edges) or len(set(edges)) != len(edges):
            raise ValueError("scaling.bands: min_score must strictly increase after the first band")
        return self

    @property
    def factor(self) -> float:
        return self.pdo / math.log(2.0)

    @property
    def offset(self) -> float:
        return self.base_score - self.factor * math.log(self.base_odds)

    def rating_index(self, score) -> np.ndarray:
        """The rating rule, over a column: each score's position in `bands`, the band whose
        min_score is the largest <= score (the first band below every min_score)."""
        edges = np.array([b.min_score for b in self.bands[1:]], dtype=np.float64)
        return np.searchsorted(edges, np.asarray(score, dtype=np.float64), side="right")

    def rating(self, score: float) -> str:
        """The name of one score's band (`rating_index`)."""
        return self.bands[int(self.rating_index([score])[0])].name
