variable "project_id" {
  type        = string
  description = "Project the jobs run in."
}

variable "region" {
  type        = string
  description = "Dataflow region of the jobs (and of the scheduler job and image repository)."
}

variable "name_prefix" {
  type        = string
  description = "Prefix of resource and job names."
}

variable "image_repository" {
  type        = string
  description = "Artifact Registry path (REGION-docker.pkg.dev/PROJECT/REPO) of the template image."
}

variable "repository_id" {
  type        = string
  description = "Artifact Registry repository id the workers pull from."
}

variable "image_tag" {
  type        = string
  description = "Tag of the template image (the Cloud Build id that built it)."
}

variable "metadata_json" {
  type        = string
  description = "The template's metadata (dataflow/metadata.json): name and parameters."
}

variable "model_bucket" {
  type        = string
  description = "Model bucket: the bundles, and the template spec under templates/."
}

variable "model_name" {
  type        = string
  description = "Model the scheduled runs score with."
}

variable "dataflow_bucket" {
  type        = string
  description = "Bucket of the jobs' temporary and staging files (outside the batch bucket and its trigger)."
}

variable "staging_dataset" {
  type        = string
  description = "project.dataset of the BigQuery staging tables of bq:// outputs: the Dataflow identity may create tables there (it holds table-level roles only in the output's dataset)."
}

variable "service_account_email" {
  type        = string
  description = "Identity of the launcher VM and the workers."
}

variable "scheduler_service_account_email" {
  type        = string
  description = "Identity Cloud Scheduler launches the monthly rescore with (an OAuth token)."
}

variable "max_workers" {
  type        = number
  description = "Autoscaling ceiling of workers per job."
  default     = 50
}

variable "machine_type" {
  type        = string
  description = "Worker machine type (n2-standard-4: 4 vCPU, 16 GB; see docs/benchmarks.md, sizing)."
  default     = "n2-standard-4"
}

variable "subnetwork" {
  type        = string
  description = "regions/REGION/subnetworks/NAME (Private Google Access on) for workers without public IPs; empty: the default network with public IPs."
  default     = ""
}

variable "rescore_schedule" {
  type        = string
  description = "Cron of the monthly rescore."
  default     = "0 3 1 * *"
}

variable "time_zone" {
  type        = string
  description = "Time zone of the schedule."
}

variable "rescore_input" {
  type        = string
  description = "bq://project.dataset.table (or gs://…) the monthly rescore reads."
}

variable "rescore_output" {
  type        = string
  description = "bq://project.dataset.table (or gs://…) the monthly rescore writes."
}

variable "backfill" {
  type = object({
    input    = string
    output   = string
    run_date = string
  })
  description = "One run launched at apply time (input, output, run_date YYYY-MM-DD); null: none."
  default     = null
}

variable "labels" {
  type        = map(string)
  description = "Labels of the jobs and their workers."
}
