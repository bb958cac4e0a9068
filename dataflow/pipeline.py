"""The Beam pipeline: batch_score's sources, scoring and sinks, spread over many workers.

    Files/streams -> Split (units) -> Reshuffle -> Read (cast by the spec's types: rows,
    rejects, counts) -> RunInference (BundleModelHandler) -> Stage -> Finalize (commit)

`launch_job` does the launch-time work (pin the model version, resolve and check the source,
check the destination) so a bad run fails before any worker starts, with batch_score's errors.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timezone

import apache_beam as beam
from apache_beam.ml.inference.base import KeyedModelHandler, RunInference
from apache_beam.pvalue import AsList

from riskscore.batch.columns import InputColumns

from .files import join
from .handler import METRICS_NAMESPACE, BundleModelHandler
from .output import Finalize, Stage
from .read import Plan, Unit, chunks, plan, split


@dataclass(frozen=True)
class Job:
    """Everything a run needs, fixed at launch."""

    source: object  # a batch_score input: str or {"query": ...}
    destination: str
    run_date: date
    model_store: str
    model_name: str
    model_version: str  # pinned: never "current"
    columns: InputColumns
    plan: Plan
    staging_prefix: str
    scored_at: datetime
    chunk_rows: int = 16_384
    max_batch_chunks: int = 4
    project: str | None = None
    staging_dataset: str | None = None


def launch_job(source, destination: str, run_date: date, settings, temp_location: str | None = None,
               chunk_rows: int | None = None, max_batch_chunks: int = 4) -> Job:
    """Pin the version (MODEL_VERSION or current.json now), check input and output; a Job."""
    from riskscore.batch.sinks import parse_destination
    from riskscore.errors import InvalidRequest
    from riskscore.contract.manifest import Manifest
    from riskscore.model.loader import load_bundle

    kind, where = parse_destination(destination)
    # The whole bundle, verified: a broken version fails the launch, not every worker.
    manifest = Manifest.of(load_bundle(settings).manifest)
    columns = InputColumns.from_manifest(manifest)
    planned = plan(source, columns, project=settings.google_cloud_project)
    run = f"dataflow-{uuid.uuid4().hex[:12]}"
    if kind == "bq":
        if not temp_location:
            raise InvalidRequest("output bq://…: the pipeline stages its rows under --temp_location; none given",
                                 details=[{"field": "temp_location", "problem": "required for a BigQuery output"}])
        prefix = join(temp_location, run)
    else:
        prefix = join(where, "_tmp", run)
    return Job(source=source, destination=destination, run_date=run_date, model_store=settings.model_store,
               model_name=settings.model_name, model_version=manifest.version, columns=columns,
               plan=planned, staging_prefix=prefix, scored_at=datetime.now(timezone.utc),
               chunk_rows=chunk_rows or settings.batch_chunk_rows, max_batch_chunks=max_batch_chunks,
               project=settings.google_cloud_project, staging_dataset=settings.batch_staging_dataset)


class ReadUnit(beam.DoFn):
    """Unit -> (chunk key, cast rows); tagged `rejects` (chunk key, rejects) and `counts`
    (unit key, rows in)."""

    def __init__(self, columns: InputColumns, chunk_rows: int, plan_kind: str):
        self.columns, self.chunk_rows, self.plan_kind = columns, chunk_rows, plan_kind
        self.rows_in = beam.metrics.Metrics.counter(METRICS_NAMESPACE, "rows_in")
        self.rows_rejected = beam.metrics.Metrics.counter(METRICS_NAMESPACE, "rows_rejected")

    def process(self, unit: Unit):
        for i, chunk in enumerate(chunks(unit, self.columns, self.chunk_rows, self.plan_kind)):
            key = (*unit.key, i)
            self.rows_in.inc(chunk.rows_in)
            self.rows_rejected.inc(chunk.rejects.num_rows)
            yield beam.pvalue.TaggedOutput("counts", (unit.key, chunk.rows_in))
            if chunk.rejects.num_rows:
                yield beam.pvalue.TaggedOutput("rejects", (key, chunk.rejects))
            if chunk.rows.num_rows:
                yield key, chunk.rows


def _units(indexed_name, plan_kind: str):
    if plan_kind == "streams":
        index, name = indexed_name
        return [Unit((index, 0), name)]
    return list(split(indexed_name))


def build(p: beam.Pipeline, job: Job, *, ort_intra_op_threads: int = 1):
    """Add the run to pipeline `p`; returns the PCollection of its one summary dict."""
    handler = BundleModelHandler(job.model_store, job.model_name, job.model_version, job.run_date,
                                 job.scored_at, ort_intra_op_threads=ort_intra_op_threads,
                                 max_batch_chunks=job.max_batch_chunks)
    read = (p
            | "Inputs" >> beam.Create(list(enumerate(job.plan.names)))
            | "Split" >> beam.FlatMap(_units, job.plan.kind)
            | "Spread" >> beam.Reshuffle()
            | "Read" >> beam.ParDo(ReadUnit(job.columns, job.chunk_rows, job.plan.kind)).with_outputs(
                "rejects", "counts", main="rows"))
    scores = (read.rows
              | "Score" >> RunInference(KeyedModelHandler(handler))
              | "Scores" >> beam.MapTuple(lambda key, result: (key, result.inference)))
    staged_scores = scores | "StageScores" >> beam.ParDo(
        Stage(join(job.staging_prefix, "scores"), "scores", counter="rows_scored"))
    staged_rejects = read.rejects | "StageRejects" >> beam.ParDo(Stage(join(job.staging_prefix, "rejects"), "rejects"))
    counts = read.counts | "CountUnits" >> beam.CombinePerKey(sum)
    return (p
            | "Once" >> beam.Create([None])
            | "Commit" >> beam.ParDo(Finalize(job.destination, job.run_date, job.columns.id, job.staging_prefix,
                                              project=job.project, staging_dataset=job.staging_dataset,
                                              model_version=job.model_version),
                                     AsList(staged_scores), AsList(staged_rejects), AsList(counts)))
