variable "project_id" {
  type        = string
  description = "Project whose APIs are enabled."
}

variable "services" {
  type        = list(string)
  description = "APIs to enable (service names)."
  default = [
    "artifactregistry.googleapis.com",
    "bigquery.googleapis.com",
    "bigquerystorage.googleapis.com",
    "cloudbuild.googleapis.com",
    "cloudfunctions.googleapis.com",
    "cloudscheduler.googleapis.com",
    "compute.googleapis.com", # Dataflow's workers are Compute Engine VMs
    "dataflow.googleapis.com",
    "eventarc.googleapis.com",
    "iam.googleapis.com",
    "logging.googleapis.com",
    "monitoring.googleapis.com",
    "pubsub.googleapis.com",
    "run.googleapis.com",
    "secretmanager.googleapis.com",
    "storage.googleapis.com",
  ]
}

variable "narrative_enabled" {
  type        = bool
  description = "Also enable Vertex AI (aiplatform.googleapis.com): score's narratives call Gemini there."
  default     = false
}
