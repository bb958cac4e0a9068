"""What a first real deployment needs that the emulators cannot show: staging datasets, the
pause before the storage trigger, thresholds sized to timeouts, Scheduler deadlines, committed
variables and upload rules, and a smoke test that follows the deployed model."""

from __future__ import annotations

import fnmatch
import json
import re
import subprocess
import sys

import pytest

from support.terraform import expr, module, module_calls, resources, unquote, variables

from .iam_support import RESOLVER, ROOT, load_script


# --- Dataflow: staging dataset, its own bucket ---------------------------------------------

def test_the_rescore_and_the_backfill_stage_in_the_staging_dataset():
    assert unquote(module_calls(".")["dataflow"]["staging_dataset"]) == "${var.project_id}.${module.bigquery.staging_dataset_id}"
    flows = resources("infra/dataflow")
    rescore = unquote(flows["google_cloud_scheduler_job.rescore"]["http_target"][0]["body"])
    assert re.search(r"staging_dataset\s*=\s*var\.staging_dataset", rescore)
    backfill = flows["google_dataflow_flex_template_job.backfill"]["parameters"]
    assert expr(backfill["staging_dataset"]) == "var.staging_dataset"
    # ... where the Dataflow identity may create tables (and not in the output's dataset).
    assert RESOLVER.check(("dataflow", "bigquery.tables.insert", "bq://staging.t")) is None
    assert RESOLVER.check(("dataflow", "bigquery.tables.insert", "bq://main.t")) is not None


def test_dataflow_temp_and_staging_files_are_outside_the_triggered_bucket():
    env = module("infra/dataflow").files["main.tf"]["locals"][0]["environment"]
    text = json.dumps(env)
    assert "var.dataflow_bucket" in text and "var.batch_bucket" not in text
    trigger = next(b for _, n, _, b in module("infra/functions").blocks("module") if n == "batch_score_gcs")
    assert expr(trigger["event_trigger"]["bucket"]) == "var.batch_bucket"
    assert expr(module_calls(".")["dataflow"]["dataflow_bucket"]) == "module.storage.dataflow_bucket"


# --- the storage trigger waits for the service agents' grants -------------------------------

def test_a_pause_separates_the_agents_grants_from_the_trigger():
    pause = resources("infra/iam")["time_sleep.grants_propagate"]
    waits_for = " ".join(expr(d) for d in pause["depends_on"])
    assert "google_project_iam_member.gcs_agent_publishes" in waits_for
    assert "google_project_iam_member.batch_trigger_events" in waits_for
    assert unquote(pause["create_duration"]) == "${var.grant_propagation_s}s"
    assert int(variables("infra/iam")["grant_propagation_s"]["default"]) >= 60
    assert "module.iam" in " ".join(expr(d) for d in module_calls(".")["functions"]["depends_on"])
    for rel in (".", "infra/iam"):
        providers = module(rel).files["versions.tf"]["terraform"][0]["required_providers"][0]
        assert unquote(providers["time"]["source"]) == "hashicorp/time"


# --- thresholds sized to timeouts, Scheduler deadlines --------------------------------------

ROWS_PER_S = 100_000_000 / 3600  # the README's lower rate


def _function(name: str) -> dict:
    return next(b for _, n, _, b in module("infra/functions").blocks("module") if n == name)


def test_each_batch_function_routes_to_dataflow_well_inside_its_timeout():
    gcs = _function("batch_score_gcs")
    assert "DATAFLOW_MIN_ROWS = tostring(var.batch_gcs_dataflow_min_rows)" in re.sub(r"\s+", " ", unquote(gcs["environment_variables"]))
    for name, var in (("batch_score", "dataflow_min_rows"), ("batch_score_gcs", "batch_gcs_dataflow_min_rows")):
        timeout = int(_function(name)["timeout_s"])
        default = int(variables(".")[var]["default"])
        assert default / ROWS_PER_S <= timeout / 2, (name, default, timeout)


@pytest.mark.parametrize("job, function", [("batch", "batch_score"), ("drift", "drift_check")])
def test_a_scheduler_retry_never_overlaps_the_attempt_it_replaces(job, function):
    body = resources("infra/scheduler")[f"google_cloud_scheduler_job.{job}"]
    deadline = int(unquote(body["attempt_deadline"]).rstrip("s"))
    assert deadline <= 1800  # Scheduler's limit for HTTP targets
    assert int(_function(function)["timeout_s"]) <= deadline


def test_monitoring_waits_for_the_apis_and_alerts_name_the_model():
    assert "module.services" in " ".join(expr(d) for d in module_calls(".")["monitoring"]["depends_on"])
    assert expr(module_calls(".")["monitoring"]["model_name"]) == "var.model_name"


def test_the_launcher_base_image_is_pinned():
    text = (ROOT / "dataflow" / "Dockerfile").read_text()
    launcher = re.search(r"^FROM (\S+) AS launcher", text, re.M).group(1)
    tag = re.search(r"^ARG LAUNCHER_TAG=(\S+)", text, re.M).group(1)
    assert launcher.endswith(":${LAUNCHER_TAG}") and tag != "latest" and re.fullmatch(r"\d{8}_RC\d\d", tag)


