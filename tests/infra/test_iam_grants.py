"""The IAM resolver: which permission each identity holds on which resource, read from the
Terraform, the role data and the method table; calls the code makes are permitted or refused as
Google would (the emulators enforce no IAM)."""

from __future__ import annotations

import json
import re

import pytest

from .iam_support import RESOLVER, ROOT, copy_config, iam_grants, load_script, remove_resource

extract_iam_roles = load_script("extract_iam_roles")

# (identity, method, resource, None if permitted else a part of the reason)
CASES = [
    # score: the model bundles and the salt
    ("score", "storage.objects.get", "gs://model/credit_default/current.json", None),
    ("score", "secretmanager.versions.access", "secret:salt", None),
    ("score", "storage.objects.insert", "gs://model/credit_default/current.json", "storage.objects.create"),
    ("score", "storage.objects.get", "gs://batch/incoming/a.csv", "storage.objects.get"),
    # score's narrative (narrative_enabled): Gemini's generateContent; no other identity may call it
    ("score", "aiplatform.generateContent", "project", None),
    ("batch", "aiplatform.generateContent", "project", "aiplatform.endpoints.predict"),
    # batch: a managed-folder grant never reaches the bucket (GcsSink's bucket.exists())
    ("batch", "storage.buckets.get", "gs://batch", "storage.buckets.get on gs://batch"),
    ("batch", "storage.objects.get", "gs://batch/incoming/day/a.csv", None),
    ("batch", "storage.objects.list", "gs://batch/incoming/day/", None),
    ("batch", "storage.objects.insert.overwrite", "gs://batch/scored/day/run_date=2026-12-01/scores.parquet", None),
    ("batch", "storage.objects.insert", "gs://batch/incoming/x.csv", "storage.objects.create"),
    ("batch", "bigquery.jobs.insert", "project", None),
    ("batch", "bigquery.jobs.insert.load.create", "bq://staging.run_1", None),
    ("batch", "bigquery.jobs.insert.query.write", "bq://main.batch_scores", None),
    ("batch", "bigquery.jobs.insert.load.create", "bq://main.new_table", "bigquery.tables.create on bq://main"),
    ("batch", "bigquerystorage.CreateReadSession", "bq://input.batch_source", None),
    ("batch", "dataflow.flexTemplates.launch", "project", None),
    ("batch", "dataflow.flexTemplates.launch.actAs", "sa:dataflow", None),
    ("batch", "dataflow.flexTemplates.launch.actAs", "sa:training", "iam.serviceAccounts.actAs"),
    ("batch", "dataflow.flexTemplates.launch.spec", "gs://model/templates/riskscore-batch.json", None),
    # batch: the lender's Snowflake password (snowflake_password_secret_id), never the salt
    ("batch", "secretmanager.versions.access", "secret:snowflake_password", None),
    ("batch", "secretmanager.versions.access", "secret:salt", "secretmanager.versions.access"),
    ("score", "secretmanager.versions.access", "secret:snowflake_password", "secretmanager.versions.access"),
    ("training", "secretmanager.versions.access", "secret:snowflake_password", "secretmanager.versions.access"),
    # the Dataflow identity: staging tables in the staging dataset, never in the output's
    ("dataflow", "bigquery.tables.insert", "bq://main.batch_scores_stage", "bigquery.tables.create on bq://main"),
    ("dataflow", "bigquery.tables.insert", "bq://staging.batch_scores_stage", None),
    ("dataflow", "bigquery.jobs.insert.load", "bq://main.batch_scores", None),
    ("dataflow", "storage.objects.insert", "gs://dataflow/tmp/x", None),
    ("dataflow", "artifactregistry.docker.pull", "repository:images", None),
    ("dataflow", "bigquery.tables.getData", "bq://input.training_data", "bigquery.tables.getData"),
    # drift: predictions (dataset), reports (folder), no write elsewhere in the model bucket
    ("drift", "bigquery.jobs.insert.query.read", "bq://predictions.riskscore_prod_score", None),
    ("drift", "storage.objects.insert.overwrite", "gs://model/drift-reports/credit_default/latest.html", None),
    ("drift", "storage.objects.insert", "gs://model/credit_default/current.json", "storage.objects.create"),
    ("drift", "bigquery.jobs.insert.query.write", "bq://main.drift_reports", None),
    # training: publishes to the model store, reads its table, logs runs
    ("training", "storage.objects.insert.overwrite", "gs://model/credit_default/current.json", None),
    ("training", "bigquerystorage.CreateReadSession", "bq://input.training_data", "bigquery.readsessions.create"),
    ("training", "bigquery.jobs.insert.query.read", "bq://input.training_data", None),
    ("training", "bigquery.jobs.insert.query.write", "bq://main.training_runs", None),
    # scheduler: runs the training job, launches the rescore, invokes the HTTP functions
    ("scheduler", "run.jobs.run", "run_job:training", None),
    ("scheduler", "run.services.invoke", "run_service:batch_score", None),
    ("scheduler", "run.services.invoke", "run_service:score", "run.routes.invoke"),
    ("scheduler", "dataflow.flexTemplates.launch.spec", "gs://model/templates/riskscore-batch.json", None),
    ("scheduler", "dataflow.flexTemplates.launch.spec", "gs://model/credit_default/current.json", "storage.objects.get"),
    ("batch_trigger", "run.services.invoke", "run_service:batch_score_gcs", None),
    ("batch_trigger", "eventarc.events.receive", "project", None),
    # builder: the source buckets only (an IAM condition), its own image repository only
    ("builder", "storage.objects.get", "gs://sources/functions-abc.zip", None),
    ("builder", "storage.objects.get", "gs://gcf-v2-sources-123-europe-west1/riskscore.zip", None),
    ("builder", "storage.objects.get", "gs://model/credit_default/current.json", "storage.objects.get"),
    ("builder", "storage.objects.get", "gs://batch/incoming/a.csv", "storage.objects.get"),
    ("builder", "artifactregistry.docker.push", "repository:functions", None),
    ("builder", "artifactregistry.docker.push", "repository:images", "uploadArtifacts"),
    # Cloud Build: the test build can deploy nothing; the deploy build smoke-tests score
    ("cloudbuild_test", "logging.entries.write", "project", None),
    ("cloudbuild_test", "artifactregistry.docker.push", "repository:images", "uploadArtifacts"),
    ("cloudbuild_test", "storage.objects.get", "gs://model/credit_default/current.json", "storage.objects.get"),
    ("cloudbuild_deploy", "artifactregistry.docker.push", "repository:images", None),
    ("cloudbuild_deploy", "run.services.invoke", "run_service:score", None),
    ("cloudbuild_deploy", "run.jobs.run", "run_job:training", None),
]


