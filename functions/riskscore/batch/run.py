"""One batch run: a source streamed through the vectorized scoring core into a destination.

`run(source, destination, run_date, model, settings)` is the same code path for the HTTP
function, the CloudEvent function and the command line. The model is pinned by the caller
(loaded once, before the first row), so every row of a run gets the same version.

Chunks are read (and cast) in order, scored by `settings.batch_workers` threads at once
(onnxruntime and Arrow release the GIL), and written in order; at most workers + 1 chunks are
in memory at any time, so memory stays flat whatever the input size (apart from the
duplicate-id gate's 8 bytes per row: riskscore.contract.quality).
"""

from __future__ import annotations

import time
from collections import Counter, deque
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timezone
from typing import Callable, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from riskscore.model.decision import DecisionCore
from riskscore.model.feeds import arrow_feeds
from riskscore.model.reasons import MAX_REASONS
from riskscore.settings import BatchSettings
from riskscore.batch.columns import Chunk, InputColumns
from riskscore.batch.gates import BatchGates
from riskscore.batch.schema import SCORES_SCHEMA, arrow_schema, schema_for
from riskscore.batch.sinks import open_sink
from riskscore.batch.sources import open_source

__all__ = ["BatchScorer", "run"]

Progress = Callable[[int, int, int], None]  # rows_in, rows_scored, rows_rejected so far


class BatchScorer:
    """A pinned model's scoring of cast chunks into SCORES rows (thread-safe)."""

    def __init__(self, model, run_date: date, scored_at: datetime | None = None, challenger=None):
        self.model = model
        self.challenger = challenger  # a riskscore.model.challenger.ShadowModel, or None
        self.core: DecisionCore = model.core
        self.columns = InputColumns.from_manifest(model.manifest)
        self.run_date = run_date
        self.scored_at = scored_at or datetime.now(timezone.utc)
        self.schema = arrow_schema(schema_for(SCORES_SCHEMA, self.columns.id), for_files=False)
        self._known = {f.name: pa.array(f.categories or [], pa.string())
                       for f in self.core.features if f.type == "categorical"}
        # Text columns are built from small dictionaries and integer codes: Arrow copies the
        # bytes in C, with no Python string per row.
        self._reason_names = pa.array([f.name for f in self.core.features], pa.string())
        self._band_names = pa.array(list(self.core.band_names), pa.string())
        self._segment_names = pa.array(list(self.core._segment_names), pa.string())
        self._version = pa.array([model.version], pa.string())

    def unknown_categories(self, rows: pa.RecordBatch) -> Counter:
        """Per categorical feature, the rows whose category training never saw (scored as
        missing under the `as_missing` policy; under `error` they are rejects, never here)."""
        counts: Counter = Counter()
        for name, known in self._known.items():
            col = rows.column(name)
            unseen = pc.sum(pc.and_(pc.is_valid(col), pc.invert(pc.is_in(col, value_set=known)))).as_py()
            if unseen:
                counts[name] += unseen
        return counts

    def scores(self, rows: pa.RecordBatch) -> pa.RecordBatch:
        """SCORES columns for cast rows (see riskscore.batch.schema)."""
        n = rows.num_rows
        feeds = arrow_feeds(rows, self.core.features, self._known)  # once: champion and challenger
        exposure = rows.column(self.columns.exposure).to_numpy(zero_copy_only=False) \
            if self.columns.exposure else None
        d = self.model.decide(feeds, exposure)
        nan = np.full(n, np.nan)
        cols: dict[str, pa.Array] = {}
        if self.columns.id:
            cols[self.columns.id] = rows.column(self.columns.id)
        cols["pd"] = pa.array(d["pd"])
        cols["score"] = pa.array(d["score"])
        cols["rating"] = _text(d["rating_index"], self._band_names)
        for name in ("lgd", "exposure", "expected_loss", "anomaly_score"):
            cols[name] = pa.array(d.get(name, nan), pa.float64(), from_pandas=True)  # NaN -> null
        cols["segment"] = pa.array(d["segment"], pa.int64()) if "segment" in d else pa.nulls(n, pa.int64())
        if "segment" in d and len(self._segment_names) and d["segment"].max(initial=0) < len(self._segment_names):
            cols["segment_name"] = _text(d["segment"], self._segment_names)
        else:
            cols["segment_name"] = pa.array(d["segment_name"], pa.string()) if "segment" in d else pa.nulls(n, pa.string())
        cols["anomaly_flag"] = pa.array(d["anomaly_flag"]) if "anomaly_flag" in d else pa.nulls(n, pa.bool_())
        for k in range(MAX_REASONS):
            cols[f"reason_{k + 1}"] = _text(d["reason_index"][:, k], self._reason_names)
        for k in range(MAX_REASONS):
            cols[f"reason_{k + 1}_contribution"] = pa.array(d["reason_contribution"][:, k], from_pandas=True)
        cols["model_version"] = _text(np.zeros(n, dtype=np.int32), self._version)
        cols["run_date"] = pa.array(np.full(n, np.datetime64(self.run_date, "D")), pa.date32())
        cols["scored_at"] = pa.array(np.full(n, np.datetime64(self.scored_at.replace(tzinfo=None), "us")),
                                     pa.timestamp("us", tz="UTC"))
        cols.update(challenger_columns(self.challenger, feeds, n))
        return pa.RecordBatch.from_arrays([cols[name] for name in self.schema.names], schema=self.schema)


