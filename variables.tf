variable "project_id" {
  type        = string
  description = "Google Cloud project to deploy into."
}

variable "region" {
  type        = string
  description = "Region of the functions, buckets, training job and schedules."
  default     = "europe-west1"
}

variable "bigquery_location" {
  type        = string
  description = "BigQuery location of the datasets (a region or a multi-region: EU, US)."
  default     = "europe-west1"
}

variable "environment" {
  type        = string
  description = "Environment name (prod, staging, ...): part of every resource name."
  default     = "prod"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,9}$", var.environment))
    error_message = "2 to 10 lower-case letters, digits or hyphens, starting with a letter."
  }
}

variable "model_name" {
  type        = string
  description = "Model the functions serve, Dataflow scores and the alerts name: the `name` in model_spec."
  default     = "credit_default"
}

variable "model_spec" {
  type        = string
  description = "Spec the training job trains: a path inside the training image (training/specs/NAME.yaml) or a gs://BUCKET/OBJECT URI readable by the training identity (e.g. in the model bucket)."
  default     = "training/specs/credit_default.yaml"
}

variable "model_version" {
  type        = string
  description = "Pin the functions to this model version; empty follows the model's current.json (promote and roll back with the CLI)."
  default     = ""
}

variable "model_challenger_version" {
  type        = string
  description = "A second model version scored in shadow beside the one that decides (MODEL_CHALLENGER_VERSION): its outputs go to the prediction log and batch outputs, and the drift check compares the two; empty: no challenger."
  default     = ""
}

variable "score_min_instances" {
  type        = number
  description = "Warm instances of score: 0 costs nothing at rest; 1 or more removes cold starts (billed around the clock)."
  default     = 0
}

variable "score_max_instances" {
  type        = number
  description = "Upper bound on score instances."
  default     = 10
}

variable "score_invoker_members" {
  type        = list(string)
  description = "Who may call score: user:..., group:..., serviceAccount:... (never public)."
  default     = []

  validation {
    condition     = alltrue([for m in var.score_invoker_members : !contains(["allUsers", "allAuthenticatedUsers"], m)])
    error_message = "score is never public: callers authenticate with identity tokens."
  }
}

variable "jobs_ingress" {
  type        = string
  description = "Ingress of batch_score and drift_check: ALLOW_INTERNAL_ONLY (Cloud Scheduler counts as internal) or ALLOW_ALL to call them directly."
  default     = "ALLOW_INTERNAL_ONLY"

  validation {
    condition     = contains(["ALLOW_INTERNAL_ONLY", "ALLOW_ALL"], var.jobs_ingress)
    error_message = "ALLOW_INTERNAL_ONLY or ALLOW_ALL."
  }
}

variable "jobs_invoker_members" {
  type        = list(string)
  description = "Who may call batch_score and drift_check directly besides the scheduler: user:..., group:... (never public)."
  default     = []

  validation {
    condition     = alltrue([for m in var.jobs_invoker_members : !contains(["allUsers", "allAuthenticatedUsers"], m)])
    error_message = "batch_score and drift_check are never public: callers authenticate with identity tokens."
  }
}

variable "batch_source_table" {
  type        = string
  description = "project.dataset.table of applicants the nightly batch rescores (must exist)."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]+\\.[A-Za-z0-9_]+\\.[A-Za-z0-9_$-]+$", var.batch_source_table))
    error_message = "Give project.dataset.table."
  }
}

variable "training_data_table" {
  type        = string
  description = "project.dataset.table the weekly training job trains on (must exist)."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]+\\.[A-Za-z0-9_]+\\.[A-Za-z0-9_$-]+$", var.training_data_table))
    error_message = "Give project.dataset.table."
  }
}

variable "training_image_tag" {
  type        = string
  description = "Tag of the training image: cloudbuild.yaml sets its build id; by hand, the tag you pushed, kept in terraform.tfvars so every apply keeps it."
}

variable "time_zone" {
  type        = string
  description = "Time zone of the schedules (tz database name)."
  default     = "Etc/UTC"
}

variable "batch_schedule" {
  type        = string
  description = "Cron schedule of the nightly batch scoring."
  default     = "0 2 * * *"
}

variable "drift_schedule" {
  type        = string
  description = "Cron schedule of the daily drift check."
  default     = "0 6 * * *"
}

variable "training_schedule" {
  type        = string
  description = "Cron schedule of the weekly retraining."
  default     = "0 3 * * 0"
}

variable "notification_channel_ids" {
  type        = list(string)
  description = "Existing Cloud Monitoring notification channels (projects/P/notificationChannels/ID) for the alerts."
  default     = []
}

variable "alert_email" {
  type        = string
  description = "If set, an email notification channel for the alerts is created."
  default     = ""
}

variable "score_5xx_ratio_threshold" {
  type        = number
  description = "Alert when 5xx responses exceed this fraction of score requests over 5 minutes."
  default     = 0.01
}

variable "score_p95_latency_ms" {
  type        = number
  description = "Alert when score's p95 latency exceeds this many milliseconds over 5 minutes."
  default     = 1000
}

variable "protect_data" {
  type        = bool
  description = "Refuse to destroy buckets and tables that hold data (false only for test environments)."
  default     = true
}

