output "enabled" {
  description = "The enabled API service names (depend on this output to order resources after them)."
  value       = [for s in google_project_service.this : s.service]
}
