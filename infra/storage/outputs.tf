output "model_bucket" {
  description = "Bucket of the model store (MODEL_STORE = gs://<this>)."
  value       = google_storage_bucket.this["model"].name
}

output "sources_bucket" {
  description = "Bucket holding the functions' source archives."
  value       = google_storage_bucket.this["sources"].name
}

output "batch_bucket" {
  description = "Bucket whose incoming/ files are scored into scored/."
  value       = google_storage_bucket.this["batch"].name
}

output "batch_incoming_folder" {
  description = "Managed folder of files to score (the storage trigger's input)."
  value       = google_storage_managed_folder.batch_incoming.name
}

output "batch_scored_folder" {
  description = "Managed folder of batch results."
  value       = google_storage_managed_folder.batch_scored.name
}

output "drift_reports_folder" {
  description = "Managed folder of the model bucket where drift reports go (REPORTS_DIR)."
  value       = google_storage_managed_folder.drift_reports.name
}

output "dataflow_bucket" {
  description = "Bucket of Dataflow's temporary and staging files (no storage trigger on it)."
  value       = google_storage_bucket.this["dataflow"].name
}

output "templates_folder" {
  description = "Managed folder of the model bucket holding the Flex Template spec."
  value       = google_storage_managed_folder.templates.name
}
