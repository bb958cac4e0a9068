# Three buckets, all with uniform bucket-level access, public access prevention and versioning
# (a deleted or overwritten object can be restored until its noncurrent version expires).
locals {
  buckets = {
    model   = "${var.name_prefix}-models"           # model versions, current.json pointers, drift reports
    sources = "${var.name_prefix}-function-sources" # the zipped functions/ source, named by content hash
    batch   = "${var.name_prefix}-batch"            # incoming/ files to score, scored/ results
    # Dataflow's temporary and staging files: a bucket of their own, so that they never fire the
    # batch bucket's storage trigger (Eventarc storage events filter on the bucket only).
    dataflow = "${var.name_prefix}-dataflow"
  }
}

resource "google_storage_bucket" "this" {
  # checkov:skip=CKV_GCP_62:Access is audited by Cloud Audit Logs (Data Access logs); usage logs would need yet another bucket to hold them.
  for_each = local.buckets

  project                     = var.project_id
  name                        = each.value
  location                    = var.location
  force_destroy               = var.force_destroy
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  labels                      = var.labels

  versioning {
    enabled = true
  }

  lifecycle_rule {
    condition {
      days_since_noncurrent_time = var.noncurrent_retention_days
      with_state                 = "ARCHIVED"
    }
    action {
      type = "Delete"
    }
  }
}

# Managed folders: visible prefixes without placeholder objects (a placeholder in incoming/
# would itself fire the storage trigger), and the unit of prefix-level IAM (see infra/iam).
resource "google_storage_managed_folder" "batch_incoming" {
  bucket = google_storage_bucket.this["batch"].name
  name   = "incoming/"
}

resource "google_storage_managed_folder" "batch_scored" {
  bucket = google_storage_bucket.this["batch"].name
  name   = "scored/"
}

resource "google_storage_managed_folder" "drift_reports" {
  bucket = google_storage_bucket.this["model"].name
  name   = "drift-reports/"
}

# Dataflow's Flex Template spec (model bucket, beside the bundles it scores with).
resource "google_storage_managed_folder" "templates" {
  bucket = google_storage_bucket.this["model"].name
  name   = "templates/"
}
