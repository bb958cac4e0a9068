"""Invariants of the Terraform configuration, read with python-hcl2 and checked against the code
they deploy: entry points (functions/main.py), settings (riskscore.settings), table schemas
(the writers' constants), identities and their roles, schedules, and the module layout."""

from __future__ import annotations

import json
import re

import pytest
from support.terraform import ROOT, block, deployed, entry_points, expr, load_script, module, module_calls, resources, unquote, variables

FUNCTIONS = "infra/functions"
iam_grants = load_script("iam_grants")
# The contract between branches (CONTRACTS.md): entry point -> (trigger, settings class).
CONTRACT = {
    "score": ("http", "ScoreSettings"),
    "batch_score": ("http", "BatchSettings"),
    "batch_score_gcs": ("cloud_event", "BatchSettings"),
    "drift_check": ("http", "DriftSettings"),
}
# Environment variables the contract adds to a settings class on another branch, not merged yet.
# The service account each function runs as.
RUNS_AS = {"score": "score", "batch_score": "batch", "batch_score_gcs": "batch", "drift_check": "drift"}


# --- entry points and triggers ------------------------------------------------------------


def test_every_entry_point_in_main_py_is_deployed_with_its_trigger():
    found = entry_points()
    assert "score" in found  # the parser sees the decorators at all
    calls = deployed()
    for entry, kind in found.items():
        assert entry in calls, f"functions/main.py:{entry} is not deployed"
        assert CONTRACT[entry][0] == kind, f"{entry}: main.py says {kind}, the contract {CONTRACT[entry][0]}"
        trigger = calls[entry].get("event_trigger")
        if kind == "http":
            assert trigger is None, f"{entry} is an HTTP function but has an event trigger"
        else:
            assert expr(trigger["event_type"]) == "google.cloud.storage.object.v1.finalized"
            assert expr(trigger["bucket"]) == "var.batch_bucket"
            assert expr(trigger["service_account_email"]) == "var.service_account_emails.batch_trigger"


@pytest.mark.parametrize("entry", sorted(CONTRACT))
def test_every_deployed_function_exists_in_main_py(entry):
    assert entry in deployed(), f"{entry} (CONTRACTS.md) is not deployed"
    assert entry in entry_points(), f"functions/main.py has no `{entry}`"


def test_all_functions_build_from_one_source_archive_named_by_content_hash():
    calls = deployed()
    assert {expr(b["source_object"]) for b in calls.values()} == {"google_storage_bucket_object.source.name"}
    assert {expr(b["source_bucket"]) for b in calls.values()} == {"var.source_bucket"}
    obj = resources(FUNCTIONS, "google_storage_bucket_object")["google_storage_bucket_object.source"]
    assert "${local.source_hash}" in unquote(obj["name"])
    assert "filesha256" in json.dumps(module(FUNCTIONS).files["main.tf"]["locals"])  # the hash covers contents
    root = module_calls(".")["functions"]
    assert unquote(root["source_dir"]) == "${path.root}/functions"


@pytest.mark.parametrize("entry", sorted(CONTRACT))
def test_each_function_sets_sizes_and_runs_as_its_own_account(entry):
    body = deployed()[entry]
    for arg in ("memory_mib", "cpu", "timeout_s", "min_instances", "max_instances", "concurrency"):
        assert arg in body, f"{entry}: {arg} not set"
    assert expr(body["service_account_email"]) == f"var.service_account_emails.{RUNS_AS[entry]}"
    limit = 540 if CONTRACT[entry][0] == "cloud_event" else 3600  # gen2 limits
    assert body["timeout_s"] <= limit
    if body["concurrency"] > 1:  # concurrency above 1 needs at least one vCPU
        assert float(unquote(body["cpu"])) >= 1


def test_score_min_instances_configurable_and_zero_at_rest():
    assert expr(deployed()["score"]["min_instances"]) == "var.score_min_instances"
    assert expr(module_calls(".")["functions"]["score_min_instances"]) == "var.score_min_instances"
    assert variables(".")["score_min_instances"]["default"] == 0
    assert all(b["min_instances"] == 0 for e, b in deployed().items() if e != "score")


# --- settings <-> environment -----------------------------------------------------------


