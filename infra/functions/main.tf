# The four functions of functions/main.py, all built from ONE archive of functions/. The archive
# is named by a hash of its files' contents, so a code change uploads a new object and every
# function redeploys; an unchanged tree changes nothing.
locals {
  files       = fileset(var.source_dir, "**")
  skipped     = [for f in local.files : f if strcontains(f, "__pycache__") || endswith(f, ".pyc")]
  source_hash = sha256(join("\n", [for f in sort(setsubtract(local.files, local.skipped)) : "${f} ${filesha256("${var.source_dir}/${f}")}"]))

  model_store = "gs://${var.model_bucket}"
  # batch_score and drift_check: the scheduler, plus whoever the user lists for direct calls.
  jobs_invokers = merge({ scheduler = "serviceAccount:${var.service_account_emails.scheduler}" },
  { for m in var.jobs_invoker_members : m => m })

  # batch_score and batch_score_gcs run the same job (riskscore.batch) with the same settings.
  batch_environment = {
    MODEL_STORE              = local.model_store
    MODEL_NAME               = var.model_name
    MODEL_VERSION            = var.model_version
    MODEL_CHALLENGER_VERSION = var.model_challenger_version
    ORT_INTRA_OP_THREADS     = "2"
    ORT_INTER_OP_THREADS     = "1"
    STORE_READ_TIMEOUT_S     = "10"
    STORE_READ_DEADLINE_S    = "60"
    GOOGLE_CLOUD_PROJECT     = var.project_id
    MAX_BODY_BYTES           = "33554432" # 32 MiB: Cloud Run's request limit
    BATCH_CHUNK_ROWS         = "50000"
    MAX_INLINE_RECORDS       = "10000"
    BATCH_STAGING_DATASET    = var.batch_staging_dataset
    BATCH_WORKERS            = "2" # chunks scored at once: one per vCPU
    # Larger inputs go to Dataflow (a Flex Template launch); the answer is the job id.
    DATAFLOW_MIN_ROWS        = tostring(var.dataflow_min_rows)
    DATAFLOW_TEMPLATE        = var.dataflow_template
    DATAFLOW_REGION          = var.region
    DATAFLOW_SERVICE_ACCOUNT = var.service_account_emails.dataflow
    DATAFLOW_TEMP_LOCATION   = var.dataflow_temp_location
    DATAFLOW_MAX_WORKERS     = tostring(var.dataflow_max_workers)
    # Queries may read the portfolio's dataset only (a dry run checks each before it runs).
    BATCH_QUERY_DATASETS = join(",", var.query_datasets)
    # Every BigQuery / Cloud Storage call: 10 s to connect, 30 s in all, then a 503 with
    # Retry-After; well inside batch_score_gcs's 540 s.
    SERVICE_TIMEOUT_S  = tostring(var.service_timeout_s)
    SERVICE_DEADLINE_S = tostring(var.service_deadline_s)
    # gs:// inputs and outputs a caller may name: the deployment's batch bucket only.
    ALLOWED_BUCKETS = var.batch_bucket
    # The stack's labels (environment among them) on the jobs it launches: the alert selects by them.
    DATAFLOW_LABELS = jsonencode(var.labels)
  }

  # snowflake:// inputs of the batch functions (riskscore.io.snowflake.SnowflakeSettings), only
  # when an account is configured: the settings given (an empty warehouse or role is left to the
  # user's defaults) and the password from the lender's secret, resolved by Cloud Run at start.
  snowflake_environment = var.snowflake_account == "" ? {} : { for k, v in {
    SNOWFLAKE_ACCOUNT   = var.snowflake_account
    SNOWFLAKE_USER      = var.snowflake_user
    SNOWFLAKE_WAREHOUSE = var.snowflake_warehouse
    SNOWFLAKE_ROLE      = var.snowflake_role
  } : k => v if v != "" }
  snowflake_secrets = var.snowflake_account == "" || var.snowflake_password_secret_id == "" ? {} : {
    SNOWFLAKE_PASSWORD = var.snowflake_password_secret_id
  }
}

