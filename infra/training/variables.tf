variable "project_id" {
  type        = string
  description = "Project of the training job and its image repository."
}

variable "region" {
  type        = string
  description = "Region of the job and the repository."
}

variable "name_prefix" {
  type        = string
  description = "Prefix of the job and repository names."
}

variable "image_tag" {
  type        = string
  description = "Tag of the training image in the repository (cloudbuild.yaml pushes the commit's short SHA)."
}

variable "service_account_email" {
  type        = string
  description = "Service account the job runs as."
}

variable "spec_path" {
  type        = string
  description = "Model spec: a path inside the image (training/specs/...) or a gs://bucket/object URI the job's identity can read."
  validation {
    condition     = !startswith(var.spec_path, "gs://") || can(regex("^gs://[^/]+/.+$", var.spec_path))
    error_message = "A gs:// spec must name an object: gs://BUCKET/PATH."
  }
}

variable "training_data_table" {
  type        = string
  description = "project.dataset.table the job trains on."
}

variable "model_bucket" {
  type        = string
  description = "Bucket of the model store the job publishes to."
}

variable "runs_table" {
  type        = string
  description = "project.dataset.table every run is recorded in."
}

variable "cpu" {
  type        = string
  description = "vCPUs of the job's task."
  default     = "4"
}

variable "memory_mib" {
  type        = number
  description = "Memory of the job's task, MiB."
  default     = 16384
}

variable "timeout_s" {
  type        = number
  description = "Maximum duration of a training run, seconds."
  default     = 7200
}

variable "labels" {
  type        = map(string)
  description = "Labels on the job and the repository."
  default     = {}
}
