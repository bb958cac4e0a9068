# One service account per workload, each granted only what it uses, on the narrowest resource:
# a bucket, a managed folder (a prefix), a table, a dataset, a secret; project-wide only where
# the permission exists only at project level (running BigQuery jobs, receiving events).
# Who may invoke a function or run the training job is granted beside the caller's resources
# (infra/functions, infra/scheduler), once the function or job exists.
locals {
  accounts = {
    score         = "score function: reads the model bucket and the applicant-id salt"
    batch         = "batch_score and batch_score_gcs functions: read inputs, write scores"
    batch_trigger = "Eventarc trigger of batch_score_gcs: receives storage events, invokes it"
    drift         = "drift_check function: reads predictions and batch scores, writes reports"
    training      = "training Cloud Run job: reads training data, publishes models"
    scheduler     = "Cloud Scheduler: invokes batch_score and drift_check, runs the training job"
    builder       = "Cloud Build of the functions' source"
    dataflow      = "Dataflow workers of the batch pipeline: read inputs and models, write scores"
  }
  # project.dataset.table -> [project, dataset, table]
  tables = { for name, id in var.tables : name => split(".", id) }
  source = split(".", var.batch_source_table)
  train  = split(".", var.training_data_table)
}

resource "google_service_account" "this" {
  for_each = local.accounts

  project      = var.project_id
  account_id   = "${var.name_prefix}-${replace(each.key, "_", "-")}"
  display_name = "${var.name_prefix} ${each.key}"
  description  = each.value
}

# --- score: the model bucket (read) and the salt (read) -------------------------------------
resource "google_storage_bucket_iam_member" "score_models" {
  bucket = var.model_bucket
  role   = "roles/storage.objectViewer"
  member = google_service_account.this["score"].member
}

resource "google_secret_manager_secret_iam_member" "score_salt" {
  project   = var.project_id
  secret_id = var.salt_secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.this["score"].member
}

# --- score: Gemini on Vertex AI, only with narrative_enabled. generateContent on a publisher
# --- model is authorized as aiplatform.endpoints.predict on the project; roles/aiplatform.user
# --- would also let the identity create and delete endpoints, datasets, jobs and models, so a
# --- custom role holds that one permission. (A deleted custom role keeps its id for 37 days:
# --- turning the narrative off and on again within that time needs the role undeleted.) ----
resource "google_project_iam_custom_role" "gemini_caller" {
  count = var.narrative_enabled ? 1 : 0

  project     = var.project_id
  role_id     = "${replace(var.name_prefix, "-", "_")}_gemini_caller"
  title       = "${var.name_prefix} Gemini caller"
  description = "Calls Gemini models on Vertex AI (generateContent) and nothing else."
  permissions = ["aiplatform.endpoints.predict"]
}

resource "google_project_iam_member" "score_gemini" {
  count = var.narrative_enabled ? 1 : 0

  project = var.project_id
  role    = google_project_iam_custom_role.gemini_caller[0].id
  member  = google_service_account.this["score"].member
}

# --- batch: models (read), incoming/ and the nightly source table (read), scored/ and the
# --- score tables (write), BigQuery load and read-session jobs ------------------------------
resource "google_storage_bucket_iam_member" "batch_models" {
  bucket = var.model_bucket
  role   = "roles/storage.objectViewer"
  member = google_service_account.this["batch"].member
}

resource "google_storage_managed_folder_iam_member" "batch_incoming" {
  bucket         = var.batch_bucket
  managed_folder = var.batch_incoming_folder
  role           = "roles/storage.objectViewer"
  member         = google_service_account.this["batch"].member
}

resource "google_storage_managed_folder_iam_member" "batch_scored" {
  bucket         = var.batch_bucket
  managed_folder = var.batch_scored_folder
  role           = "roles/storage.objectUser" # a rerun of a day overwrites its files
  member         = google_service_account.this["batch"].member
}

resource "google_bigquery_table_iam_member" "batch_source" {
  project    = local.source[0]
  dataset_id = local.source[1]
  table_id   = local.source[2]
  role       = "roles/bigquery.dataViewer"
  member     = google_service_account.this["batch"].member
}

