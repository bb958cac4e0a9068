output "sink_writer_identity" {
  description = "Identity the prediction sink writes to BigQuery as."
  value       = google_logging_project_sink.predictions.writer_identity
}

output "alert_policy_ids" {
  description = "Alert policies: drift, score_errors, score_latency."
  value = {
    drift         = google_monitoring_alert_policy.drift.id
    score_errors  = google_monitoring_alert_policy.score_errors.id
    score_latency = google_monitoring_alert_policy.score_latency.id
  }
}
