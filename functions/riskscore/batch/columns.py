"""Raw Arrow record batches -> the model's columns, read by the spec's declared types.

`InputColumns.cast(raw, first_row)` returns a `Chunk`: the valid rows (numeric features and the
exposure as float64, categorical features and the id as strings, plus `row_number`) and one
reject per invalid row naming every offending field and why. A bad value never fails the
batch; only a missing required column or a column of an unusable type does (InvalidInput).

Accepted storage: numeric features from any integer, float, decimal or boolean column, or
text that parses as a number; categorical features from text, integer codes (1 -> "1",
and integral floats, as pandas stores nullable integer codes, alike), booleans; dictionary
(Parquet categorical, pandas category) columns as their values. NaN counts as missing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from riskscore.errors import InvalidInput
from riskscore.contract.manifest import Manifest
from riskscore.contract.schema import FeatureSpec

__all__ = ["Chunk", "InputColumns", "MAX_TEXT"]

MAX_TEXT = 200  # the score request's limit on a categorical value's length
_NUMBER = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$|^[+-]?(inf|infinity|nan)$"


@dataclass
class Chunk:
    """One chunk of input: `rows` (valid, cast; `row_number` first), `rejects` (REJECTS
    columns without run_date), `rows_in` (how many input rows the chunk held)."""

    rows: pa.RecordBatch
    rejects: pa.RecordBatch
    rows_in: int


@dataclass
class InputColumns:
    """The columns a batch reads: the features, and the spec's id and exposure if it has them."""

    features: list[FeatureSpec]
    id: str | None = None
    exposure: str | None = None

    @classmethod
    def from_manifest(cls, manifest: Manifest | dict) -> "InputColumns":
        m = Manifest.of(manifest)
        return cls(m.features, id=m.id_column, exposure=m.exposure_column)

    @property
    def names(self) -> list[str]:
        """Every column read, in output order."""
        return ([self.id] if self.id else []) + [f.name for f in self.features] + \
            ([self.exposure] if self.exposure else [])

    @property
    def required(self) -> list[str]:
        """Columns an input must have (the exposure is optional: without it, no expected loss)."""
        return [c for c in self.names if c != self.exposure]

    def check(self, available, where: str) -> None:
        missing = [c for c in self.required if c not in set(available)]
        if missing:
            raise InvalidInput(f"{where}: required column{'s' if len(missing) > 1 else ''} "
                               f"{', '.join(missing)} missing",
                               details=[{"field": c, "problem": "required column is missing"} for c in missing])

    def output_schema(self) -> pa.Schema:
        fields = [pa.field("row_number", pa.int64())]
        if self.id:
            fields.append(pa.field(self.id, pa.string()))
        fields += [pa.field(f.name, pa.float64() if f.type == "numeric" else pa.string()) for f in self.features]
        if self.exposure:
            fields.append(pa.field(self.exposure, pa.float64()))
        return pa.schema(fields)

    def cast(self, raw: pa.RecordBatch, first_row: int) -> Chunk:
        """Cast `raw` (rows numbered from `first_row`, 1-based) to the declared types."""
        n = raw.num_rows
        problems: list[tuple[np.ndarray, str, str]] = []  # (bad rows, field, reason)
        out: dict[str, pa.Array] = {"row_number": pa.array(np.arange(first_row, first_row + n, dtype=np.int64))}
        names = set(raw.schema.names)
        if self.id:
            ident = _text(_column(raw, self.id), self.id)
            problems.append((_mask(pc.is_null(ident)), self.id, "required value is missing"))
            out[self.id] = ident
        for f in self.features:
            if f.type == "numeric":
                out[f.name] = _numeric(_column(raw, f.name), f.name, f.nullable, f.min, f.max, problems)
            else:
                out[f.name] = self._categorical(_column(raw, f.name), f, problems)
        if self.exposure:
            if self.exposure in names:
                out[self.exposure] = _numeric(_column(raw, self.exposure), self.exposure, True, 0.0, None, problems)
            else:
                out[self.exposure] = pa.nulls(n, pa.float64())
        bad = np.zeros(n, dtype=bool)
        for mask, _, _ in problems:
            bad |= mask
        cast = pa.RecordBatch.from_arrays(list(out.values()), schema=self.output_schema())
        if not bad.any():
            return Chunk(cast, _rejects([], self.id), n)
        rejected = np.flatnonzero(bad)
        raw_rows = raw.take(pa.array(rejected)).to_pylist()
        records = []
        for j, i in enumerate(rejected):
            hits = [(fld, why) for mask, fld, why in problems if mask[i]]
            fields = list(dict.fromkeys(fld for fld, _ in hits))
            ident = raw_rows[j].get(self.id) if self.id else None
            records.append({"row_number": int(first_row + i),
                            "id": None if ident is None else str(ident),
                            "field": ", ".join(fields),
                            "reason": "; ".join(f"{fld}: {why}" for fld, why in hits),
                            "raw": json.dumps(raw_rows[j], default=str, allow_nan=True)})
        return Chunk(cast.filter(pa.array(~bad)), _rejects(records, self.id), n)

    def _categorical(self, arr: pa.Array, f: FeatureSpec, problems: list) -> pa.Array:
        text = _text(arr, f.name)
        text = pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.string()), text)  # CSV's empty cell
        missing = _mask(pc.is_null(text))
        if not f.nullable:
            problems.append((missing, f.name, "required value is missing"))
        problems.append((_mask(pc.greater(pc.utf8_length(text), MAX_TEXT)), f.name,
                         f"longer than {MAX_TEXT} characters"))
        if f.unknown == "error" and f.categories:
            known = _mask(pc.is_in(text, value_set=pa.array(f.categories, pa.string())))
            problems.append((~known & ~missing, f.name, f"not one of the categories {', '.join(f.categories)}"))
        return text


