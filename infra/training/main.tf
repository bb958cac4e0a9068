# Training in the cloud: a Cloud Run job running `python -m training train` on a BigQuery table,
# publishing to the model bucket through the promotion gate (no --force). Its image is built by
# Cloud Build (cloudbuild.yaml, training/Dockerfile) into this Artifact Registry repository.
locals {
  image = "${var.region}-docker.pkg.dev/${var.project_id}/${google_artifact_registry_repository.images.repository_id}/training:${var.image_tag}"
}

resource "google_artifact_registry_repository" "images" {
  # checkov:skip=CKV_GCP_84:Holds the training image only (code and open-source libraries, no data or secrets), encrypted at rest with Google-managed keys.
  project       = var.project_id
  location      = var.region
  repository_id = "${var.name_prefix}-images"
  description   = "Container images of the training job."
  format        = "DOCKER"
  labels        = var.labels

  cleanup_policies {
    id     = "keep-recent"
    action = "KEEP"
    most_recent_versions {
      keep_count = 10
    }
  }

  cleanup_policies {
    id     = "delete-old"
    action = "DELETE"
    condition {
      older_than = "2592000s" # 30 days, unless among the 10 most recent
    }
  }
}

resource "google_cloud_run_v2_job" "training" {
  project             = var.project_id
  location            = var.region
  name                = "${var.name_prefix}-training"
  labels              = var.labels
  deletion_protection = false

  template {
    task_count = 1

    template {
      service_account = var.service_account_email
      timeout         = "${var.timeout_s}s"
      max_retries     = 0 # a failed run is recorded in training_runs; the next schedule retries

      containers {
        image = local.image
        args = [
          "train",
          "--spec", var.spec_path,
          "--data", "bq://${var.training_data_table}",
          "--store", "gs://${var.model_bucket}",
          "--runs-table", var.runs_table,
        ]

        env {
          name  = "GOOGLE_CLOUD_PROJECT"
          value = var.project_id
        }

        resources {
          limits = {
            cpu    = var.cpu
            memory = "${var.memory_mib}Mi"
          }
        }
      }
    }
  }
}
