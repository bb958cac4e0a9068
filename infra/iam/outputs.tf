output "emails" {
  description = "Service account emails by workload: score, batch, batch_trigger, drift, training, scheduler, builder, dataflow."
  value       = { for k, sa in google_service_account.this : k => sa.email }
}

output "ids" {
  description = "Service account resource names (projects/P/serviceAccounts/EMAIL) by workload."
  value       = { for k, sa in google_service_account.this : k => sa.id }
}

output "grants" {
  description = "Ids of the data-access grants (depend on them so workloads start with their permissions)."
  value = concat(
    [for r in [google_storage_bucket_iam_member.score_models, google_storage_bucket_iam_member.batch_models,
    google_storage_bucket_iam_member.drift_models, google_storage_bucket_iam_member.training_models] : r.id],
    [google_secret_manager_secret_iam_member.score_salt.id, google_project_iam_member.gcs_agent_publishes.id,
    google_project_iam_member.batch_trigger_events.id],
    google_secret_manager_secret_iam_member.batch_snowflake_password[*].id,
  )
}
