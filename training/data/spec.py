"""The declarative model spec (YAML) and its checks against a training table.

A spec names the target and optional id, exposure, LGD and date columns, and lists the
features. Every check here runs before any training and names the column at fault.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import yaml
from pydantic import Field, ValidationError, model_validator

from riskscore.contract.protected import DecisionRule, ProtectedColumn
from riskscore.contract.quality import QualitySpec
from riskscore.drift.stats import DriftSpec
from training.evaluation.master_scale import MasterScaleSpec
from riskscore.contract.schema import FeatureSpec, ScalingSpec, StrictModel, category_code
from riskscore.drift.stats import DriftSpec
from training.onnx.derived import DerivedSpec, parse


class SpecError(ValueError):
    """The spec is malformed, or the data does not fit it."""


class SplitSpec(StrictModel):
    valid_fraction: float = Field(0.15, gt=0, lt=0.5)
    test_fraction: float = Field(0.2, gt=0, lt=0.5)
    seed: int = 42
    # Below `pd_model.small_data_rows`, PD is fitted on every row and its metrics are out of
    # fold; true keeps the test split out of PD's fit there too.
    test_when_small: bool = False


class ScorecardSpec(StrictModel):
    """The scorecard family: optimal monotone binning, weight of evidence, logistic regression."""

    # Features whose information value is below this carry no usable signal and get no points.
    min_iv: float = Field(0.02, ge=0)
    max_n_prebins: int = Field(20, ge=2, le=100)
    # Smallest bin (and pre-bin) as a share of the rows: small bins make noisy WoE, large ones
    # hide risk steps. 3 % is about 20 rows of a 640-row fit and 1,500 of a 50k binning sample;
    # the monotone trend does the rest of the smoothing. Inner cross-validation on German credit
    # folds chose 2-3 % over 5 % in 14 of 15; 3 % beat 5 % out of fold on both real tables of
    # bench/model_quality.py and held the synthetic table's test AUC (docs/benchmarks.md).
    min_bin_size: float = Field(0.03, gt=0, le=0.5)
    # Inverse L2 strength of the logistic regression; mild shrinkage suits small tables.
    C: float = Field(0.3, gt=0)
    # Binning runs on at most this many (seeded, random) rows; the regression uses all rows.
    binning_sample: int = Field(50_000, ge=1_000)
    # Optional: drop the weaker (lower IV) of each collinear pair of WoE columns until every
    # variance inflation factor is at most this (training/evaluation/vif.py); each drop recorded.
    max_vif: float | None = Field(None, gt=1)


FAMILIES = ("logistic", "scorecard", "xgboost", "lightgbm", "blend")
Family = Literal["logistic", "scorecard", "xgboost", "lightgbm", "blend"]


class PDSpec(StrictModel):
    """The PD model (training/models/pd/family.py). Boosting fields left unset take the
    regime's defaults: large tables early-stop on the validation slice; on tables with fewer
    than `small_data_rows` rows depth, regularisation and rounds come from a small grid on
    repeated cross-validation. A boosting field set here is never searched."""

    # auto: fit every family of `candidates`; the simplest one whose shortfall from the best is
    # not real wins (DeLong's test on large tables, one standard error and `tie_tolerance` on
    # small ones). `blend` is the mean log-odds of the logistic and the better boosted family.
    family: Literal["auto"] | Family = "auto"
    candidates: list[Family] = Field(default_factory=lambda: list(FAMILIES), min_length=1)
    tie_tolerance: float = Field(0.002, ge=0)
    cv_folds: int = Field(5, ge=2, le=20)
    # repeats of the stratified folds that choose the boosting settings (and the logistic C)
    cv_repeats: int = Field(2, ge=1, le=10)
    small_data_rows: int = Field(20_000, ge=0)
    # the logistic family's inverse L2 strength; unset: chosen by cross-validation
    logistic_C: float | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _blend_members(self) -> "PDSpec":
        if self.family == "auto" and "blend" in self.candidates and not (
                "logistic" in self.candidates and {"xgboost", "lightgbm"} & set(self.candidates)):
            raise ValueError("candidate 'blend' averages the logistic family and a boosted one: list 'logistic' "
                             f"and 'xgboost' or 'lightgbm' among the candidates too (found {self.candidates})")
        return self
    n_estimators: int | None = Field(None, gt=0)
    learning_rate: float | None = Field(None, gt=0)
    max_depth: int | None = Field(None, gt=0)
    min_child_weight: float | None = Field(None, ge=0)
    subsample: float | None = Field(None, gt=0, le=1)
    colsample_bytree: float | None = Field(None, gt=0, le=1)
    reg_lambda: float | None = Field(None, ge=0)
    max_bin: int | None = Field(None, ge=2)
    early_stopping_rounds: int | None = Field(None, gt=0)
    # Off by default: reweighting classes shifts the predicted probabilities away from the
    # observed default rate, and a PD must stay calibrated.
    scale_pos_weight: float = 1.0
    scorecard: ScorecardSpec = Field(default_factory=ScorecardSpec)


class PromotionSpec(StrictModel):
    auc_tolerance: float = Field(0.005, ge=0)


class ModelSpec(StrictModel):
    name: str = Field(pattern=r"^[A-Za-z0-9_-]+$")
    description: str = ""
    target: str
    id: str | None = None
    exposure: str | None = None
    lgd: str | None = None
    date: str | None = None
    features: list[FeatureSpec] = Field(min_length=1)
    # Without `scaling.bands`, the rating bands are the PD master scale learned in training.
    scaling: ScalingSpec = Field(default_factory=ScalingSpec)
    master_scale: MasterScaleSpec = Field(default_factory=MasterScaleSpec)
    # The LGD of expected loss when the spec has no `lgd` column to train an LGD model on
    # (0.45: the Basel foundation value for senior unsecured claims without collateral).
    lgd_default: float | None = Field(None, ge=0, le=1)
    split: SplitSpec = Field(default_factory=SplitSpec)
    pd_model: PDSpec = Field(default_factory=PDSpec)
    segments: int = Field(5, ge=2, le=20)
    contamination: float = Field(0.01, gt=0, lt=0.5)
    promotion: PromotionSpec = Field(default_factory=PromotionSpec)
    # Features computed in the graph from numeric features (training/onnx/derived.py).
    derived: list[DerivedSpec] = Field(default_factory=list)
    # LGD model family (XGBoost or LightGBM, both with a logistic link).
    lgd_family: Literal["xgboost", "lightgbm"] = "xgboost"
    # Drift-check thresholds (PSI warning/alert, minimum rows); read by riskscore.drift.check.
    drift: DriftSpec = Field(default_factory=DriftSpec)
    # Fairness evidence: attributes evaluated per group on the test rows (model card) and by the
    # drift check, never model inputs; `decision` says who would be approved.
    protected: list[ProtectedColumn] = Field(default_factory=list)
    decision: DecisionRule | None = None
    # Several tables joined by one SELECT (training/data/multi_table.py): name -> source, and the SQL.
    tables: dict[str, str] | None = None
    sql: str | None = None
    # Data-quality gates before training and before a batch run (riskscore.contract.quality).
    quality: QualitySpec = Field(default_factory=QualitySpec)

    @model_validator(mode="after")
    def _tables_with_sql(self) -> "ModelSpec":
        if (self.tables is None) != (self.sql is None):
            raise ValueError("tables and sql go together: declare the tables and the SELECT that joins them")
        if self.tables is not None and not self.tables:
            raise ValueError("tables: declare at least one table")
        return self

    @model_validator(mode="after")
    def _unique_roles(self) -> "ModelSpec":
        names = [f.name for f in self.features] + [d.name for d in self.derived]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"features listed more than once: {dupes}")
        roles = {"target": self.target, "id": self.id, "exposure": self.exposure,
                 "lgd": self.lgd, "date": self.date}
        for role, col in roles.items():
            if col is not None and col in names:
                raise ValueError(f"column {col!r} is the {role} and cannot also be a feature")
        for p in self.protected:
            if p.name in names:
                raise ValueError(f"column {p.name!r} is protected and cannot also be a feature (protected "
                                 "columns are never model inputs)")
            clash = [role for role, col in roles.items() if col == p.name]
            if clash:
                raise ValueError(f"column {p.name!r} is the {clash[0]} and cannot also be protected")
        if self.protected and self.decision is None:
            raise ValueError("protected columns need a decision cut-off: decision.approve_below_pd or "
                             "decision.approve_from_rating")
        bands = [b.name for b in self.scaling.bands]
        if self.decision and self.decision.approve_from_rating not in (None, *bands):
            raise ValueError(f"decision.approve_from_rating {self.decision.approve_from_rating!r} is not a rating "
                             f"band (bands: {bands})")
        numeric = {f.name for f in self.numeric}
        for d in self.derived:
            parse(d, numeric)
        return self

    def with_derived(self) -> "ModelSpec":
        """The spec the models are fitted with: the derived features appended to the features
        (each a nullable numeric feature; the graphs compute them from the raw columns)."""
        if not self.derived:
            return self
        return self.model_copy(update={"features": [*self.features, *(d.feature() for d in self.derived)]})

    @property
    def numeric(self) -> list[FeatureSpec]:
        return [f for f in self.features if f.type == "numeric"]

    @property
    def categorical(self) -> list[FeatureSpec]:
        return [f for f in self.features if f.type == "categorical"]


def load_spec(path: str | Path) -> ModelSpec:
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise SpecError(f"spec file {path} does not exist") from None
    except yaml.YAMLError as exc:
        raise SpecError(f"spec file {path} is not valid YAML: {exc}") from None
    try:
        return ModelSpec.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'spec'}: {e['msg']}" for e in exc.errors())
        raise SpecError(f"spec {path} is invalid: {problems}") from None


def check_data(spec: ModelSpec, df: pd.DataFrame) -> pd.DataFrame:
    """Check `df` against the spec and return a copy with canonical dtypes.

    Numeric features become float64, categorical features strings with None for missing
    (numbers read as their codes: 2 and 2.0 become "2", see `category_code`),
    the date column datetime64. Raises SpecError naming every offending column with counts and
    the first offending row's position (1-based), never a value: the message reaches logs.
    """
    problems: list[str] = []
    out = pd.DataFrame(index=df.index)

    required = [spec.target] + [c for c in (spec.id, spec.exposure, spec.lgd, spec.date) if c]
    for col in required + [f.name for f in spec.features] + [p.name for p in spec.protected]:
        if col not in df.columns:
            problems.append(f"column {col!r} named in the spec is missing from the data")
    if problems:
        raise SpecError("; ".join(problems))

    target = pd.to_numeric(df[spec.target], errors="coerce")
    values = set(target.dropna().unique().tolist())
    if target.isna().any() or not values <= {0, 1} or len(values) < 2:
        other = target.notna() & ~target.isin([0, 1])
        found = f"found {len(values)} distinct numeric values"
        if other.any():
            found += f", {int(other.sum())} rows neither 0 nor 1 ({_first_row(other)})"
        if target.isna().any():
            found += f", {int(target.isna().sum())} missing/non-numeric ({_first_row(target.isna())})"
        problems.append(f"target {spec.target!r} must be binary 0/1 with both classes and no "
                        f"missing values; {found}")
    else:
        out[spec.target] = target.astype(np.int64)

    for f in spec.features:
        col = df[f.name]
        if f.type == "numeric":
            num = pd.to_numeric(col, errors="coerce") if col.dtype == object or str(col.dtype).startswith("str") else col
            try:
                num = num.astype(np.float64)
            except (TypeError, ValueError):
                problems.append(f"feature {f.name!r} is numeric but has dtype {col.dtype}")
                continue
            bad_type = num.isna() & col.notna()
            if bad_type.any():
                problems.append(f"feature {f.name!r} is numeric but {int(bad_type.sum())} values are not "
                                f"numbers ({_first_row(bad_type)})")
            if np.isinf(num).any():
                problems.append(f"feature {f.name!r} has infinite values")
            _check_missing_and_bounds(f, num, problems)
            out[f.name] = num
        else:
            # Read by the declared type, not the stored one: integer codes 1, 2.0 and "3" are the
            # categories "1", "2", "3" (a CSV cannot say that education 1, 2, 3 is categorical).
            # The empty string is how serving encodes "missing": it cannot also be a category.
            if pd.api.types.is_float_dtype(col):
                fractional = col.notna() & np.isfinite(col) & (col % 1 != 0)
                if fractional.any():
                    problems.append(f"feature {f.name!r} is categorical but holds {int(fractional.sum())} "
                                    f"non-integer numbers ({_first_row(fractional)}); codes stored as numbers "
                                    "must be integers, or declare the feature numeric")
                    continue
            strs = pd.Series([category_code(v) for v in col], index=col.index, dtype=object)
            _check_missing_and_bounds(f, strs, problems)
            if f.categories is not None:
                outside = strs.notna() & ~strs.isin(f.categories)
                if outside.any():
                    problems.append(f"feature {f.name!r} has {strs[outside].nunique()} values outside its declared "
                                    f"categories on {int(outside.sum())} rows ({_first_row(outside)})")
            out[f.name] = strs

    for role, col in (("exposure", spec.exposure), ("lgd", spec.lgd)):
        if col:
            num = pd.to_numeric(df[col], errors="coerce").astype(np.float64)
            if role == "exposure" and (num < 0).any():
                problems.append(f"exposure column {col!r} has negative values")
            if role == "lgd" and ((num < 0) | (num > 1)).any():
                problems.append(f"LGD column {col!r} has values outside [0, 1]")
            if role == "lgd" and (num.isna() & (target == 1)).any():
                problems.append(f"LGD column {col!r} is missing on {int((num.isna() & (target == 1)).sum())} "
                                f"defaulted rows ({spec.target!r} = 1); every default needs a realized LGD")
            out[col] = num
    if spec.date:
        dates = pd.to_datetime(df[spec.date], errors="coerce")
        if dates.isna().any():
            problems.append(f"date column {spec.date!r} has {int(dates.isna().sum())} missing or unparseable values")
        out[spec.date] = dates
    if spec.id:
        out[spec.id] = df[spec.id].astype(str)
    for p in spec.protected:  # kept for evaluation only: no model reads them
        if p.bands is not None:
            num = pd.to_numeric(df[p.name], errors="coerce").astype(np.float64)
            bad = num.isna() & df[p.name].notna()
            if bad.any():
                problems.append(f"protected column {p.name!r} has bands but {int(bad.sum())} values are not numbers "
                                f"({_first_row(bad)})")
            out[p.name] = num
        else:
            out[p.name] = pd.Series([category_code(v) for v in df[p.name]], index=df.index, dtype=object)
    if problems:
        raise SpecError("; ".join(problems))
    return out


def _first_row(mask: pd.Series) -> str:
    """Where the first offending row is: its position in the table, 1-based (never its value)."""
    return f"first at row {int(np.flatnonzero(np.asarray(mask, dtype=bool))[0]) + 1}"


def _check_missing_and_bounds(f: FeatureSpec, values: pd.Series, problems: list[str]) -> None:
    missing = int(values.isna().sum())
    if missing and not f.nullable:
        problems.append(f"feature {f.name!r} is not nullable but has {missing} missing values")
    if f.type == "numeric":
        if f.min is not None and (values < f.min).any():
            below = values < f.min
            problems.append(f"feature {f.name!r} has {int(below.sum())} values below its min {f.min} ({_first_row(below)})")
        if f.max is not None and (values > f.max).any():
            above = values > f.max
            problems.append(f"feature {f.name!r} has {int(above.sum())} values above its max {f.max} ({_first_row(above)})")
