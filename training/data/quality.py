"""The data-quality gates on a training table (riskscore.contract.quality, shared with batch scoring).

`training_gates(spec, raw, allow)` measures the raw table as read (before the spec's own checks
cast it) and returns the report; `enforce` in riskscore.contract.quality stops training naming every
failing gate that `allow` (the command line's `--allow`) or the spec's `quality.allow` does not
override. The report goes into the manifest, the model card and the training-runs log.
"""

from __future__ import annotations

import pandas as pd

from riskscore.contract.quality import QualityGateFailed, QualitySpec, QualityStats, enforce, evaluate

from training.data.spec import SpecError


class DataQualityError(QualityGateFailed, SpecError):
    """A training table failed a data-quality gate: the data does not fit the spec (a SpecError,
    so it stops training like the spec's own checks; `report` holds every gate)."""


def spec_columns(spec) -> tuple[list[str], list[str]]:
    """(every spec column, the non-feature ones: target, id, exposure, LGD, date)."""
    roles = [c for c in (spec.target, spec.id, spec.exposure, spec.lgd, spec.date) if c]
    return roles + [f.name for f in spec.features], roles


def _arrow(raw: pd.DataFrame, columns: list[str]):
    """The spec's columns as an Arrow table; a column Arrow cannot type (mixed Python objects)
    is measured as text."""
    import pyarrow as pa

    arrays, names = [], []
    for c in columns:
        if c not in raw.columns:
            continue
        try:
            arrays.append(pa.array(raw[c], from_pandas=True))
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            arrays.append(pa.array(raw[c].map(lambda v: None if pd.isna(v) else str(v)), pa.string()))
        names.append(c)
    return pa.table(arrays, names=names)


def enforce_training(report: dict) -> dict:
    """`report`, or DataQualityError naming every failing gate that was not allowed."""
    try:
        return enforce(report, "training table")
    except QualityGateFailed as exc:
        raise DataQualityError(exc.message, exc.report) from None


def training_gates(spec, raw: pd.DataFrame, allow=()) -> dict:
    """The gates' report for the training table `raw` (see riskscore.contract.quality.evaluate)."""
    columns, roles = spec_columns(spec)
    quality: QualitySpec = getattr(spec, "quality", None) or QualitySpec()
    stats = QualityStats(columns, id_column=spec.id, target=spec.target)
    stats.update(_arrow(raw, columns))
    return evaluate(stats, quality, features=spec.features, required=roles, mode="training", allow=allow,
                    missing_exempt=[spec.lgd] if spec.lgd else [])
