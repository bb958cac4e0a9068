"""CSV inputs read row by row as the README promises: a bad line is a reject, never the file.

`read_csv(fh, kind, names, block_rows)` yields `Part`s: raw text columns (`names` only) of the
rows that parse, each with its 1-based row position in the file (the header is not a row), and
what was wrong with the others, by position. Positions count records, so a quoted line break
inside a value (`newlines_in_values`, at any block boundary) never shifts them.

  - a row with more or fewer fields than the header: rejected ("expected 14 fields, found 15");
  - bytes that are not UTF-8 in a column the model reads: that row rejected ("expected UTF-8
    text, found undecodable bytes"), the value itself never echoed;
  - a header without a trailing newline: a file of no rows.
Messages carry the file, the position and expected vs found, never a row's values (pyarrow's
own messages quote the row, so they are never passed on).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from riskscore.errors import InvalidInput

__all__ = ["Part", "block_bytes_for", "header", "read_csv"]


@dataclass
class Part:
    rows: pa.RecordBatch                     # text columns of the rows that parsed
    positions: np.ndarray                    # their 1-based positions in the file (int64)
    problems: list = field(default_factory=list)  # (mask over rows, column, reason)
    skipped: list = field(default_factory=list)   # (position, reason) of rows that did not parse


class _Terminated:
    """A binary file that ends with a newline: pyarrow reads a header-only file without one
    as "empty" (no rows); with it, as a header and no rows."""

    def __init__(self, raw):
        self.raw, self.last, self.done = raw, b"\n", False
        self.closed = False

    def read(self, n=-1):
        # Fill the request (Arrow treats a short first read as the whole first block), and
        # add the missing newline to the last one.
        parts, size = [], 0
        while n is None or n < 0 or size < n:
            data = self.raw.read(-1 if n is None or n < 0 else n - size)
            if not len(data):  # bytes, or a pyarrow Buffer from Arrow's own streams
                if not self.done and self.last != b"\n":
                    self.done = True
                    parts.append(b"\n")
                break
            self.last = bytes(memoryview(data)[-1:])
            parts.append(data)
            size += len(data)
        if len(parts) == 1:
            return parts[0]
        return b"".join(bytes(p) if not isinstance(p, bytes) else p for p in parts)

    def readable(self):
        return True

    def close(self):
        self.closed = True


def _stream(fh, kind: str):
    stream = pa.CompressedInputStream(fh, "gzip") if kind == "csv.gz" else fh
    return pa.PythonFile(_Terminated(stream), mode="r")


def _unreadable(name: str, after: int) -> InvalidInput:
    return InvalidInput(f"{name}: cannot be read as CSV after row {after} (expected a header line and rows of "
                        "comma-separated fields)", details=[{"field": "input", "problem": f"unreadable file {name}"}])


def header(fh, kind: str, name: str) -> list[str]:
    """The column names of a CSV file's header."""
    try:
        return pacsv.open_csv(_stream(fh, kind), read_options=pacsv.ReadOptions(block_size=1 << 20, use_threads=False),
                              parse_options=pacsv.ParseOptions(newlines_in_values=True,
                                                               invalid_row_handler=lambda row: "skip"),
                              convert_options=pacsv.ConvertOptions(strings_can_be_null=False,
                                                                   auto_dict_encode=False)).schema.names
    except (pa.ArrowException, OSError, UnicodeDecodeError):
        raise _unreadable(name, 0) from None


def block_bytes_for(chunk_rows: int) -> int:
    """The CSV block size for chunks of `chunk_rows` rows (at least 1 MiB): what batch_score
    and Dataflow both read with."""
    return max(1 << 20, chunk_rows * 128)


def read_csv(fh, kind: str, names: list[str], block_bytes: int, name: str) -> Iterator[Part]:
    skipped: list[tuple[int, str]] = []

    def bad_row(row) -> str:
        # row.number counts records from 1 with the header: the data row's position is one less.
        position = row.number - 1 if row.number is not None and row.number > 0 else -1
        skipped.append((position, f"expected {row.expected_columns} fields, found {row.actual_columns}"))
        return "skip"

    convert = pacsv.ConvertOptions(column_types={c: pa.binary() for c in names}, include_columns=names,
                                   include_missing_columns=True, strings_can_be_null=False)
    # use_threads=False: blocks are parsed in order, so a bad row is reported (with its record
    # number) before the batch of the rows around it is handed out.
    read = pacsv.ReadOptions(block_size=block_bytes, use_threads=False)
    parse = pacsv.ParseOptions(newlines_in_values=True, invalid_row_handler=bad_row)
    good = 0
    adjust = np.zeros(0, dtype=np.int64)  # skipped position minus skipped rows before it
    try:
        reader = pacsv.open_csv(_stream(fh, kind), read_options=read, parse_options=parse, convert_options=convert)
        for batch in reader:
            new, skipped[:] = list(skipped), []
            if any(p < 0 for p, _ in new):
                raise _unreadable(name, good)
            if new:
                pos = np.array(sorted(p for p, _ in new), dtype=np.int64)
                adjust = np.concatenate([adjust, pos - (np.arange(len(pos)) + len(adjust))])
            ordinals = np.arange(good + 1, good + batch.num_rows + 1, dtype=np.int64)
            positions = ordinals + np.searchsorted(adjust, ordinals, side="right")
            good += batch.num_rows
            rows, problems = _decode(batch)
            yield Part(rows, positions, problems, new)
        if skipped:  # bad rows after the last good one
            yield Part(_decode(pa.RecordBatch.from_pylist([], schema=pa.schema([(c, pa.binary()) for c in names])))[0],
                       np.zeros(0, dtype=np.int64), [], list(skipped))
    except (pa.ArrowException, OSError, UnicodeDecodeError):
        raise _unreadable(name, good + len(adjust)) from None


def _decode(batch: pa.RecordBatch) -> tuple[pa.RecordBatch, list]:
    """Binary columns as UTF-8 text; values that are not UTF-8 become null, with a problem."""
    arrays, problems = [], []
    for col, arr in zip(batch.schema.names, batch.columns):
        try:
            arrays.append(arr.cast(pa.string()))
            continue
        except pa.ArrowInvalid:
            pass
        values = arr.to_pylist()
        bad = np.array([v is not None and not _utf8(v) for v in values], dtype=bool)
        arrays.append(pa.array([None if b else v.decode() for v, b in zip(values, bad)], pa.string()))
        problems.append((bad, col, "expected UTF-8 text, found undecodable bytes"))
    return pa.RecordBatch.from_arrays(arrays, names=batch.schema.names), problems


def _utf8(value: bytes) -> bool:
    try:
        value.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False