def challenger_columns(challenger, feeds: dict[str, np.ndarray], n: int) -> dict[str, pa.Array]:
    """The challenger's columns of SCORES for `n` rows' champion graph inputs (nulls without a
    challenger)."""
    if challenger is None:
        return {"challenger_version": pa.nulls(n, pa.string()), "challenger_pd": pa.nulls(n, pa.float64()),
                "challenger_score": pa.nulls(n, pa.float64()), "challenger_rating": pa.nulls(n, pa.string())}
    from riskscore.model.challenger import adapt_feeds

    d = challenger.decide(adapt_feeds(feeds, challenger.model))
    return {"challenger_version": pa.array([challenger.version] * n, pa.string()),
            "challenger_pd": pa.array(d["pd"]), "challenger_score": pa.array(d["score"]),
            "challenger_rating": pa.array(d["rating"].tolist(), pa.string())}


def _text(codes: np.ndarray, names: pa.Array) -> pa.Array:
    """names[codes] as a plain string column; a negative code is null."""
    indices = pa.array(codes.astype(np.int32), mask=codes < 0)
    return pa.DictionaryArray.from_arrays(indices, names).cast(pa.string())


def _in_order(chunks: Iterator[Chunk], work, workers: int) -> Iterator[tuple[Chunk, pa.RecordBatch]]:
    """(chunk, work(chunk.rows)) in input order, `workers` chunks in flight at most."""
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="batch-score") as pool:
        pending: deque = deque()
        try:
            for chunk in chunks:
                pending.append((chunk, pool.submit(work, chunk.rows)))
                if len(pending) > workers:
                    done, future = pending.popleft()
                    yield done, future.result()
            while pending:
                done, future = pending.popleft()
                yield done, future.result()
        finally:
            for _, future in pending:
                future.cancel()


def run(source, destination: str, run_date: date, model, settings: BatchSettings,
        progress: Progress | None = None, challenger=None, allow=()) -> dict:
    """Score `source` into `destination` for `run_date`; returns the run's summary (with the
    data-quality report under `data_quality`).

    Raises InputNotFound / InvalidInput / OutputNotWritable (nothing written) for a missing or
    unusable input or destination, and QualityGateFailed (422, nothing written) when a
    data-quality gate not in `allow` fails; bad rows are rejects, never errors. `challenger`
    (PinnedModels.challenger()): its shadow decision goes to the challenger_* columns.
    """
    started = time.perf_counter()
    scorer = BatchScorer(model, run_date, challenger=challenger)
    gates = BatchGates(model.manifest, allow)
    reader = open_source(source, scorer.columns, settings.batch_chunk_rows, project=settings.google_cloud_project)
    sink = open_sink(destination, run_date, scorer.columns.id, project=settings.google_cloud_project,
                     staging_dataset=settings.batch_staging_dataset)
    rows_in = rows_scored = rows_rejected = 0
    unknown: Counter = Counter()
    try:
        for chunk, scores in _in_order(reader.chunks(gates.observe), scorer.scores, settings.batch_workers):
            sink.write(scores, chunk.rejects)
            unknown += scorer.unknown_categories(chunk.rows)
            rows_in += chunk.rows_in
            rows_scored += scores.num_rows
            rows_rejected += chunk.rejects.num_rows
            if progress:
                progress(rows_in, rows_scored, rows_rejected)
        quality = gates.enforce(f"input {reader.source}")  # before anything is committed
        output, rejects = sink.commit()
    except BaseException:
        sink.abort()
        raise
    seconds = time.perf_counter() - started
    return {"rows_in": rows_in, "rows_scored": rows_scored, "rows_rejected": rows_rejected,
            "output": output, "rejects": rejects, "model_version": model.version,
            **({"challenger_version": challenger.version} if challenger is not None else {}),
            "unknown_categories": dict(sorted(unknown.items())),
            "run_date": run_date.isoformat(), "seconds": round(seconds, 3),
            "rows_per_second": round(rows_in / seconds, 1) if seconds > 0 else None,
            "data_quality": quality}
