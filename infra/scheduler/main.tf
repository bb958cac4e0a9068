# Cloud Scheduler: a nightly batch run and a daily drift check (HTTP calls with OIDC identity
# tokens whose audience is the function's URL), and a weekly training run (the Cloud Run Admin
# API, a Google API: an OAuth access token). Attempt deadlines stay within Scheduler's 15 s to
# 30 min and equal the functions' timeouts (1,800 s), so a retry starts only once the attempt
# it replaces has ended; a retried attempt reruns the same day, which the functions treat
# idempotently (a run_date's outputs are replaced).
resource "google_cloud_scheduler_job" "batch" {
  project          = var.project_id
  region           = var.region
  name             = "${var.name_prefix}-nightly-batch"
  description      = "Nightly batch scoring (batch_score)."
  schedule         = var.batch_schedule
  time_zone        = var.time_zone
  attempt_deadline = "1800s"

  retry_config {
    retry_count          = 2
    min_backoff_duration = "300s"
    max_backoff_duration = "1800s"
    max_doublings        = 1
  }

  http_target {
    http_method = "POST"
    uri         = var.batch_url
    body        = base64encode(var.batch_request_json)
    headers     = { "Content-Type" = "application/json" }

    oidc_token {
      service_account_email = var.service_account_email
      audience              = var.batch_url
    }
  }
}

resource "google_cloud_scheduler_job" "drift" {
  project          = var.project_id
  region           = var.region
  name             = "${var.name_prefix}-daily-drift"
  description      = "Daily drift check (drift_check)."
  schedule         = var.drift_schedule
  time_zone        = var.time_zone
  attempt_deadline = "1800s"

  retry_config {
    retry_count          = 2
    min_backoff_duration = "120s"
    max_backoff_duration = "900s"
    max_doublings        = 2
  }

  http_target {
    http_method = "POST"
    uri         = var.drift_url
    body        = base64encode(var.drift_request_json)
    headers     = { "Content-Type" = "application/json" }

    oidc_token {
      service_account_email = var.service_account_email
      audience              = var.drift_url
    }
  }
}

resource "google_cloud_scheduler_job" "training" {
  project          = var.project_id
  region           = var.region
  name             = "${var.name_prefix}-weekly-training"
  description      = "Weekly retraining (Cloud Run job; a new version is promoted only through the gate)."
  schedule         = var.training_schedule
  time_zone        = var.time_zone
  attempt_deadline = "180s" # starting an execution returns at once; the run itself is the job's

  retry_config {
    retry_count          = 3
    min_backoff_duration = "60s"
    max_backoff_duration = "600s"
    max_doublings        = 2
  }

  http_target {
    http_method = "POST"
    uri         = "https://run.googleapis.com/v2/projects/${var.project_id}/locations/${var.region}/jobs/${var.training_job_name}:run"

    oauth_token {
      service_account_email = var.service_account_email
      scope                 = "https://www.googleapis.com/auth/cloud-platform"
    }
  }
}

# The scheduler may run the training job (invoking batch_score and drift_check is granted with
# the functions, in infra/functions).
resource "google_cloud_run_v2_job_iam_member" "scheduler_runs_training" {
  project  = var.project_id
  location = var.region
  name     = var.training_job_name
  role     = "roles/run.invoker"
  member   = "serviceAccount:${var.service_account_email}"
}
