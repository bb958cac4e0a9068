variable "project_id" {
  type        = string
  description = "Project of the function."
}

variable "region" {
  type        = string
  description = "Region of the function (and of its trigger)."
}

variable "name" {
  type        = string
  description = "Function name (also its Cloud Run service name): lower-case letters, digits, hyphens."
}

variable "description" {
  type        = string
  description = "What the function does."
}

variable "entry_point" {
  type        = string
  description = "Python function in functions/main.py that serves requests or events."
}

variable "runtime" {
  type        = string
  description = "Cloud Functions runtime."
  default     = "python311"
}

variable "source_bucket" {
  type        = string
  description = "Bucket of the source archive."
}

variable "source_object" {
  type        = string
  description = "Source archive object (named by its content hash, so a code change redeploys)."
}

variable "build_service_account_id" {
  type        = string
  description = "Service account (projects/P/serviceAccounts/EMAIL) Cloud Build runs the build as."
}

variable "service_account_email" {
  type        = string
  description = "Service account the function runs as."
}

variable "memory_mib" {
  type        = number
  description = "Memory per instance, MiB."
}

variable "cpu" {
  type        = string
  description = "vCPUs per instance (\"1\", \"2\", ...); concurrency above 1 needs at least 1."
}

variable "timeout_s" {
  type        = number
  description = "Request timeout, seconds (HTTP up to 3600, event-driven up to 540)."
}

variable "min_instances" {
  type        = number
  description = "Instances kept warm (0: nothing runs, and nothing is billed, at rest)."
  default     = 0
}

variable "max_instances" {
  type        = number
  description = "Upper bound on instances."
}

variable "concurrency" {
  type        = number
  description = "Requests one instance serves at once."
}

variable "environment_variables" {
  type        = map(string)
  description = "Environment variables: exactly the fields of the function's settings class."
}

variable "secret_environment_variables" {
  type        = map(string)
  description = "Environment variable name -> Secret Manager secret id (latest version)."
  default     = {}
}

variable "ingress_settings" {
  type        = string
  description = "ALLOW_ALL, ALLOW_INTERNAL_ONLY (Scheduler and Eventarc count as internal) or ALLOW_INTERNAL_AND_GCLB."
  default     = "ALLOW_INTERNAL_ONLY"

  validation {
    condition     = contains(["ALLOW_ALL", "ALLOW_INTERNAL_ONLY", "ALLOW_INTERNAL_AND_GCLB"], var.ingress_settings)
    error_message = "One of ALLOW_ALL, ALLOW_INTERNAL_ONLY, ALLOW_INTERNAL_AND_GCLB."
  }
}

variable "event_trigger" {
  type = object({
    event_type            = string
    bucket                = string
    service_account_email = string
    retry_policy          = string
  })
  description = "Eventarc trigger on a bucket's events; null for an HTTP function."
  default     = null
}

variable "invoker_members" {
  type        = map(string)
  description = "Members (label -> user:..., group:..., serviceAccount:...) granted roles/run.invoker on the function."
  default     = {}

  validation {
    condition     = alltrue([for m in values(var.invoker_members) : !contains(["allUsers", "allAuthenticatedUsers"], m)])
    error_message = "Functions are never public: callers authenticate with identity tokens."
  }
}

variable "labels" {
  type        = map(string)
  description = "Labels on the function."
  default     = {}
}

variable "docker_repository" {
  type        = string
  description = "Artifact Registry repository (projects/P/locations/R/repositories/NAME) the build pushes the function's image to."
}