# The function images Cloud Build makes, in a repository of their own: the builder identity
# writes here only, so it cannot replace the training or Dataflow images (which run as other
# identities).
resource "google_artifact_registry_repository" "functions" {
  # checkov:skip=CKV_GCP_84:Holds the functions' images only (code and open-source libraries, no data or secrets), encrypted at rest with Google-managed keys.
  project       = var.project_id
  location      = var.region
  repository_id = "${var.name_prefix}-functions"
  description   = "Container images of the Cloud Functions (written by the builder identity only)."
  format        = "DOCKER"
  labels        = var.labels

  cleanup_policies {
    id     = "keep-recent"
    action = "KEEP"
    most_recent_versions {
      keep_count = 5
    }
  }
}

resource "google_artifact_registry_repository_iam_member" "builder_pushes" {
  project    = var.project_id
  location   = var.region
  repository = google_artifact_registry_repository.functions.repository_id
  role       = "roles/artifactregistry.writer"
  member     = "serviceAccount:${var.service_account_emails.builder}"
}

data "archive_file" "source" {
  type        = "zip"
  source_dir  = var.source_dir
  excludes    = local.skipped
  output_path = "${path.root}/build/functions-${local.source_hash}.zip"
}

resource "google_storage_bucket_object" "source" {
  bucket = var.source_bucket
  name   = "functions-${local.source_hash}.zip"
  source = data.archive_file.source.output_path
}

module "score" {
  source = "../function"

  project_id               = var.project_id
  region                   = var.region
  name                     = "${var.name_prefix}-score"
  description              = "Credit decision for one applicant (POST JSON); model information (GET)."
  entry_point              = "score"
  source_bucket            = var.source_bucket
  source_object            = google_storage_bucket_object.source.name
  build_service_account_id = var.build_service_account_id
  docker_repository        = google_artifact_registry_repository.functions.id
  service_account_email    = var.service_account_emails.score
  memory_mib               = 1024
  cpu                      = "1"
  timeout_s                = 30
  min_instances            = var.score_min_instances
  max_instances            = var.score_max_instances
  concurrency              = 8
  ingress_settings         = "ALLOW_ALL" # called from outside Google Cloud, with identity tokens
  labels                   = var.labels
  environment_variables = {
    MODEL_STORE              = local.model_store
    MODEL_NAME               = var.model_name
    MODEL_VERSION            = var.model_version
    MODEL_CHALLENGER_VERSION = var.model_challenger_version
    ORT_INTRA_OP_THREADS     = "1"
    ORT_INTER_OP_THREADS     = "1"
    MAX_BODY_BYTES           = "65536"
    LOAD_RETRY_S             = "5"
    STORE_READ_TIMEOUT_S     = "10"
    STORE_READ_DEADLINE_S    = "20"
    GOOGLE_CLOUD_PROJECT     = var.project_id
    # Narratives (score?include=narrative): an empty model or location means the template only.
    NARRATIVE_MODEL     = var.narrative_enabled ? var.narrative_model : ""
    NARRATIVE_LOCATION  = var.narrative_enabled ? var.narrative_location : ""
    NARRATIVE_BASE_URL  = "" # Google's regional endpoint; a Private Service Connect URL if needed
    NARRATIVE_TIMEOUT_S = tostring(var.narrative_timeout_s)
  }
  secret_environment_variables = {
    APPLICANT_ID_SALT = var.salt_secret_id
  }
  # Whoever the environment's file lists, plus the deploy identity (the smoke test calls score).
  invoker_members = merge({ for m in var.score_invoker_members : m => m },
  var.deploy_service_account == "" ? {} : { deploy = "serviceAccount:${var.deploy_service_account}" })
}

module "batch_score" {
  source = "../function"

