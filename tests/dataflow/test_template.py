"""The Flex Template's files agree with the pipeline they launch: every parameter of
dataflow/metadata.json is a flag of `python -m dataflow` (passed as `--name=value`), every
parameter batch_score's launch sends is declared, and the image runs the entry file."""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
METADATA = json.loads((ROOT / "dataflow" / "metadata.json").read_text())


def test_every_template_parameter_is_a_flag_of_the_pipeline():
    from dataflow.__main__ import parse

    values = {"input": "gs://b/in/", "query": None, "output": "gs://b/out", "run_date": "2026-11-20",
              "model_store": "gs://m", "model_name": "credit_default", "model_version": "v1", "chunk_rows": "100",
              "staging_dataset": "p.staging"}
    names = [p["name"] for p in METADATA["parameters"]]
    assert set(names) == set(values)
    argv = [f"--{n}={v}" for n, v in values.items() if v is not None]
    args, beam_args = parse(argv + ["--runner=DataflowRunner"])
    assert beam_args == ["--runner=DataflowRunner"]  # ours are all taken, Beam's passed on
    assert (args.input, args.output, args.run_date, args.model_store, args.model_version, args.chunk_rows,
            args.staging_dataset) == ("gs://b/in/", "gs://b/out", date(2026, 11, 20), "gs://m", "v1", 100, "p.staging")
    for p in METADATA["parameters"]:  # the values above pass the template's own checks
        for regex in p.get("regexes", []):
            assert values[p["name"]] is None or re.match(regex, values[p["name"]]), p["name"]


def test_batch_scores_launch_sends_only_declared_parameters_and_every_required_one():
    from riskscore.batch.route import launch_body
    from riskscore.settings import BatchSettings

    settings = BatchSettings(model_store="gs://m", dataflow_min_rows=1, dataflow_template="gs://m/t.json",
                             dataflow_region="europe-west1", dataflow_temp_location="gs://b/tmp",
                             google_cloud_project="p", batch_staging_dataset="p.staging")
    sent = launch_body("gs://b/in/", "bq://p.d.t", date(2026, 11, 20), "v1", settings)["launchParameter"]["parameters"]
    declared = {p["name"]: p for p in METADATA["parameters"]}
    assert set(sent) <= set(declared)
    assert {n for n, p in declared.items() if not p.get("isOptional")} <= set(sent)


def test_the_image_installs_the_runtime_pins_and_runs_the_entry_file():
    dockerfile = (ROOT / "dataflow" / "Dockerfile").read_text()
    assert "pip install --no-cache-dir -r /template/dataflow/requirements.txt" in dockerfile
    assert "FLEX_TEMPLATE_PYTHON_PY_FILE=/template/launch.py" in dockerfile
    assert "COPY dataflow/launch.py /template/launch.py" in dockerfile
    assert re.search(r"apache/beam_python\$\{PYTHON_VERSION\}_sdk:\$\{BEAM_VERSION\}", dockerfile)
    beam = re.search(r"apache-beam\[gcp\]==([\d.]+)", (ROOT / "dataflow" / "requirements.txt").read_text()).group(1)
    assert f"ARG BEAM_VERSION={beam}" in dockerfile  # the SDK image is the pinned Beam's
    assert 'ENTRYPOINT ["/opt/apache/beam/boot"]' in dockerfile  # workers boot Beam's SDK harness
    assert "from dataflow.__main__ import main" in (ROOT / "dataflow" / "launch.py").read_text()