variable "dataflow_min_rows" {
  type        = number
  description = "batch_score sends inputs of more rows than this (table metadata, file sizes) to Dataflow; see docs/benchmarks.md, sizing."
  default     = 25000000
  validation {
    condition     = var.dataflow_min_rows > 0
    error_message = "dataflow_min_rows must be positive."
  }
}

variable "batch_gcs_dataflow_min_rows" {
  type        = number
  description = "batch_score_gcs sends files of more rows than this to Dataflow. Its timeout is 540 s: at 100M rows an hour, 5M rows take about 180 s, a third of it (docs/benchmarks.md, sizing)."
  default     = 5000000
  validation {
    condition     = var.batch_gcs_dataflow_min_rows > 0
    error_message = "batch_gcs_dataflow_min_rows must be positive."
  }
}

variable "deploy_service_account" {
  type        = string
  description = "Email of the deploy identity (Cloud Build's deploy build): made an invoker of score, beside score_invoker_members, for the smoke test. Empty: none."
  default     = ""
}

variable "dataflow_image_tag" {
  type        = string
  description = "Tag of the Dataflow template image: cloudbuild.yaml sets its build id; by hand, the tag you pushed, kept in terraform.tfvars."
}

variable "dataflow_max_workers" {
  type        = number
  description = "Autoscaling ceiling of Dataflow workers per job."
  default     = 50
}

variable "dataflow_machine_type" {
  type        = string
  description = "Dataflow worker machine type."
  default     = "n2-standard-4"
}

variable "dataflow_subnetwork" {
  type        = string
  description = "regions/REGION/subnetworks/NAME with Private Google Access for workers without public IPs; empty: default network, public IPs."
  default     = ""
}

variable "dataflow_rescore_schedule" {
  type        = string
  description = "Cron of the monthly portfolio rescore on Dataflow."
  default     = "0 3 1 * *"
}

variable "dataflow_backfill" {
  type = object({
    input    = string
    output   = string
    run_date = string
  })
  description = "One Dataflow run launched at apply time (input, output, run_date); null: none."
  default     = null
}

variable "narrative_enabled" {
  type        = bool
  description = "Let score?include=narrative ask Gemini on Vertex AI for a written summary: enables the Vertex AI API and lets the score identity (only) call Gemini models. Off: every narrative is the template explanation."
  default     = false
}

variable "narrative_model" {
  type        = string
  description = "Gemini model that writes narratives (NARRATIVE_MODEL), e.g. gemini-2.5-flash."
  default     = "gemini-2.5-flash"
}

variable "narrative_location" {
  type        = string
  description = "Vertex AI location of the Gemini calls (NARRATIVE_LOCATION); empty: the region."
  default     = ""
}

variable "narrative_timeout_s" {
  type        = number
  description = "Deadline of one narrative call in seconds (NARRATIVE_TIMEOUT_S); past it, the template explanation."
  default     = 3
}

# Snowflake as a batch source (snowflake://DB.SCHEMA.TABLE or snowflake://SELECT ...): off while
# snowflake_account is empty. The password stays in the lender's own Secret Manager secret:
# Terraform names it, grants the batch identity access to it, and never reads or stores it.
variable "snowflake_account" {
  type        = string
  description = "Snowflake account identifier (SNOWFLAKE_ACCOUNT of batch_score and batch_score_gcs), e.g. myorg-myaccount; empty: no Snowflake settings and no grant."
  default     = ""

  validation {
    condition     = can(regex("^([A-Za-z0-9][A-Za-z0-9._-]*)?$", var.snowflake_account))
    error_message = "An account identifier (letters, digits, '.', '_', '-'), e.g. myorg-myaccount, not a URL."
  }
}

variable "snowflake_user" {
  type        = string
  description = "Snowflake login name the batch functions connect as (SNOWFLAKE_USER); required with snowflake_account."
  default     = ""

  validation {
    condition     = (var.snowflake_account == "") == (var.snowflake_user == "")
    error_message = "snowflake_user and snowflake_account are set together (both empty: no Snowflake)."
  }
}

variable "snowflake_warehouse" {
  type        = string
  description = "Snowflake warehouse the queries run on (SNOWFLAKE_WAREHOUSE); empty: the user's default."
  default     = ""

  validation {
    condition     = var.snowflake_account != "" || var.snowflake_warehouse == ""
    error_message = "snowflake_warehouse needs snowflake_account."
  }
}

variable "snowflake_role" {
  type        = string
  description = "Snowflake role of the session (SNOWFLAKE_ROLE); empty: the user's default."
  default     = ""

  validation {
    condition     = var.snowflake_account != "" || var.snowflake_role == ""
    error_message = "snowflake_role needs snowflake_account."
  }
}

variable "snowflake_password_secret_id" {
  type        = string
  description = "Id of an EXISTING Secret Manager secret in project_id holding the Snowflake password: its latest version becomes the batch functions' SNOWFLAKE_PASSWORD, and the batch identity alone may read that secret. Terraform neither creates the secret nor reads its value. Required with snowflake_account."
  default     = ""

  validation {
    condition     = can(regex("^([A-Za-z0-9_-]{1,255})?$", var.snowflake_password_secret_id))
    error_message = "The secret's id (letters, digits, '_', '-'), not its projects/P/secrets/ID name or a version."
  }

  validation {
    condition     = (var.snowflake_account == "") == (var.snowflake_password_secret_id == "")
    error_message = "snowflake_password_secret_id and snowflake_account are set together (both empty: no Snowflake)."
  }
}