  project_id               = var.project_id
  region                   = var.region
  name                     = "${var.name_prefix}-batch-score"
  description              = "Scores a file or table into Parquet / BigQuery (nightly, from Cloud Scheduler)."
  entry_point              = "batch_score"
  source_bucket            = var.source_bucket
  source_object            = google_storage_bucket_object.source.name
  build_service_account_id = var.build_service_account_id
  docker_repository        = google_artifact_registry_repository.functions.id
  service_account_email    = var.service_account_emails.batch
  memory_mib               = 4096
  cpu                      = "2"
  # Scheduler's attempt deadline (at most 30 min) equals this: a retry never starts while the
  # attempt it replaces still runs. Inputs above dataflow_min_rows go to Dataflow instead.
  timeout_s             = 1800
  min_instances         = 0
  max_instances         = 2
  concurrency           = 1
  ingress_settings      = var.jobs_ingress
  labels                = var.labels
  environment_variables = merge(local.batch_environment, local.snowflake_environment)
  # snowflake:// inputs: the password, when a Snowflake account is configured.
  secret_environment_variables = local.snowflake_secrets
  invoker_members              = local.jobs_invokers
}

module "batch_score_gcs" {
  source = "../function"

  project_id               = var.project_id
  region                   = var.region
  name                     = "${var.name_prefix}-batch-score-gcs"
  description              = "Scores each file finalized under incoming/ of the batch bucket into scored/."
  entry_point              = "batch_score_gcs"
  source_bucket            = var.source_bucket
  source_object            = google_storage_bucket_object.source.name
  build_service_account_id = var.build_service_account_id
  docker_repository        = google_artifact_registry_repository.functions.id
  service_account_email    = var.service_account_emails.batch
  memory_mib               = 4096
  cpu                      = "2"
  timeout_s                = 540 # the limit for event-driven functions
  min_instances            = 0
  max_instances            = 5
  concurrency              = 1
  ingress_settings         = "ALLOW_INTERNAL_ONLY" # only Eventarc calls it
  labels                   = var.labels
  # The same settings as batch_score, but a Dataflow threshold sized to 540 s, not 1,800 s.
  environment_variables = merge(local.batch_environment, local.snowflake_environment, {
    DATAFLOW_MIN_ROWS = tostring(var.batch_gcs_dataflow_min_rows)
  })
  secret_environment_variables = local.snowflake_secrets
  # The bucket's every finalized object arrives (Eventarc cannot filter storage events by
  # prefix); the function scores those under incoming/ and acknowledges the rest.
  event_trigger = {
    event_type            = "google.cloud.storage.object.v1.finalized"
    bucket                = var.batch_bucket
    service_account_email = var.service_account_emails.batch_trigger
    retry_policy          = "RETRY_POLICY_RETRY" # reruns are idempotent: a day's outputs are replaced
  }
  invoker_members = { eventarc = "serviceAccount:${var.service_account_emails.batch_trigger}" }
}

module "drift_check" {
  source = "../function"

  project_id               = var.project_id
  region                   = var.region
  name                     = "${var.name_prefix}-drift-check"
  description              = "PSI of features, PD and score against the model's baseline (daily, from Cloud Scheduler)."
  entry_point              = "drift_check"
  source_bucket            = var.source_bucket
  source_object            = google_storage_bucket_object.source.name
  build_service_account_id = var.build_service_account_id
  docker_repository        = google_artifact_registry_repository.functions.id
  service_account_email    = var.service_account_emails.drift
  memory_mib               = 2048
  cpu                      = "1"
  timeout_s                = 1800
  min_instances            = 0
  max_instances            = 1
  concurrency              = 1
  ingress_settings         = var.jobs_ingress
  labels                   = var.labels
  environment_variables = {
    MODEL_STORE              = local.model_store
    MODEL_NAME               = var.model_name
    MODEL_CHALLENGER_VERSION = var.model_challenger_version
    STORE_READ_TIMEOUT_S     = "10"
    STORE_READ_DEADLINE_S    = "60"
    GOOGLE_CLOUD_PROJECT     = var.project_id
    MAX_BODY_BYTES           = "1048576"
    DRIFT_SOURCE             = "bq://${var.predictions_table}"
    REPORTS_DIR              = "gs://${var.model_bucket}/${var.drift_reports_folder}${var.model_name}/"
    DRIFT_REPORTS_TABLE      = "bq://${var.tables.drift_reports}"
    SERVICE_TIMEOUT_S        = tostring(var.service_timeout_s)
    SERVICE_DEADLINE_S       = tostring(var.service_deadline_s)
    ALLOWED_BUCKETS          = var.batch_bucket # drift sources a caller names: batch outputs
  }

  invoker_members = local.jobs_invokers
}
