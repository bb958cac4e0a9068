# The batch pipeline on Dataflow (dataflow/): its Flex Template spec, written beside the model
# bundles; the right of its workers to pull the image Cloud Build pushes (cloudbuild.yaml,
# dataflow/Dockerfile); a monthly rescore of the whole portfolio launched by Cloud Scheduler
# through the Dataflow REST API; and, when asked, one run at apply time (a backfill).
# batch_score launches the same template for any input above DATAFLOW_MIN_ROWS (infra/functions).
locals {
  image         = "${var.image_repository}/dataflow:${var.image_tag}"
  template_path = "gs://${var.model_bucket}/${google_storage_bucket_object.template.name}"
  temp_location = "gs://${var.dataflow_bucket}/tmp"
  private_ips   = var.subnetwork != ""
  # The job's environment, the same for every launcher: in the spec (defaultEnvironment) and in
  # the explicit launches below.
  environment = merge({
    serviceAccountEmail  = var.service_account_email
    tempLocation         = local.temp_location
    stagingLocation      = "gs://${var.dataflow_bucket}/staging"
    maxWorkers           = var.max_workers
    machineType          = var.machine_type
    sdkContainerImage    = local.image
    additionalUserLabels = var.labels
    ipConfiguration      = local.private_ips ? "WORKER_IP_PRIVATE" : "WORKER_IP_PUBLIC"
  }, local.private_ips ? { subnetwork = var.subnetwork } : {})
}

# What `gcloud dataflow flex-template build` writes, written by Terraform instead: the image,
# the SDK language, the parameters (dataflow/metadata.json) and the default environment.
resource "google_storage_bucket_object" "template" {
  bucket       = var.model_bucket
  name         = "templates/riskscore-batch.json"
  content_type = "application/json"
  content = jsonencode({
    image              = local.image
    sdkInfo            = { language = "PYTHON" }
    metadata           = jsondecode(var.metadata_json)
    defaultEnvironment = local.environment
  })
}

# The launcher VM and the workers run the template image.
resource "google_artifact_registry_repository_iam_member" "workers_pull" {
  project    = var.project_id
  location   = var.region
  repository = var.repository_id
  role       = "roles/artifactregistry.reader"
  member     = "serviceAccount:${var.service_account_email}"
}

# Monthly: the whole portfolio table rescored on Dataflow (IFRS 9 month-end), run_date = the
# launch day (UTC), the model = current.json at launch. The job name is fixed, so a retried
# attempt while the job runs is refused by Dataflow (409) instead of starting a second one.
resource "google_cloud_scheduler_job" "rescore" {
  project          = var.project_id
  region           = var.region
  name             = "${var.name_prefix}-monthly-rescore"
  description      = "Monthly rescore of the portfolio on Dataflow (Flex Template)."
  schedule         = var.rescore_schedule
  time_zone        = var.time_zone
  attempt_deadline = "180s" # a launch returns once the job is submitted

  retry_config {
    retry_count          = 3
    min_backoff_duration = "60s"
    max_backoff_duration = "600s"
    max_doublings        = 2
  }

  http_target {
    http_method = "POST"
    uri         = "https://dataflow.googleapis.com/v1b3/projects/${var.project_id}/locations/${var.region}/flexTemplates:launch"
    headers     = { "Content-Type" = "application/json" }
    body = base64encode(jsonencode({
      launchParameter = {
        jobName              = "${var.name_prefix}-monthly-rescore"
        containerSpecGcsPath = local.template_path
        parameters = {
          input           = var.rescore_input
          output          = var.rescore_output
          model_store     = "gs://${var.model_bucket}"
          model_name      = var.model_name
          staging_dataset = var.staging_dataset
        }
        environment = local.environment
      }
    }))

    oauth_token {
      service_account_email = var.scheduler_service_account_email
      scope                 = "https://www.googleapis.com/auth/cloud-platform"
    }
  }
}

# One run at apply time when `backfill` is given (e.g. rescoring history after a model change);
# google-beta only. Removing it from the configuration leaves the finished job alone.
resource "google_dataflow_flex_template_job" "backfill" {
  provider = google-beta
  count    = var.backfill == null ? 0 : 1

  project                      = var.project_id
  region                       = var.region
  name                         = "${var.name_prefix}-backfill-${var.backfill.run_date}"
  container_spec_gcs_path      = local.template_path
  service_account_email        = var.service_account_email
  temp_location                = local.temp_location
  max_workers                  = var.max_workers
  machine_type                 = var.machine_type
  sdk_container_image          = local.image
  ip_configuration             = local.environment.ipConfiguration
  subnetwork                   = local.private_ips ? var.subnetwork : null
  labels                       = var.labels
  on_delete                    = "cancel"
  skip_wait_on_job_termination = true
  parameters = {
    input           = var.backfill.input
    output          = var.backfill.output
    run_date        = var.backfill.run_date
    model_store     = "gs://${var.model_bucket}"
    model_name      = var.model_name
    staging_dataset = var.staging_dataset
  }
}
