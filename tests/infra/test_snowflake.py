"""Terraform of Snowflake sources (riskscore.io.snowflake): off by default; with an account set,
the batch functions get the SNOWFLAKE_* settings and the password from the lender's existing
Secret Manager secret (latest version), and the batch identity alone may read that secret.

The configuration's own expressions are evaluated by `terraform console` (no provider needed):
the root variables with their validations, the infra/functions locals, the batch functions'
environment and secret arguments, the function module's secret block and the grant's count,
copied from the files into one small configuration."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest
from support.terraform import ROOT, block, expr, module, module_calls, resources, unquote, variables

BATCH = ("batch_score", "batch_score_gcs")
GRANT = "google_secret_manager_secret_iam_member.batch_snowflake_password"
SNOWFLAKE_VARIABLES = ("snowflake_account", "snowflake_user", "snowflake_warehouse", "snowflake_role",
                       "snowflake_password_secret_id")


def _root_variable_blocks() -> str:
    text = (ROOT / "variables.tf").read_text()
    found = re.findall(r'^variable "snowflake_\w+" \{.*?^\}\n', text, flags=re.M | re.S)
    assert len(found) == len(SNOWFLAKE_VARIABLES)
    return "".join(found)


def _snowflake_locals() -> str:
    text = (ROOT / "infra" / "functions" / "main.tf").read_text()
    found = re.search(r"^  snowflake_environment = .*?^  snowflake_secrets = .*?^  \}\n", text, flags=re.M | re.S)
    return found.group(0)


def _planned_expression() -> str:
    """One expression: per batch function its Snowflake environment (the call's environment with
    batch_environment's own keys left out), its secret blocks as infra/function writes them, and
    the grants infra/iam plans."""
    calls = module_calls("infra/functions")
    fn = resources("infra/function")["google_cloudfunctions2_function.this"]
    dynamic = block(fn, "service_config")["dynamic"][0]['"secret_environment_variables"']
    assert expr(dynamic["for_each"]) == "var.secret_environment_variables"
    # The block's arguments as HCL (python-hcl2 keeps literals quoted, expressions in ${ }),
    # the iterator's key and value renamed for the `for` below.
    content = {k: v[2:-1] if v.startswith("${") else v for k, v in block(dynamic, "content").items()
               if not k.startswith("__")}
    content_hcl = ", ".join(f"{k} = {v}".replace("secret_environment_variables.key", "k")
                            .replace("secret_environment_variables.value", "v") for k, v in content.items())
    functions = []
    for name in BATCH:
        env = expr(calls[name]["environment_variables"])
        secrets = expr(calls[name]["secret_environment_variables"])
        functions.append(f'{name} = {{ env = {env}, secrets = [for k, v in {secrets} : {{ {content_hcl} }}] }}')
    grant = resources("infra/iam")[GRANT]
    return (f'jsonencode({{ {", ".join(functions)}, '
            f'grants = [for i in range({expr(grant["count"])}) : {{ project = {expr(grant["project"])}, '
            f'secret_id = {expr(grant["secret_id"])}, role = "{unquote(grant["role"])}" }}] }})')


@pytest.fixture(scope="module")
def plan(tmp_path_factory):
    """plan(**variables) -> the planned Snowflake pieces as a dict, or the validation error text."""
    terraform = shutil.which("terraform")
    if not terraform:
        pytest.skip("terraform is not installed")
    config = tmp_path_factory.mktemp("snowflake")
    (config / "main.tf").write_text(
        _root_variable_blocks()
        + 'variable "project_id" {\n  type    = string\n  default = "lender-project"\n}\n'
        + 'variable "batch_gcs_dataflow_min_rows" {\n  type    = number\n  default = 5000000\n}\n'
        # the batch settings other than Snowflake's (tests/infra/test_invariants.py checks them)
        + 'locals {\n  batch_environment = { MODEL_NAME = "credit_default" }\n' + _snowflake_locals() + "}\n")
    expression = _planned_expression()

    def run(**values):
        args = [f"-var={k}={v}" for k, v in values.items()]
        done = subprocess.run([terraform, "console", "-no-color", *args], input=expression + "\n", cwd=config,
                              capture_output=True, text=True, timeout=120)
        if "Error:" in done.stderr or done.returncode:
            return done.stderr
        line = done.stdout.strip().splitlines()[-1]
        return json.loads(json.loads(line))

    return run


def _snowflake_env(env: dict) -> dict:
    return {k: v for k, v in env.items() if k.startswith("SNOWFLAKE_")}


SECRET = "lender-snowflake-password"
CASES = [
    ("unset", {}, {}, False),
    ("all set", {"snowflake_account": "myorg-lender", "snowflake_user": "RISKSCORE",
                 "snowflake_warehouse": "SCORING_WH", "snowflake_role": "RISKSCORE_READER",
                 "snowflake_password_secret_id": SECRET},
     {"SNOWFLAKE_ACCOUNT": "myorg-lender", "SNOWFLAKE_USER": "RISKSCORE", "SNOWFLAKE_WAREHOUSE": "SCORING_WH",
      "SNOWFLAKE_ROLE": "RISKSCORE_READER"}, True),
    ("no warehouse or role: the user's defaults", {"snowflake_account": "xy12345.eu-west-1.aws",
                                                   "snowflake_user": "RISKSCORE",
                                                   "snowflake_password_secret_id": SECRET},
     {"SNOWFLAKE_ACCOUNT": "xy12345.eu-west-1.aws", "SNOWFLAKE_USER": "RISKSCORE"}, True),
]


@pytest.mark.parametrize("given, env, secret", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_the_batch_functions_get_snowflake_settings_and_the_password_secret_only_when_set(plan, given, env, secret):
    planned = plan(**given)
    assert isinstance(planned, dict), planned
    for name in BATCH:
        assert _snowflake_env(planned[name]["env"]) == env, name
        assert planned[name]["env"]["MODEL_NAME"] == "credit_default", name  # merged into, not replacing
        want = [{"key": "SNOWFLAKE_PASSWORD", "secret": SECRET, "version": "latest", "project_id": "lender-project"}]
        assert planned[name]["secrets"] == (want if secret else []), name
    # One accessor grant, on that secret alone (whose: test_the_grant_is_the_batch_identitys_on_the_named_secret).
    want_grants = [{"project": "lender-project", "secret_id": SECRET, "role": "roles/secretmanager.secretAccessor"}]
    assert planned["grants"] == (want_grants if secret else [])


@pytest.mark.parametrize("given, message", [
    ({"snowflake_account": "myorg-lender", "snowflake_user": "RISKSCORE"},
     "snowflake_password_secret_id and snowflake_account are set together"),
    ({"snowflake_password_secret_id": SECRET}, "snowflake_password_secret_id and snowflake_account are set together"),
    ({"snowflake_account": "myorg-lender", "snowflake_password_secret_id": SECRET},
     "snowflake_user and snowflake_account are set together"),
    ({"snowflake_role": "READER"}, "snowflake_role needs snowflake_account"),
    ({"snowflake_warehouse": "WH"}, "snowflake_warehouse needs snowflake_account"),
    ({"snowflake_account": "myorg-lender", "snowflake_user": "U",
      "snowflake_password_secret_id": f"projects/p/secrets/{SECRET}/versions/latest"}, "not its projects/P/secrets/ID name"),
    ({"snowflake_account": "https://myorg-lender.snowflakecomputing.com", "snowflake_user": "U",
      "snowflake_password_secret_id": SECRET}, "not a URL"),
])
def test_incomplete_or_malformed_snowflake_variables_are_refused_by_name(plan, given, message):
    error = plan(**given)
    assert isinstance(error, str) and message in re.sub(r"\s*\n\s*│?\s*", " ", error), error


def test_off_by_default_and_wired_from_the_root_under_the_same_names():
    root = variables(".")
    for name in SNOWFLAKE_VARIABLES:
        assert expr(root[name]["type"]) == "string" and unquote(root[name]["default"]) == "", name
        assert unquote(root[name]["description"]), name
    calls = module_calls(".")
    for name in SNOWFLAKE_VARIABLES:
        assert expr(calls["functions"][name]) == f"var.{name}", name
        assert unquote(variables("infra/functions")[name]["default"]) == "", name
    assert expr(calls["iam"]["snowflake_password_secret_id"]) == "var.snowflake_password_secret_id"
    assert unquote(variables("infra/iam")["snowflake_password_secret_id"]["default"]) == ""


def test_only_the_batch_functions_name_snowflake_and_they_run_as_the_batch_identity():
    for name, body in module_calls("infra/functions").items():
        mentions = "snowflake" in json.dumps(body)
        assert mentions == (name in BATCH), name
        if name in BATCH:
            assert expr(body["service_account_email"]) == "var.service_account_emails.batch"
    assert "snowflake" not in json.dumps(module("infra/training").files).lower()


def test_the_grant_is_the_batch_identitys_on_the_named_secret():
    grant = resources("infra/iam")[GRANT]
    assert expr(grant["member"]) == 'google_service_account.this["batch"].member'
    assert expr(grant["secret_id"]) == "var.snowflake_password_secret_id"
    others = [k for k, v in resources("infra/iam").items() if "snowflake" in json.dumps(v) and k != GRANT]
    assert others == []


def test_terraform_never_holds_the_password():
    """No secret or version is created for it and no data source reads it: the state never has it."""
    for tf in ROOT.glob("**/*.tf"):
        if any(p.startswith(".") or p == "build" for p in tf.relative_to(ROOT).parts):
            continue
        text = tf.read_text()
        for kind, body in re.findall(r'(?:resource|data) "(google_secret_manager_\w+)" "\w+" \{(.*?)\n\}', text, re.S):
            assert "snowflake" not in body.lower() or kind.endswith("_iam_member"), f"{tf}: {kind}"
    assert not [n for n in variables(".") if "snowflake" in n and n != "snowflake_password_secret_id" and "password" in n]


def test_the_environment_names_are_the_settings_the_code_reads():
    from riskscore.io.snowflake import SnowflakeSettings, connect_kwargs

    locals_text = _snowflake_locals()
    names = set(re.findall(r"\b(SNOWFLAKE_\w+)\s*=", locals_text))
    assert names == {"SNOWFLAKE_ACCOUNT", "SNOWFLAKE_USER", "SNOWFLAKE_WAREHOUSE", "SNOWFLAKE_ROLE", "SNOWFLAKE_PASSWORD"}
    assert {n.lower() for n in names} <= set(SnowflakeSettings.model_fields)
    env = {n: f"value-{n}" for n in names}
    kwargs = connect_kwargs(SnowflakeSettings.from_env(env))
    assert {k: kwargs[k] for k in ("account", "user", "password", "warehouse", "role")} == {
        "account": "value-SNOWFLAKE_ACCOUNT", "user": "value-SNOWFLAKE_USER", "password": "value-SNOWFLAKE_PASSWORD",
        "warehouse": "value-SNOWFLAKE_WAREHOUSE", "role": "value-SNOWFLAKE_ROLE"}
