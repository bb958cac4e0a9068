# The whole product in one `terraform apply`: storage, BigQuery, the salt secret, one service
# account per workload, the four Cloud Functions, the training job, schedules, the prediction
# log sink and alerts. Each piece is a module in infra/; this file only wires them together.
provider "google" {
  project = var.project_id
  region  = var.region
  default_labels = {
    app         = "riskscore"
    environment = var.environment
  }
}

# Only for the optional one-off Dataflow run (google_dataflow_flex_template_job, infra/dataflow).
provider "google-beta" {
  project = var.project_id
  region  = var.region
  default_labels = {
    app         = "riskscore"
    environment = var.environment
  }
}

locals {
  name_prefix = "riskscore-${var.environment}"
  labels      = { app = "riskscore", environment = var.environment }
}

module "services" {
  source = "./infra/services"

  project_id        = var.project_id
  narrative_enabled = var.narrative_enabled
}

module "storage" {
  source     = "./infra/storage"
  depends_on = [module.services]

  project_id    = var.project_id
  location      = var.region
  name_prefix   = "${var.project_id}-rs-${var.environment}"
  force_destroy = !var.protect_data
  labels        = local.labels
}

module "bigquery" {
  source     = "./infra/bigquery"
  depends_on = [module.services]

  project_id          = var.project_id
  location            = var.bigquery_location
  dataset_id          = "riskscore_${replace(var.environment, "-", "_")}"
  deletion_protection = var.protect_data
  labels              = local.labels
}

module "secrets" {
  source     = "./infra/secrets"
  depends_on = [module.services]

  project_id = var.project_id
  secret_id  = "${local.name_prefix}-applicant-id-salt"
  labels     = local.labels
}

module "iam" {
  source     = "./infra/iam"
  depends_on = [module.services]

  project_id             = var.project_id
  name_prefix            = "rs-${var.environment}"
  model_bucket           = module.storage.model_bucket
  batch_bucket           = module.storage.batch_bucket
  batch_incoming_folder  = module.storage.batch_incoming_folder
  batch_scored_folder    = module.storage.batch_scored_folder
  drift_reports_folder   = module.storage.drift_reports_folder
  dataflow_bucket        = module.storage.dataflow_bucket
  sources_bucket         = module.storage.sources_bucket
  templates_folder       = module.storage.templates_folder
  tables                 = module.bigquery.tables
  staging_dataset_id     = module.bigquery.staging_dataset_id
  predictions_dataset_id = module.bigquery.predictions_dataset_id
  batch_source_table     = var.batch_source_table
  training_data_table    = var.training_data_table
  salt_secret_id         = module.secrets.salt_secret_id
  narrative_enabled      = var.narrative_enabled

  # The lender's own secret (not created here); empty: no grant.
  snowflake_password_secret_id = var.snowflake_password_secret_id
}

module "functions" {
  source = "./infra/functions"
  # The functions start with their grants in place (a secret env var is checked at deploy)
  # and with a salt version to read.
  depends_on = [module.iam, module.secrets]

  project_id                  = var.project_id
  region                      = var.region
  name_prefix                 = local.name_prefix
  source_dir                  = "${path.root}/functions"
  source_bucket               = module.storage.sources_bucket
  build_service_account_id    = module.iam.ids["builder"]
  service_account_emails      = module.iam.emails
  model_bucket                = module.storage.model_bucket
  model_name                  = var.model_name
  model_version               = var.model_version
  model_challenger_version    = var.model_challenger_version
  batch_bucket                = module.storage.batch_bucket
  drift_reports_folder        = module.storage.drift_reports_folder
  tables                      = module.bigquery.tables
  batch_staging_dataset       = "${var.project_id}.${module.bigquery.staging_dataset_id}"
  predictions_table           = module.bigquery.predictions_table
  salt_secret_id              = module.secrets.salt_secret_id
  query_datasets              = [join(".", slice(split(".", var.batch_source_table), 0, 2))]
  dataflow_min_rows           = var.dataflow_min_rows
  batch_gcs_dataflow_min_rows = var.batch_gcs_dataflow_min_rows
  deploy_service_account      = var.deploy_service_account
  dataflow_template           = module.dataflow.template_path
  dataflow_temp_location      = module.dataflow.temp_location
  dataflow_max_workers        = var.dataflow_max_workers
  score_min_instances         = var.score_min_instances
  score_max_instances         = var.score_max_instances
  score_invoker_members       = var.score_invoker_members
  jobs_ingress                = var.jobs_ingress
  jobs_invoker_members        = var.jobs_invoker_members
  narrative_enabled           = var.narrative_enabled
  narrative_model             = var.narrative_model
  narrative_location          = var.narrative_location == "" ? var.region : var.narrative_location
  narrative_timeout_s         = var.narrative_timeout_s
  labels                      = local.labels

