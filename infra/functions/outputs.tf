output "urls" {
  description = "HTTPS URL of each function, by entry point."
  value = {
    score           = module.score.url
    batch_score     = module.batch_score.url
    batch_score_gcs = module.batch_score_gcs.url
    drift_check     = module.drift_check.url
  }
}

output "names" {
  description = "Function (and Cloud Run service) name of each function, by entry point."
  value = {
    score           = module.score.name
    batch_score     = module.batch_score.name
    batch_score_gcs = module.batch_score_gcs.name
    drift_check     = module.drift_check.name
  }
}

output "source_object" {
  description = "The source archive object all four functions are built from."
  value       = google_storage_bucket_object.source.name
}
