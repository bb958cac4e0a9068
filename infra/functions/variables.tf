variable "project_id" {
  type        = string
  description = "Project of the functions."
}

variable "region" {
  type        = string
  description = "Region of the functions (the batch bucket must be in it)."
}

variable "name_prefix" {
  type        = string
  description = "Prefix of the function names (e.g. riskscore-prod)."
}

variable "source_dir" {
  type        = string
  description = "Path of the functions/ folder to archive."
}

variable "source_bucket" {
  type        = string
  description = "Bucket the source archive is uploaded to."
}

variable "build_service_account_id" {
  type        = string
  description = "Service account (projects/P/serviceAccounts/EMAIL) Cloud Build runs as."
}

variable "service_account_emails" {
  type        = map(string)
  description = "Service account emails by workload (score, batch, batch_trigger, drift, scheduler)."
}

variable "model_bucket" {
  type        = string
  description = "Bucket of the model store."
}

variable "model_name" {
  type        = string
  description = "Model the functions serve (MODEL_NAME)."
}

variable "model_version" {
  type        = string
  description = "Pinned model version (MODEL_VERSION); empty follows the model's current.json."
}

variable "model_challenger_version" {
  type        = string
  description = "Challenger model version scored in shadow by score and batch_score, compared by drift_check (MODEL_CHALLENGER_VERSION); empty: none."
}

variable "batch_bucket" {
  type        = string
  description = "Bucket whose finalized objects trigger batch_score_gcs."
}

variable "drift_reports_folder" {
  type        = string
  description = "Managed folder of the model bucket for drift reports (ends with /)."
}

variable "batch_staging_dataset" {
  type        = string
  description = "project.dataset of batch_score's staging tables (BATCH_STAGING_DATASET)."
}

variable "tables" {
  type        = map(string)
  description = "project.dataset.table ids by table name (drift_reports is used here)."
}

variable "predictions_table" {
  type        = string
  description = "project.dataset.table of the prediction log (drift_check's default source)."
}

variable "salt_secret_id" {
  type        = string
  description = "Secret id of the applicant-id salt, given to score as APPLICANT_ID_SALT."
}

variable "score_min_instances" {
  type        = number
  description = "Warm score instances (1 or more removes cold starts, and is billed at rest)."
}

variable "score_max_instances" {
  type        = number
  description = "Upper bound on score instances."
}

variable "score_invoker_members" {
  type        = list(string)
  description = "Members allowed to call score (user:..., group:..., serviceAccount:...)."
}

variable "labels" {
  type        = map(string)
  description = "Labels on the functions."
  default     = {}
}

variable "jobs_ingress" {
  type        = string
  description = "Ingress of batch_score and drift_check: ALLOW_INTERNAL_ONLY (Cloud Scheduler counts as internal) or ALLOW_ALL for direct calls."
}

variable "jobs_invoker_members" {
  type        = list(string)
  description = "Members allowed to call batch_score and drift_check directly, besides the scheduler."
}

variable "dataflow_min_rows" {
  type        = number
  description = "Inputs of more rows than this are scored on Dataflow (DATAFLOW_MIN_ROWS)."
}

variable "dataflow_template" {
  type        = string
  description = "gs:// path of the Dataflow Flex Template spec."
}

variable "dataflow_temp_location" {
  type        = string
  description = "gs:// prefix of the Dataflow jobs' temporary files."
}

variable "dataflow_max_workers" {
  type        = number
  description = "Autoscaling ceiling of workers per Dataflow job."
}

variable "batch_gcs_dataflow_min_rows" {
  type        = number
  description = "batch_score_gcs: files of at least this many rows go to Dataflow (sized to its 540 s timeout)."
}

variable "deploy_service_account" {
  type        = string
  description = "Email of the deploy identity (Cloud Build's deploy build), an invoker of score for the smoke test; empty: none."
  default     = ""
}

variable "narrative_enabled" {
  type        = bool
  description = "Configure score's narratives (Gemini on Vertex AI); off: NARRATIVE_MODEL is empty and every narrative is the template."
  default     = false
}

variable "narrative_model" {
  type        = string
  description = "Gemini model of the narratives (NARRATIVE_MODEL)."
  default     = "gemini-2.5-flash"
}

variable "narrative_location" {
  type        = string
  description = "Vertex AI location of the Gemini calls (NARRATIVE_LOCATION)."
}

variable "narrative_timeout_s" {
  type        = number
  description = "Deadline of one narrative call in seconds (NARRATIVE_TIMEOUT_S)."
  default     = 3
}

variable "query_datasets" {
  description = "Datasets (project.dataset) a batch_score query input may read: the portfolio's."
  type        = list(string)
}

variable "service_timeout_s" {
  description = "Seconds a job's BigQuery or Cloud Storage call may take to connect (SERVICE_TIMEOUT_S)."
  type        = number
  default     = 10
}

variable "service_deadline_s" {
  description = "Seconds a job's BigQuery or Cloud Storage call may take in all, retries included, before a 503 (SERVICE_DEADLINE_S)."
  type        = number
  default     = 30
}

variable "snowflake_account" {
  type        = string
  description = "Snowflake account of the batch functions' snowflake:// sources (SNOWFLAKE_ACCOUNT); empty: no Snowflake settings at all."
  default     = ""
}

variable "snowflake_user" {
  type        = string
  description = "Snowflake login name (SNOWFLAKE_USER)."
  default     = ""
}

variable "snowflake_warehouse" {
  type        = string
  description = "Snowflake warehouse (SNOWFLAKE_WAREHOUSE); empty: not set, the user's default."
  default     = ""
}

variable "snowflake_role" {
  type        = string
  description = "Snowflake role (SNOWFLAKE_ROLE); empty: not set, the user's default."
  default     = ""
}

variable "snowflake_password_secret_id" {
  type        = string
  description = "Secret id (in project_id) whose latest version the batch functions get as SNOWFLAKE_PASSWORD; empty: none."
  default     = ""
}
