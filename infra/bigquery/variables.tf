variable "project_id" {
  type        = string
  description = "Project that owns the datasets."
}

variable "location" {
  type        = string
  description = "BigQuery location of both datasets (a region, or US / EU)."
}

variable "dataset_id" {
  type        = string
  description = "Dataset of the product's tables; the log sink's dataset is named <this>_predictions."
}

variable "predictions_retention_days" {
  type        = number
  description = "Days a day-partition of the prediction log is kept (at least 183: six months)."
  default     = 400

  validation {
    condition     = var.predictions_retention_days >= 183
    error_message = "Keep the prediction log at least six months (183 days)."
  }
}

variable "deletion_protection" {
  type        = bool
  description = "Refuse to destroy tables that hold data (disable only for test environments)."
  default     = true
}

variable "labels" {
  type        = map(string)
  description = "Labels on datasets and tables."
  default     = {}
}