@pytest.mark.parametrize("entry", sorted(CONTRACT))
def test_environment_is_exactly_the_settings_fields(entry):
    import riskscore.settings as settings

    cls = getattr(settings, CONTRACT[entry][1])
    body = deployed()[entry]
    env = {k: unquote(v) for k, v in body["environment_variables"].items() if not k.startswith("__")}
    secrets = {k for k in body.get("secret_environment_variables", {}) if not k.startswith("__")}
    assert not env.keys() & secrets, "a variable is both plain and secret"
    local_only = {n.upper() for n, f in cls.model_fields.items() if (f.json_schema_extra or {}).get("local_only")}
    fields = {n.upper() for n in cls.model_fields} - local_only
    given = set(env) | secrets
    assert not given & local_only, f"{entry}: local-only settings set in the cloud: {given & local_only}"
    assert fields <= given, f"{entry}: settings not set by Terraform: {sorted(fields - given)}"
    extra = given - fields
    assert not extra, f"{entry}: variables no setting reads: {sorted(extra)}"
    # Settings set only when configured (the batch functions' Snowflake ones): test_snowflake.py.
    # Literal values must pass the settings' own validation.
    literal = {k.lower(): v for k, v in env.items() if "${" not in v and k in fields}
    cls.model_validate(literal)


def test_the_salt_is_a_secret_env_var_of_score_only():
    calls = deployed()
    assert expr(calls["score"]["secret_environment_variables"]["APPLICANT_ID_SALT"]) == "var.salt_secret_id"
    assert {e for e, b in calls.items() if b.get("secret_environment_variables")} == {"score"}
    # The batch functions' one conditional secret, the Snowflake password: test_snowflake.py.
    assert {e for e, b in calls.items() if b["conditional_locals"]} == {"batch_score", "batch_score_gcs"}
    fn = resources("infra/function")["google_cloudfunctions2_function.this"]
    secret_env = block(fn, "service_config")["dynamic"][0]['"secret_environment_variables"']
    assert unquote(block(secret_env, "content")["version"]) == "latest"


# --- scheduler --------------------------------------------------------------------------


def _seconds(duration: str) -> int:
    return int(re.fullmatch(r"(\d+)s", unquote(duration)).group(1))


def test_scheduler_calls_batch_and_drift_with_oidc_for_the_function_url():
    jobs = resources("infra/scheduler", "google_cloud_scheduler_job")
    root = module_calls(".")["scheduler"]
    targets = {}
    for name, job in jobs.items():
        http = block(job, "http_target")
        assert 15 <= _seconds(job["attempt_deadline"]) <= 1800, f"{name}: attempt_deadline outside 15s..30min"
        retry = block(job, "retry_config")
        assert retry["retry_count"] >= 1
        if "oidc_token" in http:
            uri = expr(http["uri"])
            assert expr(block(http, "oidc_token")["audience"]) == uri, f"{name}: audience is not the URL"
            targets[name] = expr(root[uri.removeprefix("var.")])
        else:  # the training run: a Google API, so an OAuth token
            assert "oauth_token" in http
            assert "run.googleapis.com/v2/" in unquote(http["uri"]) and unquote(http["uri"]).endswith(":run")
    assert sorted(targets.values()) == ['module.functions.urls["batch_score"]', 'module.functions.urls["drift_check"]']
    # ... and those URLs are the functions' own (service_config[0].uri).
    urls = next(o for _, n, _, o in module(FUNCTIONS).blocks("output") if n == "urls")
    assert expr(urls["value"]["batch_score"]) == "module.batch_score.url"
    url = next(o for _, n, _, o in module("infra/function").blocks("output") if n == "url")
    assert expr(url["value"]) == "google_cloudfunctions2_function.this.service_config[0].uri"


# --- identities and roles ----------------------------------------------------------------

