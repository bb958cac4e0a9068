output "function_urls" {
  description = "HTTPS URL of each function (call with an identity token whose audience is the URL)."
  value       = module.functions.urls
}

output "buckets" {
  description = "Bucket names: model store, function sources, batch (incoming/ and scored/), Dataflow's temporary files."
  value = {
    model    = module.storage.model_bucket
    sources  = module.storage.sources_bucket
    batch    = module.storage.batch_bucket
    dataflow = module.storage.dataflow_bucket
  }
}

output "model_store" {
  description = "MODEL_STORE of the functions and --store of the training CLI."
  value       = "gs://${module.storage.model_bucket}"
}

output "dataset" {
  description = "BigQuery dataset of batch scores, rejects, drift reports and training runs."
  value       = module.bigquery.dataset_id
}

output "tables" {
  description = "BigQuery table ids by name, and the prediction log table (created by the sink on the first prediction)."
  value       = merge(module.bigquery.tables, { predictions = module.bigquery.predictions_table })
}

output "service_accounts" {
  description = "Service account emails by workload."
  value       = module.iam.emails
}

output "training_job" {
  description = "Name of the training Cloud Run job."
  value       = module.training.job_name
}

output "training_image_repository" {
  description = "Artifact Registry path the training image is pushed to."
  value       = module.training.repository
}

output "scheduler_jobs" {
  description = "Cloud Scheduler job names (run one now: gcloud scheduler jobs run NAME --location REGION)."
  value       = module.scheduler.job_names
}

output "dataflow" {
  description = "The Dataflow batch pipeline: template spec, image, temp location, monthly rescore job."
  value = {
    template      = module.dataflow.template_path
    image         = module.dataflow.image
    temp_location = module.dataflow.temp_location
    rescore_job   = module.dataflow.rescore_job_name
  }
}

output "model" {
  description = "The model the stack trains and serves (model_name, model_spec) and the region of its jobs."
  value = {
    name   = var.model_name
    spec   = var.model_spec
    region = var.region
  }
}
