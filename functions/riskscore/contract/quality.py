"""Data-quality gates: checked on the training table before training and on a batch input before
its output is committed.

Gates (their names are what `--allow` / a batch body's `allow` take):

- `row_count`: at least `min_rows` rows (training) or `batch_min_rows` (batch, default 0);
- `missing`: each spec column's null rate within `max_missing` (one fraction for every column,
  or per column with `"*"` as the default); in batch also within the training table's own rate
  plus `baseline_missing_margin`;
- `duplicated_ids`: no id value on more than one row (when the spec names an id);
- `target_rate`: the target's mean within `target_rate` [low, high] (training only);
- `schema`: every spec column present, numeric features stored as numbers (or text that a
  CSV reader leaves to the caster), categorical ones as text, integers or booleans.

`QualityStats` accumulates over Arrow record batches (one pass, streaming: counts, null counts,
and a 64-bit fingerprint per id, 8 bytes a row whatever the id's length) and `evaluate` turns them into a report: a JSON-safe dict with every gate's
outcome. `enforce(report)` raises `QualityGateFailed` (422) naming every failing gate that was
not allowed; allowed failures stay in the report, marked `allowed`.

Arrow and numpy only: batch scoring (no pandas) and training (pandas converted once) share it.
"""

from __future__ import annotations

import hashlib
import os
from typing import Iterable

import numpy as np
from pydantic import Field, field_validator, model_validator

from ..errors import RiskScoreError
from .schema import StrictModel

GATES = ("row_count", "missing", "duplicated_ids", "target_rate", "schema")


class QualitySpec(StrictModel):
    """The spec's `quality:` block (all optional)."""

    min_rows: int = Field(100, ge=0)
    batch_min_rows: int = Field(0, ge=0)
    # One fraction for every spec column, or {column: fraction} with "*" as the default.
    max_missing: float | dict[str, float] = 0.5
    target_rate: tuple[float, float] = (0.001, 0.6)
    baseline_missing_margin: float = Field(0.1, ge=0, le=1)
    # Gates whose failure is recorded but does not stop training or a batch run.
    allow: list[str] = Field(default_factory=list)

    @field_validator("max_missing")
    @classmethod
    def _fractions(cls, value):
        values = value.values() if isinstance(value, dict) else [value]
        if any(not 0 <= v <= 1 for v in values):
            raise ValueError("max_missing fractions must be within [0, 1]")
        return value

    @field_validator("allow")
    @classmethod
    def _known(cls, value):
        return check_allow(value, "quality.allow")

    @model_validator(mode="after")
    def _band(self) -> "QualitySpec":
        low, high = self.target_rate
        if not 0 <= low < high <= 1:
            raise ValueError(f"target_rate must be [low, high] with 0 <= low < high <= 1, found {list(self.target_rate)}")
        return self

    def missing_limit(self, column: str) -> float:
        if isinstance(self.max_missing, dict):
            return self.max_missing.get(column, self.max_missing.get("*", 1.0))
        return self.max_missing


def check_allow(names: Iterable[str], field: str = "allow") -> list[str]:
    """The allow list, or ValueError naming `field` and the unknown gate."""
    names = list(names)
    unknown = [n for n in names if n not in GATES]
    if unknown:
        raise ValueError(f"{field}: unknown gate(s) {unknown}; the gates are {list(GATES)}")
    return names


class QualityGateFailed(RiskScoreError):
    """One or more data-quality gates failed and were not allowed (422); `report` has them all."""

    status = 422
    code = "data_quality_failed"

    def __init__(self, message: str, report: dict):
        super().__init__(message, details=[{"field": "gate", "gate": g["name"], "problem": "; ".join(g["failures"])}
                                           for g in failing_gates(report)])
        self.report = report


def failing_gates(report: dict) -> list[dict]:
    """The gates of `report` that failed and were not allowed."""
    return [g for g in report["gates"] if not g["passed"] and not g["allowed"]]


