output "dataset_id" {
  description = "Dataset of batch scores, rejects, drift reports and training runs."
  value       = google_bigquery_dataset.main.dataset_id
}

output "predictions_dataset_id" {
  description = "Dataset the log sink fills with the score function's prediction lines."
  value       = google_bigquery_dataset.predictions.dataset_id
}

output "staging_dataset_id" {
  description = "Dataset of batch_score's staging tables."
  value       = google_bigquery_dataset.staging.dataset_id
}

output "tables" {
  description = "Table ids (project.dataset.table) by table name."
  value = {
    for t in [google_bigquery_table.batch_scores, google_bigquery_table.batch_scores_rejects,
    google_bigquery_table.drift_reports, google_bigquery_table.training_runs] :
    t.table_id => "${t.project}.${t.dataset_id}.${t.table_id}"
  }
}

output "predictions_table" {
  description = "Table the log sink creates on the first prediction (Logging names it after the log: run.googleapis.com/stdout)."
  value       = "${var.project_id}.${google_bigquery_dataset.predictions.dataset_id}.run_googleapis_com_stdout"
}
