# The APIs the product uses. Enabling is idempotent; destroying the stack leaves them enabled
# (other workloads in the project may use them too).
resource "google_project_service" "this" {
  # Vertex AI only where score may ask Gemini for narratives.
  for_each = toset(concat(var.services, var.narrative_enabled ? ["aiplatform.googleapis.com"] : []))

  project            = var.project_id
  service            = each.value
  disable_on_destroy = false
}
