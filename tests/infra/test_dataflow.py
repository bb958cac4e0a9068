"""Terraform of the Dataflow pipeline (infra/dataflow), read with python-hcl2: the template spec
beside the bundles names the image Cloud Build pushes and the template's own parameters; the
monthly rescore launches it through the Dataflow REST API with an OAuth token and only declared
parameters; the one-off job is google-beta's; the batch functions launch the same template."""

from __future__ import annotations

import json
import re
from datetime import date

from support.terraform import ROOT, block, expr, module, module_calls, resources, unquote

DATAFLOW = "infra/dataflow"
METADATA = json.loads((ROOT / "dataflow" / "metadata.json").read_text())
DECLARED = {p["name"]: p for p in METADATA["parameters"]}
REQUIRED = {n for n, p in DECLARED.items() if not p.get("isOptional")}


def _locals() -> dict:
    return module(DATAFLOW).files["main.tf"]["locals"][0]


def test_the_template_spec_is_written_beside_the_bundles_with_image_metadata_and_environment():
    spec = resources(DATAFLOW, "google_storage_bucket_object")["google_storage_bucket_object.template"]
    assert expr(spec["bucket"]) == "var.model_bucket" and unquote(spec["name"]).startswith("templates/")
    # What `gcloud dataflow flex-template build` would write.
    assert unquote(spec["content"]) == ('${jsonencode({image = local.image, sdkInfo = {language = "PYTHON"}, '
                                        'metadata = jsondecode(var.metadata_json), '
                                        'defaultEnvironment = local.environment})}')
    env = _locals()["environment"]
    for key, value in (("serviceAccountEmail", "var.service_account_email"), ("sdkContainerImage", "local.image"),
                       ("tempLocation", "local.temp_location")):
        assert f"{key} = {value}" in env, key
    assert unquote(_locals()["image"]) == "${var.image_repository}/dataflow:${var.image_tag}"
    root = module_calls(".")["dataflow"]
    assert unquote(root["metadata_json"]) == '${file("${path.root}/dataflow/metadata.json")}'
    assert expr(root["service_account_email"]) == 'module.iam.emails["dataflow"]'
    assert expr(root["image_repository"]) == "module.training.repository"


def test_cloud_build_builds_and_pushes_the_template_image_before_apply():
    build = (ROOT / "cloudbuild.yaml").read_text()
    assert "docker build --platform linux/amd64 -f dataflow/Dockerfile" in build and "/dataflow:${BUILD_ID}" in build
    assert "TF_VAR_dataflow_image_tag=${BUILD_ID}" in build
    assert build.index("id: dataflow-image") < build.index("id: plan")


def test_the_monthly_rescore_launches_the_template_with_an_oauth_token_and_declared_parameters():
    job = resources(DATAFLOW, "google_cloud_scheduler_job")["google_cloud_scheduler_job.rescore"]
    http = block(job, "http_target")
    assert unquote(http["uri"]) == ("https://dataflow.googleapis.com/v1b3/projects/${var.project_id}/locations/"
                                    "${var.region}/flexTemplates:launch")
    token = block(http, "oauth_token")
    assert expr(token["service_account_email"]) == "var.scheduler_service_account_email"
    assert unquote(token["scope"]) == "https://www.googleapis.com/auth/cloud-platform"
    assert "oidc_token" not in http  # a Google API takes an OAuth access token
    assert expr(module_calls(".")["dataflow"]["scheduler_service_account_email"]) == 'module.iam.emails["scheduler"]'
    body = unquote(http["body"])
    sent = set(re.findall(r"(\w+)\s*=", re.search(r"parameters\s*=\s*\{([^}]*)\}", body).group(1)))
    assert sent <= set(DECLARED) and REQUIRED <= sent, sent
    assert "containerSpecGcsPath = local.template_path" in re.sub(r"\s+", " ", body)
    assert 15 <= int(unquote(job["attempt_deadline"]).rstrip("s")) <= 1800


def test_the_one_off_job_is_google_betas_and_off_unless_asked():
    job = resources(DATAFLOW, "google_dataflow_flex_template_job")["google_dataflow_flex_template_job.backfill"]
    assert expr(job["provider"]) == "google-beta"
    assert expr(job["count"]) == "var.backfill == null ? 0 : 1"
    assert expr(job["container_spec_gcs_path"]) == "local.template_path"
    assert set(job["parameters"]) <= set(DECLARED) and REQUIRED <= set(job["parameters"])
    assert expr(job["service_account_email"]) == "var.service_account_email"


def test_the_batch_functions_launch_the_same_template_as_the_dataflow_account():
    from support.terraform import deployed

    root = module_calls(".")["functions"]
    assert expr(root["dataflow_template"]) == "module.dataflow.template_path"
    assert expr(root["dataflow_temp_location"]) == "module.dataflow.temp_location"
    for entry in ("batch_score", "batch_score_gcs"):
        env = deployed()[entry]["environment_variables"]
        assert expr(env["DATAFLOW_TEMPLATE"]) == "var.dataflow_template"
        assert expr(env["DATAFLOW_SERVICE_ACCOUNT"]) == "var.service_account_emails.dataflow"
        assert expr(env["DATAFLOW_REGION"]) == "var.region"


def test_a_failed_dataflow_run_alerts_and_every_launcher_names_its_jobs_riskscore():
    from riskscore.batch.route import job_name

    policies = resources("infra/monitoring", "google_monitoring_alert_policy")
    policy = policies["google_monitoring_alert_policy.dataflow_failed"]
    condition = block(policy, "conditions", "condition_threshold")
    assert 'dataflow.googleapis.com/job/is_failed' in condition["filter"]
    # this environment's jobs only: the `environment` label the template's environment carries
    assert 'metadata.user_labels.environment = \\"${var.environment}\\"' in condition["filter"]
    assert expr(module_calls(".")["monitoring"]["environment"]) == "var.environment"
    assert expr(policy["notification_channels"]) == "local.channels"
    assert job_name("gs://b/in/", "bq://p.d.t", date(2026, 12, 1)).startswith("riskscore-")
    assert unquote(module_calls(".")["dataflow"]["name_prefix"]) == "${local.name_prefix}"
    assert unquote(module(".").files["main.tf"]["locals"][0]["name_prefix"]).startswith("riskscore-")
