variable "project_id" {
  type        = string
  description = "Project of the scheduler jobs."
}

variable "region" {
  type        = string
  description = "Region of the scheduler jobs and of the training job."
}

variable "name_prefix" {
  type        = string
  description = "Prefix of the scheduler job names."
}

variable "service_account_email" {
  type        = string
  description = "The scheduler's service account (signs OIDC and OAuth tokens)."
}

variable "time_zone" {
  type        = string
  description = "tz database time zone of the schedules."
  default     = "Etc/UTC"
}

variable "batch_url" {
  type        = string
  description = "URL of batch_score (target and OIDC audience)."
}

variable "batch_request_json" {
  type        = string
  description = "JSON body of the nightly batch_score call."
}

variable "batch_schedule" {
  type        = string
  description = "Cron schedule of the nightly batch."
  default     = "0 2 * * *"
}

variable "drift_url" {
  type        = string
  description = "URL of drift_check (target and OIDC audience)."
}

variable "drift_request_json" {
  type        = string
  description = "JSON body of the daily drift_check call ({} checks the function's default source)."
  default     = "{}"
}

variable "drift_schedule" {
  type        = string
  description = "Cron schedule of the daily drift check (after the nightly batch)."
  default     = "0 6 * * *"
}

variable "training_job_name" {
  type        = string
  description = "Name of the training Cloud Run job."
}

variable "training_schedule" {
  type        = string
  description = "Cron schedule of the weekly training run."
  default     = "0 3 * * 0"
}
