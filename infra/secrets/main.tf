# The salt that hashes applicant ids in the prediction log. Generated here, stored only in Secret
# Manager: an ephemeral value written through a write-only argument never enters the state.
ephemeral "random_password" "salt" {
  length  = 48
  special = false
}

resource "google_secret_manager_secret" "salt" {
  project   = var.project_id
  secret_id = var.secret_id
  labels    = var.labels

  replication {
    auto {}
  }
}

resource "google_secret_manager_secret_version" "salt" {
  secret                 = google_secret_manager_secret.salt.id
  secret_data_wo         = ephemeral.random_password.salt.result
  secret_data_wo_version = var.salt_generation
}
