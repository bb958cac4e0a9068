output "job_names" {
  description = "Scheduler job names: batch, drift, training (run one now: gcloud scheduler jobs run NAME)."
  value = {
    batch    = google_cloud_scheduler_job.batch.name
    drift    = google_cloud_scheduler_job.drift.name
    training = google_cloud_scheduler_job.training.name
  }
}