@pytest.mark.parametrize("identity, method, resource, refused", CASES,
                         ids=[f"{c[0]}-{c[1]}-{c[2]}" for c in CASES])
def test_a_call_is_permitted_exactly_when_the_grants_give_its_permissions(identity, method, resource, refused):
    reason = RESOLVER.check((identity, method, resource))
    if refused is None:
        assert reason is None
    else:
        assert reason is not None and refused in reason and identity in reason


def test_an_unknown_method_is_refused_by_name():
    assert "storage.objects.teleport" in RESOLVER.check(("batch", "storage.objects.teleport", "gs://batch"))


@pytest.mark.parametrize("granted_on, resource, expected", [
    ("project", "gs://batch", True),
    ("gs://batch", "gs://batch/scored/x", True),
    ("gs://batch", "gs://batch2/x", False),
    ("gs://batch/incoming/", "gs://batch/incoming/a.csv", True),
    ("gs://batch/incoming/", "gs://batch", False),
    ("gs://batch/incoming/", "gs://batch/scored/a", False),
    ("bq://staging", "bq://staging.t", True),
    ("bq://staging", "bq://staging_other.t", False),
    ("bq://main.batch_scores", "bq://main", False),
])
def test_grant_scopes(granted_on, resource, expected):
    assert iam_grants.covers(granted_on, resource) is expected


@pytest.mark.parametrize("condition, resource, expected", [
    ('resource.name.startsWith("projects/_/buckets/sources")', "gs://sources/a.zip", True),
    ('resource.name.startsWith("projects/_/buckets/sources")', "gs://model/a", False),
    ('resource.name.startsWith("a") || resource.name.startsWith("projects/_/buckets/m")', "gs://model", True),
    ('request.time < timestamp("2030-01-01T00:00:00Z")', "gs://model", False),  # unread: not counted on
])
def test_conditions(condition, resource, expected):
    assert iam_grants.condition_admits(condition, resource) is expected


def test_the_variables_mean_what_the_root_module_wires_into_them():
    calls = {name: body for _, name, _, body in iam_grants.tfcheck.load_module(ROOT).blocks("module")}
    for (call, arg), wired in iam_grants.ROOT_WIRING.items():
        assert iam_grants.expr(calls[call][arg]) == wired, f"module.{call}.{arg}"