class QualityStats:
    """One pass over record batches: rows, nulls per column, the id column, the target's sum,
    and the stored type of each column."""

    def __init__(self, columns: list[str], id_column: str | None = None, target: str | None = None):
        self.columns, self.id_column, self.target = columns, id_column, target
        self.rows = 0
        self.nulls = {c: 0 for c in columns}
        self.types: dict[str, object] = {}
        self.target_sum = 0.0
        self.target_count = 0
        self._ids: list = []

    def update(self, batch) -> None:
        import pyarrow as pa
        import pyarrow.compute as pc

        self.rows += batch.num_rows
        names = set(batch.schema.names)
        for c in self.columns:
            if c in names:
                col = batch.column(c)
                self.types.setdefault(c, col.type)
                nulls = col.null_count
                if pa.types.is_floating(col.type):
                    nulls += int(pc.sum(pc.is_nan(pc.fill_null(col, 0.0))).as_py() or 0)
                elif pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
                    nulls += int(pc.sum(pc.equal(pc.fill_null(col, "x"), "")).as_py() or 0)
                self.nulls[c] += nulls
        if self.id_column in names:
            self._ids.append(id_fingerprints(batch.column(self.id_column).cast(pa.string()).drop_null()))
        if self.target in names:
            t = batch.column(self.target)
            if pa.types.is_integer(t.type) or pa.types.is_floating(t.type) or pa.types.is_boolean(t.type):
                t = pc.cast(t, pa.float64())
                self.target_sum += float(pc.sum(t).as_py() or 0.0)
                self.target_count += len(t) - t.null_count

    def duplicated_ids(self) -> tuple[int, int]:
        """(rows whose id occurs before, distinct ids occurring more than once), counted on the
        ids' fingerprints: two different ids share one with a chance of about n²/2⁶⁵ (3 in a
        million at 10M rows), which could only report a duplicate that is not there."""
        if not self._ids:
            return 0, 0
        prints = np.concatenate(self._ids)
        self._ids = [prints]  # the pieces are freed: at most two copies while concatenating
        prints.sort()
        repeat = prints[1:] == prints[:-1]  # a row whose id equals the previous one's
        first_repeat = repeat & ~np.concatenate([[False], repeat[:-1]])
        return int(repeat.sum()), int(first_repeat.sum())


# The fingerprint's polynomial base is drawn per process: ids chosen to collide cannot be
# prepared in advance (fingerprints are only ever compared within one run). A polynomial
# modulo 2⁶⁴ has collisions for every base among strings of 2,048 bytes and more (Thue-Morse),
# so ids longer than _LONG_ID_BYTES are fingerprinted by keyed BLAKE2b instead, one by one.
_KEY = os.urandom(16)
_BASE = np.uint64(int.from_bytes(_KEY[:8], "little") | 1)
_LONG_ID_BYTES = 256
_PIECE_BYTES = 1 << 20  # bounds the per-byte work array at 8 MiB


def id_fingerprints(ids) -> np.ndarray:
    """A uint64 fingerprint per value of a non-null Arrow string array, vectorized: a polynomial
    hash of the bytes (random odd base, modulo 2⁶⁴) mixed with the length and finished with
    splitmix64. Equal ids have equal fingerprints."""
    import pyarrow as pa

    ids = ids.cast(pa.large_binary())
    if isinstance(ids, pa.ChunkedArray):
        ids = ids.combine_chunks()
    if len(ids) == 0:
        return np.empty(0, np.uint64)
    buffers = ids.buffers()
    offsets = np.frombuffer(buffers[1], np.int64, count=len(ids) + 1, offset=ids.offset * 8)
    data = np.frombuffer(buffers[2], np.uint8) if buffers[2] is not None else np.empty(0, np.uint8)
    cuts = np.unique(np.concatenate([[0, len(ids)],
                                     np.searchsorted(offsets, np.arange(offsets[0], offsets[-1], _PIECE_BYTES))]))
    prints = np.concatenate([_fingerprint_piece(offsets[a:b + 1], data) for a, b in zip(cuts[:-1], cuts[1:]) if b > a])
    for row in np.flatnonzero(np.diff(offsets) > _LONG_ID_BYTES):
        digest = hashlib.blake2b(data[offsets[row]:offsets[row + 1]].tobytes(), digest_size=8, key=_KEY).digest()
        prints[row] = int.from_bytes(digest, "little")
    return prints


def _fingerprint_piece(offsets: np.ndarray, data: np.ndarray) -> np.ndarray:
    starts, lengths = offsets[:-1] - offsets[0], np.diff(offsets)
    raw = data[offsets[0]:offsets[-1]].astype(np.uint64) + np.uint64(1)
    position = np.arange(len(raw), dtype=np.int64) - np.repeat(starts, lengths)
    powers = np.full(max(int(lengths.max()), 1), _BASE, np.uint64)
    powers[0] = 1
    h = np.zeros(len(lengths), np.uint64)
    filled = lengths > 0
    if filled.any():  # uint64 arithmetic wraps: the hash is modulo 2⁶⁴
        h[filled] = np.add.reduceat(raw * np.cumprod(powers, dtype=np.uint64)[position], starts[filled])
    h ^= lengths.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    h ^= h >> np.uint64(30)
    h *= np.uint64(0xBF58476D1CE4E5B9)
    h ^= h >> np.uint64(27)
    h *= np.uint64(0x94D049BB133111EB)
    h ^= h >> np.uint64(31)
    return h


