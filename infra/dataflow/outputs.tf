output "template_path" {
  description = "gs:// path of the Flex Template spec (DATAFLOW_TEMPLATE of the batch functions)."
  value       = local.template_path
}

output "temp_location" {
  description = "gs:// prefix of the jobs' temporary files (DATAFLOW_TEMP_LOCATION)."
  value       = local.temp_location
}

output "image" {
  description = "The template image (Cloud Build pushes it before apply)."
  value       = local.image
}

output "rescore_job_name" {
  description = "Cloud Scheduler job of the monthly rescore."
  value       = google_cloud_scheduler_job.rescore.name
}
