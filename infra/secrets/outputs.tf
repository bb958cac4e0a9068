output "salt_secret_id" {
  description = "Secret id of the applicant-id salt (the score function reads its latest version)."
  value       = google_secret_manager_secret.salt.secret_id
}

output "salt_secret_name" {
  description = "Full resource name of the salt secret (projects/P/secrets/ID)."
  value       = google_secret_manager_secret.salt.id
}

output "salt_version" {
  description = "The salt's secret version resource name (depend on it so the function starts with a salt)."
  value       = google_secret_manager_secret_version.salt.name
}
