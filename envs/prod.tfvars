# The prod environment's non-secret settings, committed so that every build and every hand apply
# uses the same values (`terraform plan -var-file=envs/prod.tfvars`; cloudbuild.yaml passes
# envs/${_ENV}.tfvars). Edit for your project; secrets never go here (the salt lives in Secret
# Manager). project_id and the image tags come from the build (or your own terraform.tfvars).
region              = "europe-west1"
bigquery_location   = "europe-west1"
environment         = "prod"
training_data_table = "my-credit-project.credit_data.applications"
batch_source_table  = "my-credit-project.credit_data.portfolio"

# The model to train and serve: a spec inside the training image or a gs:// URI.
model_name = "credit_default"
model_spec = "training/specs/credit_default.yaml"

# Who may call the score function (identity tokens; never allUsers). The deploy identity is
# added to these, for the smoke test, by deploy_service_account: it never replaces them.
score_invoker_members = [
  "group:credit-decisioning@example.com",
]
deploy_service_account = "riskscore-deploy@my-credit-project.iam.gserviceaccount.com"

# Alerts notify this address (and notification_channel_ids, if any).
alert_email = "risk-ops@example.com"
