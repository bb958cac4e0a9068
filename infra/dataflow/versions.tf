terraform {
  required_version = ">= 1.11"
  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "~> 8.7.0"
    }
    # google_dataflow_flex_template_job (the optional one-off run) exists only in google-beta.
    google-beta = {
      source  = "hashicorp/google-beta"
      version = "~> 8.7.0"
    }
  }
}
