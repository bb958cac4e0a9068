# The prediction log to BigQuery, and three alerts: drift warnings, score 5xx ratio, score p95
# latency. A gen2 function is a Cloud Run service: its logs and metrics are cloud_run_revision's.
locals {
  score_service = "resource.type = \"cloud_run_revision\" AND resource.labels.service_name = \"${var.score_service_name}\""
  channels      = concat(var.notification_channel_ids, google_monitoring_notification_channel.email[*].id)
}

resource "google_logging_project_sink" "predictions" {
  project                = var.project_id
  name                   = "${var.name_prefix}-predictions"
  description            = "Prediction lines of the score function (one per scored request)."
  destination            = "bigquery.googleapis.com/projects/${var.project_id}/datasets/${var.predictions_dataset_id}"
  filter                 = "${local.score_service} AND jsonPayload.log_type = \"prediction\""
  unique_writer_identity = true

  bigquery_options {
    use_partitioned_tables = true # day-partitioned by the log entry's timestamp
  }
}

resource "google_bigquery_dataset_iam_member" "sink_writer" {
  project    = var.project_id
  dataset_id = var.predictions_dataset_id
  role       = "roles/bigquery.dataEditor"
  member     = google_logging_project_sink.predictions.writer_identity
}

resource "google_monitoring_notification_channel" "email" {
  count = var.alert_email == "" ? 0 : 1

  project      = var.project_id
  display_name = "${var.name_prefix} alerts"
  type         = "email"
  labels       = { email_address = var.alert_email }
}

resource "google_monitoring_alert_policy" "drift" {
  project               = var.project_id
  display_name          = "${var.name_prefix}: ${var.model_name} drift check WARNING or ERROR"
  combiner              = "OR"
  notification_channels = local.channels

  conditions {
    display_name = "drift_check logged a line at WARNING or above"
    condition_matched_log {
      filter = "resource.type = \"cloud_run_revision\" AND resource.labels.service_name = \"${var.drift_service_name}\" AND severity >= WARNING"
    }
  }

  alert_strategy {
    auto_close = "604800s"
    notification_rate_limit {
      period = "3600s"
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "A drift check found features, PD or score drifting from the model's baseline (PSI), or failed. The report is in the model bucket under drift-reports/${var.model_name}/ and in the drift_reports table."
  }
}

resource "google_monitoring_alert_policy" "score_errors" {
  project               = var.project_id
  display_name          = "${var.name_prefix}: score 5xx ratio"
  combiner              = "OR"
  notification_channels = local.channels

  conditions {
    display_name = "5xx responses above ${var.score_5xx_ratio_threshold * 100}% of score requests"
    condition_threshold {
      filter             = "${local.score_service} AND metric.type = \"run.googleapis.com/request_count\" AND metric.labels.response_code_class = \"5xx\""
      denominator_filter = "${local.score_service} AND metric.type = \"run.googleapis.com/request_count\""
      comparison         = "COMPARISON_GT"
      threshold_value    = var.score_5xx_ratio_threshold
      duration           = "300s"

      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_RATE"
        cross_series_reducer = "REDUCE_SUM"
      }

      denominator_aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_RATE"
        cross_series_reducer = "REDUCE_SUM"
      }

      trigger {
        count = 1
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "The score function answers 5xx (503: the model store cannot be read or an artifact failed its sha256 check). See its logs."
  }
}

resource "google_monitoring_alert_policy" "score_latency" {
  project               = var.project_id
  display_name          = "${var.name_prefix}: score p95 latency"
  combiner              = "OR"
  notification_channels = local.channels

  conditions {
    display_name = "score p95 latency above ${var.score_p95_latency_ms} ms"
    condition_threshold {
      filter          = "${local.score_service} AND metric.type = \"run.googleapis.com/request_latencies\""
      comparison      = "COMPARISON_GT"
      threshold_value = var.score_p95_latency_ms
      duration        = "300s"

      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_DELTA"
        cross_series_reducer = "REDUCE_PERCENTILE_95"
      }

      trigger {
        count = 1
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "The score function's 95th percentile latency is high: cold starts (raise score_min_instances), or too much concurrency per instance."
  }
}

# A Dataflow batch run (routed by batch_score, the monthly rescore or a backfill) that failed:
# nothing of it was committed (the run_date keeps its previous output), and nobody waits on it.
# Scoped to this environment by the jobs' `environment` label (the template's default
# environment carries the stack's labels), not by a name prefix other environments share.
resource "google_monitoring_alert_policy" "dataflow_failed" {
  project               = var.project_id
  display_name          = "${var.name_prefix}: Dataflow batch run failed"
  combiner              = "OR"
  notification_channels = local.channels

  conditions {
    display_name = "a ${var.name_prefix} Dataflow job failed"
    condition_threshold {
      filter          = "resource.type = \"dataflow_job\" AND metadata.user_labels.environment = \"${var.environment}\" AND metric.type = \"dataflow.googleapis.com/job/is_failed\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"

      aggregations {
        alignment_period   = "300s"
        per_series_aligner = "ALIGN_MAX"
      }

      trigger {
        count = 1
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "A Dataflow batch run failed; its run_date keeps its previous output. The job's logs name the cause (an unreadable file, a sha256 mismatch, lost rows refused at commit); rerun the same request: reruns replace the run_date."
  }
}