# --- variables: the environment's committed file, the image tags, the invokers --------------

def _tfvars(path) -> dict:
    import hcl2

    return {k: v for k, v in hcl2.loads(path.read_text()).items() if not k.startswith("__")}


def test_the_environment_file_gives_every_required_variable_but_the_builds_own():
    given = set(_tfvars(ROOT / "envs" / "prod.tfvars"))
    required = {n for n, v in variables(".").items() if "default" not in v}
    from_build = {"project_id", "training_image_tag", "dataflow_image_tag"}  # cloudbuild.yaml's env
    assert required - from_build <= given
    assert {"alert_email", "model_name", "model_spec", "score_invoker_members", "deploy_service_account"} <= given
    build = (ROOT / "cloudbuild.yaml").read_text()
    assert all(f"TF_VAR_{name}=" in build for name in from_build)


def test_image_tags_have_no_default_so_a_plain_apply_never_falls_back_to_latest():
    for name in ("training_image_tag", "dataflow_image_tag"):
        assert "default" not in variables(".")[name]
        assert name in _tfvars(ROOT / "terraform.tfvars.example")


def test_the_deploy_identity_is_added_to_the_score_invokers_never_replacing_them():
    members = re.sub(r"\s+", " ", unquote(_function("score")["invoker_members"]))
    assert "var.score_invoker_members" in members and "var.deploy_service_account" in members
    assert members.startswith("${merge(")


@pytest.mark.parametrize("path", ["envs/prod.tfvars", ".terraform.lock.hcl", "cloudbuild.yaml",
                                  "cloudbuild.test.yaml", "training/Dockerfile.dockerignore",
                                  "dataflow/Dockerfile.dockerignore", "scripts/smoke_score.sh",
                                  "scripts/smoke_request.py", "functions/main.py", "infra/iam/main.tf",
                                  "infra/iam-data/roles.json", "Makefile", "requirements-dev.txt"])
def test_gcloudignore_uploads_what_the_builds_need(path):
    lines = [line.strip() for line in (ROOT / ".gcloudignore").read_text().splitlines()]
    rules = [line for line in lines if line and not line.startswith("#")]
    assert not any(line.startswith("#!include") for line in lines)  # .gitignore not read
    ignored = False
    for rule in rules:  # gitignore semantics, enough for these rules: last match wins
        negate, pattern = rule.startswith("!"), rule.lstrip("!")
        anchored = pattern.startswith("/")
        pattern = pattern.strip("/")
        parts = path.split("/")
        candidates = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
        if not anchored:
            candidates += [p for i in range(len(parts)) for p in ["/".join(parts[i:j]) for j in range(i + 1, len(parts) + 1)]]
        if any(fnmatch.fnmatch(c, pattern) for c in candidates):
            ignored = not negate
    assert not ignored, f"{path} is not uploaded"


def test_gcloudignore_leaves_virtualenvs_and_local_state_behind():
    rules = (ROOT / ".gcloudignore").read_text()
    for entry in (".venv/", ".git/", ".terraform/", "*.tfstate", "terraform.tfvars"):
        assert entry in rules


# --- the model: spec and name followed by the training job and the smoke test ---------------

def test_the_training_job_trains_the_configured_spec():
    assert expr(module_calls(".")["training"]["spec_path"]) == "var.model_spec"
    job = resources("infra/training")["google_cloud_run_v2_job.training"]
    args = job["template"][0]["template"][0]["containers"][0]["args"]
    assert "${local.spec_in_job}" in [unquote(a) for a in args]


def test_the_smoke_request_is_built_from_the_served_model(function_app, trained_store):
    smoke_request = load_script("smoke_request")
    client = function_app(trained_store.path, target="score")
    info = client.get("/")
    assert info.status_code == 200
    body = smoke_request.request_body(info.json())
    assert set(body["features"]) == {f["name"] for f in info.json()["features"]}
    scored = client.post("/", json=body)
    assert scored.status_code == 200, scored.text
    assert 0.0 <= scored.json()["pd"] <= 1.0


def test_the_smoke_request_script_runs_with_the_standard_library_alone():
    info = {"features": [{"name": "age", "type": "numeric", "min": 18, "max": 80},
                         {"name": "housing", "type": "categorical", "categories": ["own", "rent"]},
                         {"name": "income", "type": "numeric", "min": None, "max": None}]}
    out = subprocess.run([sys.executable, "-S", str(ROOT / "scripts" / "smoke_request.py"), json.dumps(info)],
                         capture_output=True, text=True, check=True).stdout
    assert json.loads(out)["features"] == {"age": 49.0, "housing": "own", "income": 0.0}


def test_the_smoke_request_refuses_model_information_without_features():
    smoke_request = load_script("smoke_request")
    with pytest.raises(ValueError, match="no features"):
        smoke_request.request_body({"status": "ok"})