  # snowflake:// inputs of the batch functions; all empty (the default): none.
  snowflake_account            = var.snowflake_account
  snowflake_user               = var.snowflake_user
  snowflake_warehouse          = var.snowflake_warehouse
  snowflake_role               = var.snowflake_role
  snowflake_password_secret_id = var.snowflake_password_secret_id
}

module "training" {
  source     = "./infra/training"
  depends_on = [module.iam]

  project_id            = var.project_id
  region                = var.region
  name_prefix           = local.name_prefix
  image_tag             = var.training_image_tag
  spec_path             = var.model_spec
  service_account_email = module.iam.emails["training"]
  training_data_table   = var.training_data_table
  model_bucket          = module.storage.model_bucket
  runs_table            = module.bigquery.tables["training_runs"]
  labels                = local.labels
}

module "dataflow" {
  source     = "./infra/dataflow"
  depends_on = [module.iam]

  project_id                      = var.project_id
  region                          = var.region
  name_prefix                     = local.name_prefix
  image_repository                = module.training.repository
  repository_id                   = module.training.repository_id
  image_tag                       = var.dataflow_image_tag
  metadata_json                   = file("${path.root}/dataflow/metadata.json")
  model_bucket                    = module.storage.model_bucket
  model_name                      = var.model_name
  dataflow_bucket                 = module.storage.dataflow_bucket
  staging_dataset                 = "${var.project_id}.${module.bigquery.staging_dataset_id}"
  service_account_email           = module.iam.emails["dataflow"]
  scheduler_service_account_email = module.iam.emails["scheduler"]
  max_workers                     = var.dataflow_max_workers
  machine_type                    = var.dataflow_machine_type
  subnetwork                      = var.dataflow_subnetwork
  rescore_schedule                = var.dataflow_rescore_schedule
  time_zone                       = var.time_zone
  rescore_input                   = "bq://${var.batch_source_table}"
  rescore_output                  = "bq://${module.bigquery.tables["batch_scores"]}"
  backfill                        = var.dataflow_backfill
  labels                          = local.labels
}

module "scheduler" {
  source = "./infra/scheduler"

  project_id            = var.project_id
  region                = var.region
  name_prefix           = local.name_prefix
  service_account_email = module.iam.emails["scheduler"]
  time_zone             = var.time_zone
  batch_url             = module.functions.urls["batch_score"]
  batch_schedule        = var.batch_schedule
  # The nightly run rescores the portfolio table into the batch tables.
  batch_request_json = jsonencode({
    input  = "bq://${var.batch_source_table}"
    output = "bq://${module.bigquery.tables["batch_scores"]}"
  })
  drift_url         = module.functions.urls["drift_check"]
  drift_schedule    = var.drift_schedule
  training_job_name = module.training.job_name
  training_schedule = var.training_schedule
}

module "monitoring" {
  source     = "./infra/monitoring"
  depends_on = [module.services]

  project_id                = var.project_id
  name_prefix               = local.name_prefix
  score_service_name        = module.functions.names["score"]
  drift_service_name        = module.functions.names["drift_check"]
  predictions_dataset_id    = module.bigquery.predictions_dataset_id
  notification_channel_ids  = var.notification_channel_ids
  alert_email               = var.alert_email
  score_5xx_ratio_threshold = var.score_5xx_ratio_threshold
  score_p95_latency_ms      = var.score_p95_latency_ms
  model_name                = var.model_name
  environment               = var.environment
}
