output "name" {
  description = "Function name (= its Cloud Run service name)."
  value       = google_cloudfunctions2_function.this.name
}

output "url" {
  description = "HTTPS URL of the function (the audience of identity tokens for it)."
  value       = google_cloudfunctions2_function.this.service_config[0].uri
}
