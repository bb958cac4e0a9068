"""Command line (and Flex Template entry point) of the Dataflow pipeline.

    python -m dataflow --input SOURCE --output DEST [--run-date YYYY-MM-DD] --model-store STORE
        [--model-name NAME] [--model-version V] [--chunk-rows N]
        [--runner DirectRunner|DataflowRunner --project P --region R --temp_location gs://…
         --max_num_workers N …]   (any Beam pipeline option)

SOURCE and DEST as for `python -m riskscore.batch`. The model version is pinned here, at launch
(MODEL_VERSION, --model-version or current.json now). On the DirectRunner (and with --wait) it
waits for the run and prints its summary from the Beam metrics (rows_in = rows_scored +
rows_rejected); on Dataflow it prints the job id and returns. Exit 2: unusable input or output
(nothing ran), 1: model store unreachable.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date

from riskscore.errors import RiskScoreError
from riskscore.settings import BatchSettings


def parse(argv):
    """(our arguments, Beam's). Each flag also takes its underscore form (`--run_date`): Flex
    Template parameters (dataflow/metadata.json) are passed as `--name=value`."""
    parser = argparse.ArgumentParser(prog="python -m dataflow", description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--input", help="bq://project.dataset.table, gs://bucket/path or a local file/folder")
    source.add_argument("--query", help="BigQuery SQL whose result is the input")
    parser.add_argument("--output", required=True, help="bq://project.dataset.table, gs://bucket/prefix or a local folder")
    parser.add_argument("--run-date", "--run_date", type=date.fromisoformat, default=None,
                        help="YYYY-MM-DD (default: the launch day, UTC)")
    parser.add_argument("--model-store", "--model_store",
                        help="local folder or gs://bucket/prefix (default: MODEL_STORE)")
    parser.add_argument("--model-name", "--model_name")
    parser.add_argument("--model-version", "--model_version", help="pin a version (default: current.json at launch)")
    parser.add_argument("--chunk-rows", "--chunk_rows", type=int, help="rows per chunk (default: BATCH_CHUNK_ROWS)")
    parser.add_argument("--max-batch-chunks", "--max_batch_chunks", type=int, default=4,
                        help="chunks per onnxruntime call")
    parser.add_argument("--staging-dataset", "--staging_dataset", help="project.dataset for BigQuery staging tables")
    parser.add_argument("--wait", action="store_true", help="on Dataflow too: wait and print the summary")
    return parser.parse_known_args(argv)


def counters(result) -> dict[str, int]:
    from apache_beam.metrics.metric import MetricsFilter

    from .handler import METRICS_NAMESPACE

    found = result.metrics().query(MetricsFilter().with_namespace(METRICS_NAMESPACE))["counters"]
    totals: dict[str, int] = {}
    for c in found:
        value = c.committed if c.committed is not None else c.attempted
        totals[c.key.metric.name] = totals.get(c.key.metric.name, 0) + int(value or 0)
    return totals


def main(argv=None) -> int:
    args, beam_args = parse(sys.argv[1:] if argv is None else argv)
    import apache_beam as beam
    from apache_beam.options.pipeline_options import GoogleCloudOptions, PipelineOptions, StandardOptions

    from riskscore.batch.__main__ import summary_table

    from .pipeline import build, launch_job

    options = PipelineOptions(beam_args, save_main_session=False)
    overrides = {"model_store": args.model_store, "model_name": args.model_name,
                 "model_version": args.model_version, "batch_staging_dataset": args.staging_dataset,
                 "google_cloud_project": options.view_as(GoogleCloudOptions).project}
    settings = BatchSettings.from_env().model_copy(update={k: v for k, v in overrides.items() if v is not None})
    settings = BatchSettings.model_validate(settings.model_dump())
    runner = options.view_as(StandardOptions).runner or "DirectRunner"
    try:
        from riskscore.batch.job import today

        job = launch_job({"query": args.query} if args.query else args.input, args.output, args.run_date or today(),
                         settings, temp_location=options.view_as(GoogleCloudOptions).temp_location,
                         chunk_rows=args.chunk_rows, max_batch_chunks=args.max_batch_chunks)
        pipeline = beam.Pipeline(options=options)
        build(pipeline, job, ort_intra_op_threads=settings.ort_intra_op_threads)
        result = pipeline.run()
        if "Dataflow" in runner and not args.wait:
            print(json.dumps({"job_id": getattr(result, "job_id", lambda: None)(), "model_version": job.model_version,
                              "run_date": job.run_date.isoformat()}))
            return 0
        result.wait_until_finish()
    except RiskScoreError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        for d in exc.details:
            print(f"  {d.get('field')}: {d.get('problem')}", file=sys.stderr)
        return 2 if exc.status < 500 else 1
    totals = counters(result)
    summary = {"rows_in": totals.get("rows_in", 0), "rows_scored": totals.get("rows_scored", 0),
               "rows_rejected": totals.get("rows_rejected", 0), "model_version": job.model_version,
               "run_date": job.run_date.isoformat(), "output": args.output}
    print(summary_table(summary))
    if summary["rows_in"] != summary["rows_scored"] + summary["rows_rejected"]:
        print("error: rows_in != rows_scored + rows_rejected", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
