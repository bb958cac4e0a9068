# One dataset for what the product writes, one for what the log sink writes. The sink's tables
# are created and named by Cloud Logging after the log (stdout lines of a function land in
# `run_googleapis_com_stdout`), so they get a dataset of their own: the sink's writer identity
# is granted on that dataset only, and readers of predictions get nothing else.
resource "google_bigquery_dataset" "main" {
  # checkov:skip=CKV_GCP_81:Encrypted at rest with Google-managed keys; customer-managed keys (a KMS key ring to run and pay for) are a deployment choice, not a default.
  project                    = var.project_id
  dataset_id                 = var.dataset_id
  location                   = var.location
  description                = "Credit-risk scoring: batch scores and rejects, drift reports, training runs."
  delete_contents_on_destroy = false
  labels                     = var.labels
}

resource "google_bigquery_dataset" "predictions" {
  # checkov:skip=CKV_GCP_81:Encrypted at rest with Google-managed keys; customer-managed keys (a KMS key ring to run and pay for) are a deployment choice, not a default.
  project     = var.project_id
  dataset_id  = "${var.dataset_id}_predictions"
  location    = var.location
  description = "Prediction log lines of the score function, written by a Cloud Logging sink (day-partitioned tables)."
  # Kept at least six months: the EU AI Act (Art. 12) asks that automatic logs of high-risk decisions be.
  default_partition_expiration_ms = var.predictions_retention_days * 24 * 3600 * 1000
  delete_contents_on_destroy      = false
  labels                          = var.labels
}

# batch_score's staging tables (one pair per run, dropped at its end): the batch function may
# create and delete tables here only, never in the dataset of the outputs. A table a crashed
# run could not drop expires after a day.
resource "google_bigquery_dataset" "staging" {
  # checkov:skip=CKV_GCP_81:Encrypted at rest with Google-managed keys; customer-managed keys (a KMS key ring to run and pay for) are a deployment choice, not a default.
  project                     = var.project_id
  dataset_id                  = "${var.dataset_id}_staging"
  location                    = var.location
  description                 = "Staging tables of batch_score runs (loaded, then moved into batch_scores in one transaction)."
  default_table_expiration_ms = 24 * 3600 * 1000
  delete_contents_on_destroy  = true
  labels                      = var.labels
}

# Schemas live in schemas/*.json (BigQuery's REST form); `scripts/sync_bq_schemas.py` writes them
# from the code's writers and tests/infra/test_invariants.py checks they still match.
resource "google_bigquery_table" "batch_scores" {
  # checkov:skip=CKV_GCP_80:Encrypted at rest with Google-managed keys (see the dataset); customer-managed keys are a deployment choice.
  project             = var.project_id
  dataset_id          = google_bigquery_dataset.main.dataset_id
  table_id            = "batch_scores"
  description         = "One row per scored applicant of a batch run (a rerun of a day replaces its partition)."
  deletion_protection = var.deletion_protection
  schema              = file("${path.module}/schemas/batch_scores.json")
  labels              = var.labels

  time_partitioning {
    type  = "DAY"
    field = "run_date"
  }
}

resource "google_bigquery_table" "batch_scores_rejects" {
  # checkov:skip=CKV_GCP_80:Encrypted at rest with Google-managed keys (see the dataset); customer-managed keys are a deployment choice.
  project             = var.project_id
  dataset_id          = google_bigquery_dataset.main.dataset_id
  table_id            = "batch_scores_rejects"
  description         = "One row per rejected input row of a batch run, with the field and the reason."
  deletion_protection = var.deletion_protection
  schema              = file("${path.module}/schemas/batch_scores_rejects.json")
  labels              = var.labels

  time_partitioning {
    type  = "DAY"
    field = "run_date"
  }
}

resource "google_bigquery_table" "drift_reports" {
  # checkov:skip=CKV_GCP_80:Encrypted at rest with Google-managed keys (see the dataset); customer-managed keys are a deployment choice.
  project             = var.project_id
  dataset_id          = google_bigquery_dataset.main.dataset_id
  table_id            = "drift_reports"
  description         = "Drift checks: PSI per feature, PD and score against the model's frozen baseline."
  deletion_protection = var.deletion_protection
  schema              = file("${path.module}/schemas/drift_reports.json")
  labels              = var.labels

  time_partitioning {
    type = "DAY" # by load time: a report is written once, on the day it is computed
  }
}

resource "google_bigquery_table" "training_runs" {
  # checkov:skip=CKV_GCP_80:Encrypted at rest with Google-managed keys (see the dataset); customer-managed keys are a deployment choice.
  project             = var.project_id
  dataset_id          = google_bigquery_dataset.main.dataset_id
  table_id            = "training_runs"
  description         = "One row per `python -m training train` run: parameters, metrics, outcome."
  deletion_protection = var.deletion_protection
  schema              = file("${path.module}/schemas/training_runs.json")
  labels              = var.labels

  time_partitioning {
    type  = "DAY"
    field = "started_at"
  }
}