resource "google_bigquery_table_iam_member" "batch_scores" {
  project    = local.tables.batch_scores[0]
  dataset_id = local.tables.batch_scores[1]
  table_id   = local.tables.batch_scores[2]
  role       = "roles/bigquery.dataEditor"
  member     = google_service_account.this["batch"].member
}

resource "google_bigquery_table_iam_member" "batch_rejects" {
  project    = local.tables.batch_scores_rejects[0]
  dataset_id = local.tables.batch_scores_rejects[1]
  table_id   = local.tables.batch_scores_rejects[2]
  role       = "roles/bigquery.dataEditor"
  member     = google_service_account.this["batch"].member
}

resource "google_project_iam_member" "batch_jobs" {
  project = var.project_id
  role    = "roles/bigquery.jobUser"
  member  = google_service_account.this["batch"].member
}

resource "google_project_iam_member" "batch_read_sessions" {
  project = var.project_id
  role    = "roles/bigquery.readSessionUser"
  member  = google_service_account.this["batch"].member
}

# --- batch: the lender's Snowflake password (an existing secret; only when one is named) -----
resource "google_secret_manager_secret_iam_member" "batch_snowflake_password" {
  count = var.snowflake_password_secret_id == "" ? 0 : 1

  project   = var.project_id
  secret_id = var.snowflake_password_secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.this["batch"].member
}

# --- batch_trigger: receive Eventarc events (invoking batch_score_gcs: infra/functions) ------
resource "google_project_iam_member" "batch_trigger_events" {
  project = var.project_id
  role    = "roles/eventarc.eventReceiver"
  member  = google_service_account.this["batch_trigger"].member
}

# The Cloud Storage service agent publishes the bucket's events to Pub/Sub for Eventarc;
# without this a storage trigger fails on a first apply.
data "google_storage_project_service_account" "gcs" {
  project = var.project_id
}

resource "google_project_iam_member" "gcs_agent_publishes" {
  project = var.project_id
  role    = "roles/pubsub.publisher"
  member  = data.google_storage_project_service_account.gcs.member
}

# IAM grants take minutes to propagate; on a fresh project the storage trigger fails when it is
# created before the service agent's and the trigger identity's grants are effective (provider
# issue "Functions v2 Eventarc trigger errors on first apply on fresh project"). The functions
# module depends on this module, so it waits for this pause too.
resource "time_sleep" "grants_propagate" {
  depends_on      = [google_project_iam_member.gcs_agent_publishes, google_project_iam_member.batch_trigger_events]
  create_duration = "${var.grant_propagation_s}s"
}

# --- drift: baselines (read), predictions and batch scores (read), reports (write) -----------
resource "google_storage_bucket_iam_member" "drift_models" {
  bucket = var.model_bucket
  role   = "roles/storage.objectViewer"
  member = google_service_account.this["drift"].member
}

resource "google_storage_managed_folder_iam_member" "drift_reports_folder" {
  bucket         = var.model_bucket
  managed_folder = var.drift_reports_folder
  role           = "roles/storage.objectUser"
  member         = google_service_account.this["drift"].member
}

resource "google_storage_managed_folder_iam_member" "drift_scored" {
  bucket         = var.batch_bucket
  managed_folder = var.batch_scored_folder
  role           = "roles/storage.objectViewer"
  member         = google_service_account.this["drift"].member
}

# Dataset-level: Cloud Logging creates the prediction tables on the first prediction.
resource "google_bigquery_dataset_iam_member" "batch_staging" {
  project    = var.project_id
  dataset_id = var.staging_dataset_id
  role       = "roles/bigquery.dataEditor"
  member     = google_service_account.this["batch"].member
}

resource "google_bigquery_dataset_iam_member" "drift_predictions" {
  project    = var.project_id
  dataset_id = var.predictions_dataset_id
  role       = "roles/bigquery.dataViewer"
  member     = google_service_account.this["drift"].member
}

resource "google_bigquery_table_iam_member" "drift_batch_scores" {
  project    = local.tables.batch_scores[0]
  dataset_id = local.tables.batch_scores[1]
  table_id   = local.tables.batch_scores[2]
  role       = "roles/bigquery.dataViewer"
  member     = google_service_account.this["drift"].member
}

