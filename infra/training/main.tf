# Training in the cloud: a Cloud Run job running `python -m training train` on a BigQuery table,
# publishing to the model bucket through the promotion gate (no --force). Its image is built by
# Cloud Build (cloudbuild.yaml, training/Dockerfile) into this Artifact Registry repository.
locals {
  image = "${var.region}-docker.pkg.dev/${var.project_id}/${google_artifact_registry_repository.images.repository_id}/training:${var.image_tag}"
  # A gs:// spec is read through a read-only Cloud Storage volume (the job's identity must be
  # able to read it: the model bucket is); a plain path is one inside the image.
  spec_gcs    = startswith(var.spec_path, "gs://") ? regex("^gs://([^/]+)/(.+)$", var.spec_path) : null
  spec_mount  = "/mnt/spec"
  spec_in_job = local.spec_gcs == null ? var.spec_path : "${local.spec_mount}/${local.spec_gcs[1]}"
}

resource "google_artifact_registry_repository" "images" {
  # checkov:skip=CKV_GCP_84:Holds the training image only (code and open-source libraries, no data or secrets), encrypted at rest with Google-managed keys.
  project       = var.project_id
  location      = var.region
  repository_id = "${var.name_prefix}-images"
  description   = "Container images of the training job and the Dataflow template (written by the deploy build only)."
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
      # Cloud Storage volumes need the second-generation execution environment.
      execution_environment = local.spec_gcs == null ? null : "EXECUTION_ENVIRONMENT_GEN2"

      dynamic "volumes" {
        for_each = local.spec_gcs == null ? [] : [local.spec_gcs[0]]
        content {
          name = "spec"
          gcs {
            bucket    = volumes.value
            read_only = true
          }
        }
      }

      containers {
        image = local.image
        args = [
          "train",
          "--spec", local.spec_in_job,
          "--data", "bq://${var.training_data_table}",
          "--store", "gs://${var.model_bucket}",
          "--runs-table", var.runs_table,
        ]

        env {
          name  = "GOOGLE_CLOUD_PROJECT"
          value = var.project_id
        }
        dynamic "volume_mounts" {
          for_each = local.spec_gcs == null ? [] : ["spec"]
          content {
            name       = volume_mounts.value
            mount_path = local.spec_mount
          }
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
