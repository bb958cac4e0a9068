"""Batch scoring on Apache Beam / Dataflow: batch_score's sources, scoring core, output columns,
rejects, layout and idempotency, spread over many workers (see README "Score hundreds of
millions of rows"). Runs in its own virtualenv (.venv-beam: `make beam-setup`), because
apache-beam 2.77 requires pyarrow<26 and the functions pin 26.

    python -m dataflow --input … --output … --run-date … --model-store … [Beam options]
"""
