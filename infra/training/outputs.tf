output "job_name" {
  description = "Name of the training Cloud Run job (gcloud run jobs execute NAME)."
  value       = google_cloud_run_v2_job.training.name
}

output "repository" {
  description = "Artifact Registry path images are pushed to (REGION-docker.pkg.dev/PROJECT/REPO)."
  value       = "${var.region}-docker.pkg.dev/${var.project_id}/${google_artifact_registry_repository.images.repository_id}"
}

output "image" {
  description = "The training image the job runs."
  value       = local.image
}

output "repository_id" {
  description = "Artifact Registry repository id (the Dataflow workers pull the template image from it)."
  value       = google_artifact_registry_repository.images.repository_id
}