resource "google_bigquery_table_iam_member" "drift_reports_table" {
  project    = local.tables.drift_reports[0]
  dataset_id = local.tables.drift_reports[1]
  table_id   = local.tables.drift_reports[2]
  role       = "roles/bigquery.dataEditor"
  member     = google_service_account.this["drift"].member
}

resource "google_project_iam_member" "drift_jobs" {
  project = var.project_id
  role    = "roles/bigquery.jobUser"
  member  = google_service_account.this["drift"].member
}

resource "google_project_iam_member" "drift_read_sessions" {
  project = var.project_id
  role    = "roles/bigquery.readSessionUser"
  member  = google_service_account.this["drift"].member
}

# --- training: training data (read), the model store (publish, promote), runs table (write) --
resource "google_storage_bucket_iam_member" "training_models" {
  bucket = var.model_bucket
  role   = "roles/storage.objectUser" # writes versions and rewrites current.json
  member = google_service_account.this["training"].member
}

resource "google_bigquery_table_iam_member" "training_data" {
  project    = local.train[0]
  dataset_id = local.train[1]
  table_id   = local.train[2]
  role       = "roles/bigquery.dataViewer"
  member     = google_service_account.this["training"].member
}

resource "google_bigquery_table_iam_member" "training_runs" {
  project    = local.tables.training_runs[0]
  dataset_id = local.tables.training_runs[1]
  table_id   = local.tables.training_runs[2]
  role       = "roles/bigquery.dataEditor"
  member     = google_service_account.this["training"].member
}

resource "google_project_iam_member" "training_jobs" {
  project = var.project_id
  role    = "roles/bigquery.jobUser" # the runs-table MERGE is a query job
  member  = google_service_account.this["training"].member
}

# --- builder: what Cloud Build needs to build a function from source ------------------------
# It reads the source archive (the sources bucket) and Google's copy of it in the
# gcf-v2-sources-* bucket (created on the first deployment, so it cannot be named here): a
# project-level grant whose IAM condition admits those buckets only, never the model, batch
# or state buckets. It pushes the function images to a repository of their own, granted
# there (infra/functions), never to the training and Dataflow images' repository.
resource "google_project_iam_member" "builder_logs" {
  project = var.project_id
  role    = "roles/logging.logWriter"
  member  = google_service_account.this["builder"].member
}

resource "google_project_iam_member" "builder_sources" {
  project = var.project_id
  role    = "roles/storage.objectViewer"
  member  = google_service_account.this["builder"].member

  condition {
    title       = "function-sources-only"
    description = "The functions' source archives and Google's gcf-v2-sources-* copies only."
    expression  = "resource.name.startsWith(\"projects/_/buckets/${var.sources_bucket}\") || resource.name.startsWith(\"projects/_/buckets/gcf-v2-sources-\")"
  }
}

# --- dataflow: the batch pipeline's workers (and its Flex Template launcher VM): what batch
# --- runs read and write, plus Dataflow's own worker role and its temporary files ------------
resource "google_project_iam_member" "dataflow_worker" {
  project = var.project_id
  role    = "roles/dataflow.worker" # project level only: report work, lease work items
  member  = google_service_account.this["dataflow"].member
}

resource "google_storage_bucket_iam_member" "dataflow_models" {
  bucket = var.model_bucket
  role   = "roles/storage.objectViewer" # bundles and the template spec
  member = google_service_account.this["dataflow"].member
}

resource "google_storage_managed_folder_iam_member" "dataflow_incoming" {
  bucket         = var.batch_bucket
  managed_folder = var.batch_incoming_folder
  role           = "roles/storage.objectViewer"
  member         = google_service_account.this["dataflow"].member
}

resource "google_storage_managed_folder_iam_member" "dataflow_scored" {
  bucket         = var.batch_bucket
  managed_folder = var.batch_scored_folder
  role           = "roles/storage.objectUser" # staged files are moved into place and removed
  member         = google_service_account.this["dataflow"].member
}

resource "google_storage_bucket_iam_member" "dataflow_temp" {
  bucket = var.dataflow_bucket
  role   = "roles/storage.objectUser"
  member = google_service_account.this["dataflow"].member
}