def _type_problem(arrow_type, kind: str) -> str | None:
    import pyarrow as pa

    if pa.types.is_null(arrow_type) or pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return None  # all missing; or text, which the typed read checks value by value
    if kind == "numeric":
        ok = pa.types.is_integer(arrow_type) or pa.types.is_floating(arrow_type) or pa.types.is_decimal(arrow_type)
    else:
        ok = pa.types.is_integer(arrow_type) or pa.types.is_boolean(arrow_type) or pa.types.is_dictionary(arrow_type)
    return None if ok else f"stored as {arrow_type}, expected {'a number' if kind == 'numeric' else 'text or codes'}"


def _gate(name: str, failures: list[str], allow: set[str], measured: dict) -> dict:
    return {"name": name, "passed": not failures, "allowed": bool(failures) and name in allow,
            "failures": failures, "measured": measured}


def evaluate(stats: QualityStats, spec: QualitySpec, *, features, required: list[str], mode: str,
             allow: Iterable[str] = (), baseline_missing: dict[str, float] | None = None,
             missing_exempt: Iterable[str] = ()) -> dict:
    """The gates' report for `stats` (mode "training" or "batch"); see the module docstring.

    `features`: FeatureSpec-like objects (name, type); `required`: the other spec columns
    (target, id, exposure ...); `allow`: gate names from the command line or the request, added
    to the spec's own `allow`; `missing_exempt`: columns missing by design (the LGD of rows that
    did not default), measured but never gated. The report: {"mode", "rows", "gates": [...], "passed",
    "allowed": [...], "missing_rates": {column: rate}}.
    """
    allow_set = set(spec.allow) | set(check_allow(allow))
    gates = []
    minimum = spec.min_rows if mode == "training" else spec.batch_min_rows
    gates.append(_gate("row_count", [] if stats.rows >= minimum else
                       [f"{stats.rows} rows, expected at least {minimum}"], allow_set,
                       {"rows": stats.rows, "min_rows": minimum}))

    schema_failures = [f"column {c!r} named in the spec is missing from the data" for c in required + [f.name for f in features]
                       if c not in stats.types and stats.rows]
    for f in features:
        if f.name in stats.types:
            problem = _type_problem(stats.types[f.name], f.type)
            if problem:
                schema_failures.append(f"feature {f.name!r} is {problem}")
    gates.append(_gate("schema", schema_failures, allow_set,
                       {c: str(t) for c, t in stats.types.items()}))

    rates = {c: (stats.nulls[c] / stats.rows if stats.rows else 0.0) for c in stats.columns if c in stats.types}
    missing_failures = []
    exempt = set(missing_exempt)
    for c, rate in rates.items():
        if c in exempt:
            continue
        limit = spec.missing_limit(c)
        if rate > limit:
            missing_failures.append(f"column {c!r} is {rate:.1%} missing, max_missing {limit:.1%}")
        if baseline_missing and c in baseline_missing and rate > baseline_missing[c] + spec.baseline_missing_margin:
            missing_failures.append(f"column {c!r} is {rate:.1%} missing, training had {baseline_missing[c]:.1%} "
                                    f"(margin {spec.baseline_missing_margin:.0%})")
    gates.append(_gate("missing", missing_failures, allow_set, {"rates": {c: round(r, 6) for c, r in rates.items()}}))

    if stats.id_column:
        dup_rows, dup_ids = stats.duplicated_ids()
        gates.append(_gate("duplicated_ids", [] if not dup_rows else
                           [f"{dup_ids} {stats.id_column!r} values occur on more than one row ({dup_rows} extra rows)"],
                           allow_set, {"duplicate_rows": dup_rows, "duplicated_ids": dup_ids}))
    if mode == "training" and stats.target:
        low, high = spec.target_rate
        rate = stats.target_sum / stats.target_count if stats.target_count else None
        failure = [] if rate is not None and low <= rate <= high else [
            f"target {stats.target!r} rate is {'unknown' if rate is None else f'{rate:.2%}'}, "
            f"expected within [{low:.2%}, {high:.2%}]"]
        gates.append(_gate("target_rate", failure, allow_set,
                           {"rate": None if rate is None else round(rate, 6), "band": [low, high]}))

    return {"mode": mode, "rows": stats.rows, "gates": gates,
            "passed": all(g["passed"] or g["allowed"] for g in gates),
            "allowed": sorted(g["name"] for g in gates if g["allowed"]),
            "missing_rates": {c: round(r, 6) for c, r in rates.items()}}


def enforce(report: dict, where: str) -> dict:
    """`report` when every gate passed or was allowed; else QualityGateFailed naming each failure."""
    if report["passed"]:
        return report
    named = "; ".join(f"{g['name']}: {'; '.join(g['failures'])}" for g in failing_gates(report))
    raise QualityGateFailed(f"{where}: data-quality gate(s) failed: {named} "
                            f"(override a gate with --allow / \"allow\": [name])", report)
