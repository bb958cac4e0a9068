# The APIs the product uses. Enabling is idempotent; destroying the stack leaves them enabled
# (other workloads in the project may use them too).
resource "google_project_service" "this" {
  for_each = toset(var.services)

  project            = var.project_id
  service            = each.value
  disable_on_destroy = false
}
