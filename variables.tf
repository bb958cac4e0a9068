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
