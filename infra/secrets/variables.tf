variable "project_id" {
  type        = string
  description = "Project that owns the secret."
}

variable "secret_id" {
  type        = string
  description = "Secret Manager id of the applicant-id salt."
}

variable "salt_generation" {
  type        = number
  description = "Raise by one to rotate the salt (hashes before and after no longer link)."
  default     = 1
}

variable "labels" {
  type        = map(string)
  description = "Labels on the secret."
  default     = {}
}
