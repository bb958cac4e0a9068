variable "project_id" {
  type        = string
  description = "Project of the sink and the alert policies."
}

variable "name_prefix" {
  type        = string
  description = "Prefix of the sink and policy names."
}

variable "score_service_name" {
  type        = string
  description = "Cloud Run service name of the score function."
}

variable "drift_service_name" {
  type        = string
  description = "Cloud Run service name of the drift_check function."
}

variable "predictions_dataset_id" {
  type        = string
  description = "Dataset the prediction sink writes to."
}

variable "notification_channel_ids" {
  type        = list(string)
  description = "Existing notification channels (projects/P/notificationChannels/ID) the alerts go to."
  default     = []
}

variable "alert_email" {
  type        = string
  description = "If set, an email notification channel is created for the alerts."
  default     = ""
}

variable "score_5xx_ratio_threshold" {
  type        = number
  description = "Alert when 5xx responses exceed this fraction of score requests over 5 minutes."
  default     = 0.01
}

variable "score_p95_latency_ms" {
  type        = number
  description = "Alert when the score function's p95 latency exceeds this many milliseconds over 5 minutes."
  default     = 1000
}

variable "model_name" {
  type        = string
  description = "Model the functions serve: named in the alerts and where their reports are."
}

variable "environment" {
  type        = string
  description = "Environment name: the `environment` label of this stack's Dataflow jobs."
}
