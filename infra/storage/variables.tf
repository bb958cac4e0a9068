variable "project_id" {
  type        = string
  description = "Project that owns the buckets."
}

variable "location" {
  type        = string
  description = "Bucket location: the functions' region, so the storage trigger and its bucket match."
}

variable "name_prefix" {
  type        = string
  description = "Globally unique prefix of the bucket names (e.g. PROJECT-riskscore-prod)."
}

variable "force_destroy" {
  type        = bool
  description = "Let `terraform destroy` delete buckets that still hold objects (test environments only)."
  default     = false
}

variable "noncurrent_retention_days" {
  type        = number
  description = "Days an overwritten or deleted object version is kept before it is deleted."
  default     = 30
}

variable "labels" {
  type        = map(string)
  description = "Labels on every bucket."
  default     = {}
}