def test_every_role_granted_has_permission_data_from_the_recorded_source():
    data = json.loads((ROOT / "infra" / "iam-data" / "roles.json").read_text())
    assert data["source"] == "https://github.com/darkbitio/gcp-iam-role-permissions"
    assert re.fullmatch(r"[0-9a-f]{40}", data["commit"]) and data["date"]
    for g in RESOLVER.grants:
        assert RESOLVER.permissions(g), g  # KeyError names the role when data is missing
    assert set(extract_iam_roles.granted_roles()) <= set(data["roles"])  # every role the .tf files name


def test_every_method_names_a_documented_source_and_known_scopes():
    for name, m in iam_grants.load_methods().items():
        assert m["source"].startswith("https://cloud.google.com/"), name
        assert all(p["on"] in ("resource", "dataset", "project") for p in m["permissions"]), name


# Each resource-level IAM kind the configuration writes, the permission that sets it (the table the
# role data's evidence on Editor was extracted with).
SET_IAM = extract_iam_roles.SET_IAM


def test_the_deploy_identity_can_set_every_iam_policy_the_configuration_sets_and_editor_cannot():
    kinds = {re.fullmatch(r"google_(\w+)_iam_member", t).group(1)
             for tf in ROOT.glob("infra/*/*.tf") for t in re.findall(r'resource "(google_\w+_iam_member)"', tf.read_text())}
    assert kinds <= set(SET_IAM), kinds - set(SET_IAM)
    for kind in kinds:
        assert RESOLVER.holders("cloudbuild_deploy", SET_IAM[kind], "project"), kind
    editor = json.loads((ROOT / "infra" / "iam-data" / "roles.json").read_text())["evidence"]["roles/editor"]
    assert {SET_IAM[k] for k in kinds} <= set(editor["setIamPolicy_missing"])


# One call per identity, and the grant in the HCL it rests on: removing the grant refuses it.
REMOVALS = [
    ("infra/iam", "google_storage_bucket_iam_member.score_models", ("score", "storage.objects.get", "gs://model/credit_default/current.json")),
    ("infra/iam", "google_storage_managed_folder_iam_member.batch_scored", ("batch", "storage.objects.insert", "gs://batch/scored/a/run_date=2026-12-01/scores.parquet")),
    ("infra/iam", "google_storage_managed_folder_iam_member.drift_reports_folder", ("drift", "storage.objects.insert", "gs://model/drift-reports/credit_default/r.html")),
    ("infra/iam", "google_bigquery_table_iam_member.training_runs", ("training", "bigquery.jobs.insert.query.write", "bq://main.training_runs")),
    ("infra/iam", "google_bigquery_dataset_iam_member.dataflow_staging", ("dataflow", "bigquery.tables.insert", "bq://staging.batch_scores_stage")),
    ("infra/iam", "google_storage_managed_folder_iam_member.scheduler_templates", ("scheduler", "dataflow.flexTemplates.launch.spec", "gs://model/templates/riskscore-batch.json")),
    ("infra/iam", "google_project_iam_member.builder_sources", ("builder", "storage.objects.get", "gs://sources/functions-abc.zip")),
    ("infra/functions", "google_artifact_registry_repository_iam_member.builder_pushes", ("builder", "artifactregistry.docker.push", "repository:functions")),
    ("infra/iam", "google_project_iam_member.batch_trigger_events", ("batch_trigger", "eventarc.events.receive", "project")),
    ("infra/iam", "google_project_iam_member.score_gemini", ("score", "aiplatform.generateContent", "project")),
    ("infra/iam", "google_secret_manager_secret_iam_member.batch_snowflake_password", ("batch", "secretmanager.versions.access", "secret:snowflake_password")),
]


@pytest.mark.parametrize("rel, resource, call", REMOVALS, ids=[r[2][0] + "-" + r[1].split(".")[1] for r in REMOVALS])
def test_removing_a_grant_from_the_hcl_refuses_the_call_that_needs_it(tmp_path, rel, resource, call):
    root, data = copy_config(tmp_path)
    remove_resource(root / rel / "main.tf", resource)
    assert RESOLVER.check(call) is None
    reason = iam_grants.Resolver(root=root, data=data).check(call)
    assert reason is not None and call[0] in reason and call[1] in reason and call[2] in reason


def test_the_permission_table_marks_what_recorded_calls_used():
    calls = [("score", "storage.objects.get", "gs://model/credit_default/current.json")]
    table = iam_grants.permission_table(RESOLVER, calls, identities=("score",))
    assert "| `storage.objects.get` | gs://model | roles/storage.objectViewer | yes |" in table
    assert "| `storage.objects.list` | gs://model | roles/storage.objectViewer | no |" in table
    assert "| `secretmanager.versions.access` | secret:salt | roles/secretmanager.secretAccessor | no |" in table