# Every grant to an identity of the product: (role, resource), as scripts/iam_grants.py reads
# them from the Terraform (its logical resource names: gs://model, bq://main.batch_scores, ...).
EXPECTED_ROLES = {
    "score": {("roles/storage.objectViewer", "gs://model"),
              ("roles/secretmanager.secretAccessor", "secret:salt"),
              # with narrative_enabled only: a custom role holding aiplatform.endpoints.predict
              ("google_project_iam_custom_role.gemini_caller[0].id", "project")},
    "batch": {("roles/storage.objectViewer", "gs://model"),
              ("roles/storage.objectViewer", "gs://batch/incoming/"),
              ("roles/storage.objectUser", "gs://batch/scored/"),
              ("roles/bigquery.dataViewer", "bq://input.batch_source"),
              ("roles/bigquery.dataEditor", "bq://main.batch_scores"),
              ("roles/bigquery.dataEditor", "bq://main.batch_scores_rejects"),
              ("roles/bigquery.dataEditor", "bq://staging"),
              ("roles/bigquery.jobUser", "project"),
              ("roles/bigquery.readSessionUser", "project"),
              # inputs above DATAFLOW_MIN_ROWS: launch the Flex Template as the dataflow account
              ("roles/dataflow.developer", "project"),
              ("google_project_iam_custom_role.dataflow_machine_types.id", "project"),
              ("roles/iam.serviceAccountUser", "sa:dataflow"),
              # with snowflake_password_secret_id only: the lender's existing secret, read at start
              ("roles/secretmanager.secretAccessor", "secret:snowflake_password")},
    "batch_trigger": {("roles/eventarc.eventReceiver", "project"),
                      ("roles/run.invoker", "run_service:batch_score_gcs")},
    "drift": {("roles/storage.objectViewer", "gs://model"),
              ("roles/storage.objectUser", "gs://model/drift-reports/"),
              ("roles/storage.objectViewer", "gs://batch/scored/"),
              ("roles/bigquery.dataViewer", "bq://predictions"),
              ("roles/bigquery.dataViewer", "bq://main.batch_scores"),
              ("roles/bigquery.dataEditor", "bq://main.drift_reports"),
              ("roles/bigquery.jobUser", "project"),
              ("roles/bigquery.readSessionUser", "project")},
    "training": {("roles/storage.objectUser", "gs://model"),
                 ("roles/bigquery.dataViewer", "bq://input.training_data"),
                 ("roles/bigquery.dataEditor", "bq://main.training_runs"),
                 ("roles/bigquery.jobUser", "project")},
    "scheduler": {("roles/run.invoker", "run_service:batch_score"),
                  ("roles/run.invoker", "run_service:drift_check"),
                  ("roles/run.invoker", "run_job:training"),
                  # the monthly rescore: launch the Flex Template, run it as the dataflow account
                  ("roles/dataflow.developer", "project"),
                  ("google_project_iam_custom_role.dataflow_machine_types.id", "project"),
                  ("roles/iam.serviceAccountUser", "sa:dataflow"),
                  ("roles/storage.objectViewer", "gs://model/templates/")},
    # reads sources under an IAM condition (scripts/iam_grants.py checks it admits only them)
    "builder": {("roles/logging.logWriter", "project"),
                ("roles/artifactregistry.writer", "repository:functions"),
                ("roles/storage.objectViewer", "project")},
    # Dataflow's workers (and launcher VM): what batch runs read and write, its temp files, the image.
    "dataflow": {("roles/dataflow.worker", "project"),
                 ("roles/storage.objectViewer", "gs://model"),
                 ("roles/storage.objectViewer", "gs://batch/incoming/"),
                 ("roles/storage.objectUser", "gs://batch/scored/"),
                 ("roles/storage.objectUser", "gs://dataflow"),
                 ("google_project_iam_custom_role.dataflow_machine_types.id", "project"),
                 ("roles/bigquery.dataViewer", "bq://input.batch_source"),
                 ("roles/bigquery.dataEditor", "bq://main.batch_scores"),
                 ("roles/bigquery.dataEditor", "bq://main.batch_scores_rejects"),
                 ("roles/bigquery.dataEditor", "bq://staging"),
                 ("roles/bigquery.jobUser", "project"),
                 ("roles/bigquery.readSessionUser", "project"),
                 ("roles/artifactregistry.reader", "repository:images")},
    # Google-managed identities: the storage agent feeds Eventarc, the sink writes predictions.
    "gcs_agent": {("roles/pubsub.publisher", "project")},
    "log_sink": {("roles/bigquery.dataEditor", "bq://predictions")},
}