resource "google_bigquery_table_iam_member" "dataflow_source" {
  project    = local.source[0]
  dataset_id = local.source[1]
  table_id   = local.source[2]
  role       = "roles/bigquery.dataViewer"
  member     = google_service_account.this["dataflow"].member
}

resource "google_bigquery_table_iam_member" "dataflow_scores" {
  project    = local.tables.batch_scores[0]
  dataset_id = local.tables.batch_scores[1]
  table_id   = local.tables.batch_scores[2]
  role       = "roles/bigquery.dataEditor"
  member     = google_service_account.this["dataflow"].member
}

resource "google_bigquery_table_iam_member" "dataflow_rejects" {
  project    = local.tables.batch_scores_rejects[0]
  dataset_id = local.tables.batch_scores_rejects[1]
  table_id   = local.tables.batch_scores_rejects[2]
  role       = "roles/bigquery.dataEditor"
  member     = google_service_account.this["dataflow"].member
}

resource "google_bigquery_dataset_iam_member" "dataflow_staging" {
  project    = var.project_id
  dataset_id = var.staging_dataset_id
  role       = "roles/bigquery.dataEditor"
  member     = google_service_account.this["dataflow"].member
}

resource "google_project_iam_member" "dataflow_jobs" {
  project = var.project_id
  role    = "roles/bigquery.jobUser" # load jobs, the commit transaction, query inputs
  member  = google_service_account.this["dataflow"].member
}

resource "google_project_iam_member" "dataflow_read_sessions" {
  project = var.project_id
  role    = "roles/bigquery.readSessionUser"
  member  = google_service_account.this["dataflow"].member
}

# --- launching the Flex Template: batch_score (an input above DATAFLOW_MIN_ROWS) and the
# --- scheduler (the monthly rescore). Creating jobs exists at project level only; a job runs
# --- as the dataflow account, which the launcher must be allowed to act as. -----------------
# roles/dataflow.developer, not roles/dataflow.admin: by the role data (infra/iam-data) admin
# adds only compute.machineTypes.get and project-wide storage.buckets.get and
# storage.objects.create/get/list. The storage rights are granted on the buckets that need them
# (the template spec's, the Dataflow bucket for the job's identity), the machine-type check by
# the custom role below: nothing project-wide over storage.
resource "google_project_iam_member" "dataflow_launchers" {
  # checkov:skip=CKV_GCP_49:Creating Dataflow jobs can be granted at project level only; which account a job may run as is limited separately, to the dataflow account alone (dataflow_act_as).
  for_each = toset(["batch", "scheduler"])

  project = var.project_id
  role    = "roles/dataflow.developer"
  member  = google_service_account.this[each.key].member
}

resource "google_project_iam_custom_role" "dataflow_machine_types" {
  project     = var.project_id
  role_id     = "${replace(var.name_prefix, "-", "_")}_dataflow_machine_types"
  title       = "${var.name_prefix} Dataflow launch: machine types"
  description = "What roles/dataflow.admin adds to roles/dataflow.developer outside storage: reading the worker machine type a launch names."
  permissions = ["compute.machineTypes.get"]
}

# The launcher VM (running as the dataflow account) builds the job too: it gets the same check.
resource "google_project_iam_member" "dataflow_launchers_machine_types" {
  for_each = toset(["batch", "scheduler", "dataflow"])

  project = var.project_id
  role    = google_project_iam_custom_role.dataflow_machine_types.id
  member  = google_service_account.this[each.key].member
}

resource "google_service_account_iam_member" "dataflow_act_as" {
  for_each = toset(["batch", "scheduler"])

  service_account_id = google_service_account.this["dataflow"].name
  role               = "roles/iam.serviceAccountUser"
  member             = google_service_account.this[each.key].member
}

# The scheduler reads the template spec it launches (batch reads the whole model bucket).
resource "google_storage_managed_folder_iam_member" "scheduler_templates" {
  bucket         = var.model_bucket
  managed_folder = var.templates_folder
  role           = "roles/storage.objectViewer"
  member         = google_service_account.this["scheduler"].member
}
