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

from riskscore.batch.cli import add_job_arguments, job_source, report_error, settings_from, summary_table
from riskscore.errors import RiskScoreError


def parse(argv):
    """(our arguments, Beam's). Each flag also takes its underscore form (`--run_date`): Flex
    Template parameters (dataflow/metadata.json) are passed as `--name=value`."""
    parser = argparse.ArgumentParser(prog="python -m dataflow", description=__doc__.split("\n\n")[0])
    add_job_arguments(parser, underscores=True)
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

    from .pipeline import build, launch_job

    options = PipelineOptions(beam_args, save_main_session=False)
    settings = settings_from(args, batch_staging_dataset=args.staging_dataset,
                             google_cloud_project=options.view_as(GoogleCloudOptions).project)
    runner = options.view_as(StandardOptions).runner or "DirectRunner"
    try:
        from riskscore.batch.job import today

        job = launch_job(job_source(args), args.output, args.run_date or today(),
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
        return report_error(exc)
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