def granted_roles() -> dict[str, set]:
    # Only additive grants (an authoritative binding or policy would remove others' members), and
    # only in the modules the resolver reads (infra/function's invoker: from each call's invoker_members).
    for rel in ["."] + [f"infra/{m}" for m in MODULES]:
        for address in resources(rel, r"google_\w+_iam_(member|binding|policy)"):
            assert address.split(".")[0].endswith("_iam_member"), f"{address}: authoritative IAM resource"
            assert rel in iam_grants.IAM_MODULES or (rel, address) == (
                "infra/function", "google_cloud_run_service_iam_member.invoker"), f"{rel}: {address} outside the modules iam_grants reads"
    assert expr(resources("infra/function")["google_cloud_run_service_iam_member.invoker"]["member"]) == "each.value"
    # Whoever the user lists (people, outside callers) invokes only the functions meant for them.
    user_lists = {"score": "var.score_invoker_members", "batch_score": "var.jobs_invoker_members",
                  "drift_check": "var.jobs_invoker_members"}
    invokers = iam_grants.invoker_members()
    assert set(invokers) == set(deployed())
    for entry, members in invokers.items():
        assert set(re.findall(r"var\.\w+_invoker_members", members)) == ({user_lists[entry]} if entry in user_lists else set())
    grants: dict[str, set] = {}
    for g in iam_grants.grants():
        if not g.identity.startswith("cloudbuild_"):  # the builds' own roles: test_iam_grants.py
            grants.setdefault(g.identity, set()).add((g.role, g.resource))
    return grants


def test_each_identity_holds_exactly_its_roles():
    grants = granted_roles()
    assert grants == EXPECTED_ROLES


def test_every_service_account_has_its_roles_listed():
    accounts = module("infra/iam").files["main.tf"]["locals"][0]["accounts"]
    assert set(accounts) == set(EXPECTED_ROLES) - {"gcs_agent", "log_sink"}
    assert expr(module_calls(".")["functions"]["service_account_emails"]) == "module.iam.emails"
    assert expr(module_calls(".")["training"]["service_account_email"]) == 'module.iam.emails["training"]'


def test_nothing_is_public():
    """allUsers / allAuthenticatedUsers appear only in the validations that forbid them."""
    for path in ROOT.glob("**/*.tf"):
        if any(p.startswith(".") for p in path.relative_to(ROOT).parts):
            continue
        for i, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(r"allUsers|allAuthenticatedUsers", line):
                assert "!contains([\"allUsers\", \"allAuthenticatedUsers\"]" in line, f"{path}:{i}: {line.strip()}"
    for rel in ("infra/function", "."):
        for name, var in variables(rel).items():
            if "invoker" in name:
                assert "allUsers" in json.dumps(var.get("validation", [])), f"{rel}: {name} lacks the public-member validation"


# --- BigQuery schemas ----------------------------------------------------------------------

sync = load_script("sync_bq_schemas")


def _tables() -> dict[str, dict]:
    return {unquote(b["table_id"]): b for b in resources("infra/bigquery", "google_bigquery_table").values()}


def test_every_table_declares_its_schema_file_and_a_day_partition_on_a_real_column():
    tables = _tables()
    assert set(tables) == set(sync.TABLES)
    for name, body in tables.items():
        assert unquote(body["schema"]) == f'${{file("${{path.module}}/schemas/{name}.json")}}'
        part = block(body, "time_partitioning")
        assert unquote(part["type"]) == "DAY"
        if "field" in part:
            column = next((f for f in sync.declared_schema(name) if f["name"] == unquote(part["field"])), None)
            assert column is not None and column["type"] in ("DATE", "TIMESTAMP"), f"{name}: bad partition column"


@pytest.mark.parametrize("table", sorted(sync.TABLES))
def test_table_schema_matches_the_code_that_writes_it(table):
    assert sync.declared_schema(table) == sync.code_schema(table)


def test_schema_normalization_uses_the_api_names():
    assert sync.normalize([{"name": "a", "type": "FLOAT64"}, {"name": "s", "type": "STRUCT", "mode": "repeated",
                                                                "fields": [{"name": "b", "type": "BOOL"}]}]) == [
        {"name": "a", "type": "FLOAT", "mode": "NULLABLE"},
        {"name": "s", "type": "RECORD", "mode": "REPEATED", "fields": [{"name": "b", "type": "BOOLEAN", "mode": "NULLABLE"}]}]


