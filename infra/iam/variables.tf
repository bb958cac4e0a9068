variable "project_id" {
  type        = string
  description = "Project of the service accounts and of the project-level grants."
}

variable "name_prefix" {
  type        = string
  description = "Short prefix of the service account ids (account ids are at most 30 characters)."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,15}$", var.name_prefix))
    error_message = "2 to 16 lower-case letters, digits or hyphens, starting with a letter."
  }
}

variable "model_bucket" {
  type        = string
  description = "Bucket of the model store."
}

variable "batch_bucket" {
  type        = string
  description = "Bucket of batch inputs (incoming/) and outputs (scored/)."
}

variable "batch_incoming_folder" {
  type        = string
  description = "Managed folder of batch inputs (e.g. incoming/)."
}

variable "batch_scored_folder" {
  type        = string
  description = "Managed folder of batch outputs (e.g. scored/)."
}

variable "drift_reports_folder" {
  type        = string
  description = "Managed folder of the model bucket where drift reports go."
}

variable "tables" {
  type        = map(string)
  description = "project.dataset.table ids of batch_scores, batch_scores_rejects, drift_reports and training_runs."
}

variable "staging_dataset_id" {
  type        = string
  description = "Dataset of batch_score's staging tables (the batch identity may create and drop tables there)."
}

variable "predictions_dataset_id" {
  type        = string
  description = "Dataset the log sink fills with prediction lines."
}

variable "batch_source_table" {
  type        = string
  description = "project.dataset.table the nightly batch scores (it must exist: it is granted read on)."
}

variable "training_data_table" {
  type        = string
  description = "project.dataset.table the training job reads (it must exist: it is granted read on)."
}

variable "salt_secret_id" {
  type        = string
  description = "Secret id of the applicant-id salt."
}

variable "dataflow_bucket" {
  type        = string
  description = "Bucket of Dataflow's temporary and staging files."
}

variable "templates_folder" {
  type        = string
  description = "Managed folder of the model bucket holding the Flex Template spec."
}

variable "sources_bucket" {
  type        = string
  description = "Bucket of the functions' source archives (the builder reads it)."
}

variable "grant_propagation_s" {
  type        = number
  description = "Seconds to wait after the service agents' grants before the storage trigger is created."
  default     = 120
}

variable "narrative_enabled" {
  type        = bool
  description = "Let the score identity call Gemini models on Vertex AI (score?include=narrative)."
  default     = false
}

variable "snowflake_password_secret_id" {
  type        = string
  description = "Id of an existing secret (in project_id) holding the Snowflake password, read by the batch identity alone; empty: no grant."
  default     = ""
}
