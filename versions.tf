terraform {
  # 1.11: write-only arguments and ephemeral resources keep the applicant-id salt out of the state.
  required_version = ">= 1.11"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "~> 8.7.0"
    }
    google-beta = {
      source  = "hashicorp/google-beta"
      version = "~> 8.7.0"
    }
    archive = {
      source  = "hashicorp/archive"
      version = "~> 2.7.0"
    }
    random = {
      source  = "hashicorp/random"
      version = "~> 3.7.0"
    }
    # time_sleep: the pause after the service agents' grants (infra/iam).
    time = {
      source  = "hashicorp/time"
      version = "~> 0.13.0"
    }
  }

  # State in a GCS bucket (versioned, created once by hand; see README "Deploy to Google Cloud"):
  #   terraform init -backend-config="bucket=STATE_BUCKET" -backend-config="prefix=riskscore/ENVIRONMENT"
  backend "gcs" {}
}