def test_log_sink_writes_predictions_to_partitioned_tables():
    sink = resources("infra/monitoring")["google_logging_project_sink.predictions"]
    assert sink["unique_writer_identity"] is True
    assert block(sink, "bigquery_options")["use_partitioned_tables"] is True
    assert 'jsonPayload.log_type = \\"prediction\\"' in sink["filter"]
    assert "datasets/${var.predictions_dataset_id}" in unquote(sink["destination"])
    # drift_check's default source is that sink's table.
    assert unquote(deployed()["drift_check"]["environment_variables"]["DRIFT_SOURCE"]) == "bq://${var.predictions_table}"


# --- layout ------------------------------------------------------------------------------------

MODULES = sorted(p.name for p in (ROOT / "infra").iterdir() if p.is_dir() and any(p.glob("*.tf")))


@pytest.mark.parametrize("rel", ["."] + [f"infra/{m}" for m in MODULES])
def test_module_layout_and_provider_pin(rel):
    for name in ("main.tf", "variables.tf", "outputs.tf", "versions.tf"):
        assert (ROOT / rel / name).exists(), f"{rel}/{name} missing"
    versions = module(rel).files["versions.tf"]["terraform"][0]
    providers = versions["required_providers"][0]
    assert unquote(providers["google"]["version"]) == "~> 8.7.0"
    # google-beta only where a resource needs it, and then pinned alike
    def beta_in(path: str) -> bool:
        return any(expr(body.get("provider", "")) == "google-beta"
                   for kind in ("resource", "data") for *_, body in module(path).blocks(kind))

    # The root configures google-beta for the modules that use it.
    uses_beta = beta_in(rel) or (rel == "." and any(beta_in(f"infra/{m}") for m in MODULES))
    assert ("google-beta" in providers) == uses_beta, f"{rel}: google-beta declared without use, or used undeclared"
    if uses_beta:
        assert unquote(providers["google-beta"]["version"]) == "~> 8.7.0"


@pytest.mark.parametrize("rel", ["."] + [f"infra/{m}" for m in MODULES])
def test_every_variable_is_typed_and_described_with_units_in_names(rel):
    for name, var in variables(rel).items():
        assert "type" in var and unquote(var.get("description", "")), f"{rel}: variable {name} untyped or undescribed"
        if re.search(r"timeout|memory|latency|retention|deadline|duration", name):
            assert re.search(r"_(s|ms|mib|days)$", name), f"{rel}: variable {name} has no unit in its name"


def test_every_module_is_used():
    used = {unquote(b["source"]).removeprefix("./infra/") for b in module_calls(".").values()}
    used |= {unquote(b["source"]).removeprefix("../") for b in module_calls(FUNCTIONS).values()}
    assert used == set(MODULES)


def test_tfvars_example_gives_every_required_variable():
    example = (ROOT / "terraform.tfvars.example").read_text()
    given = set(re.findall(r"^(\w+)\s*=", example, flags=re.M))
    declared = variables(".")
    assert given <= set(declared), f"unknown variables in the example: {given - set(declared)}"
    required = {n for n, v in declared.items() if "default" not in v}
    assert required <= given, f"the example misses required variables: {required - given}"


def test_alerts_on_drift_lines_score_errors_and_latency():
    policies = resources("infra/monitoring", "google_monitoring_alert_policy")
    root = module_calls(".")["monitoring"]
    assert expr(root["drift_service_name"]) == 'module.functions.names["drift_check"]'
    assert expr(root["score_service_name"]) == 'module.functions.names["score"]'
    drift = block(policies["google_monitoring_alert_policy.drift"], "conditions", "condition_matched_log")
    assert "${var.drift_service_name}" in drift["filter"] and "severity >= WARNING" in drift["filter"]
    errors = block(policies["google_monitoring_alert_policy.score_errors"], "conditions", "condition_threshold")
    assert 'response_code_class = \\"5xx\\"' in errors["filter"] and "denominator_filter" in errors  # a ratio
    latency = block(policies["google_monitoring_alert_policy.score_latency"], "conditions", "condition_threshold")
    assert "request_latencies" in latency["filter"]
    assert unquote(block(latency, "aggregations")["cross_series_reducer"]) == "REDUCE_PERCENTILE_95"
    for policy in policies.values():
        assert expr(policy["notification_channels"]) == "local.channels"