def _rejects(records: list[dict], id_column: str | None) -> pa.RecordBatch:
    from riskscore.batch.schema import REJECTS_SCHEMA, arrow_schema, schema_for

    schema = arrow_schema(schema_for(REJECTS_SCHEMA, id_column), for_files=True)
    columns = [[r["id"] if name == id_column else r[name] for r in records] for name in schema.names]
    return pa.RecordBatch.from_arrays([pa.array(c, type=t) for c, t in zip(columns, schema.types)],
                                      schema=schema)


def _mask(arr) -> np.ndarray:
    """A boolean Arrow array as numpy, null counted as False."""
    return np.asarray(pc.fill_null(arr, False).to_numpy(zero_copy_only=False), dtype=bool)


def _column(raw: pa.RecordBatch, name: str) -> pa.Array:
    arr = raw.column(name)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if pa.types.is_dictionary(arr.type):  # Parquet dictionary / pandas category: the values
        arr = arr.dictionary_decode()
    return arr


def _text(arr: pa.Array, name: str) -> pa.Array:
    """Any scalar column as text: integers (and integral floats) as their digits."""
    t = arr.type
    if pa.types.is_string(t):
        return arr
    if pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return arr.cast(pa.string())
    if pa.types.is_null(t):
        return pa.nulls(len(arr), pa.string())
    if pa.types.is_floating(t):
        values = arr.to_numpy(zero_copy_only=False)
        finite = values[np.isfinite(values)]
        if np.all(finite == np.round(finite)) and (len(finite) == 0 or np.abs(finite).max() < 2 ** 53):
            # pandas keeps nullable integer codes as floats: 3.0 is the code "3"
            ints = pc.cast(pc.if_else(pc.is_finite(arr), arr, pa.scalar(None, t)), pa.int64())
            return pc.cast(ints, pa.string())
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t) or pa.types.is_decimal(t):
        return pc.cast(arr, pa.string())
    raise InvalidInput(f"column {name} has type {t}, which cannot be read as text",
                       details=[{"field": name, "problem": f"unsupported column type {t}"}])


def _numeric(arr: pa.Array, name: str, nullable: bool, lo: float | None, hi: float | None,
             problems: list) -> pa.Array:
    """A column as float64 (NaN as missing); rows that fail a check are added to `problems`."""
    t = arr.type
    not_number = np.zeros(len(arr), dtype=bool)
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        text = pc.utf8_trim_whitespace(arr.cast(pa.string()))
        text = pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.string()), text)
        ok = pc.match_substring_regex(text, _NUMBER, ignore_case=True)
        not_number = _mask(pc.invert(ok))
        problems.append((not_number, name, "not a number"))
        values = pc.cast(pc.if_else(ok, text, pa.scalar(None, pa.string())), pa.float64())
    elif pa.types.is_null(t):
        values = pa.nulls(len(arr), pa.float64())
    elif pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t) or pa.types.is_boolean(t):
        values = pc.cast(arr, pa.float64())
    else:
        raise InvalidInput(f"column {name} has type {t}, which cannot be read as a number",
                           details=[{"field": name, "problem": f"unsupported column type {t}"}])
    x = values.to_numpy(zero_copy_only=False)  # nulls become NaN
    missing = np.isnan(x)
    if not nullable:
        problems.append((missing & ~not_number, name, "required value is missing"))
    problems.append((np.isinf(x), name, "not a finite number"))
    if lo is not None:
        problems.append((x < lo, name, f"below the minimum {lo:g}"))
    if hi is not None:
        problems.append((x > hi, name, f"above the maximum {hi:g}"))
    return pa.array(x, mask=missing, type=pa.float64())
