"""The Terraform checks that run without the provider: `terraform fmt`, the schema check against
hashicorp/google 8.7.0 (scripts/tfcheck.py, with the schema extracted by
scripts/extract_provider_schema.py) and checkov. Each skips cleanly when its tool is absent."""

from __future__ import annotations

import json
import shutil
import subprocess
import textwrap

import pytest
from support.terraform import ROOT, load_script, tfcheck

extract = load_script("extract_provider_schema")


# --- terraform fmt ---------------------------------------------------------------------------


def test_terraform_fmt_is_clean():
    terraform = shutil.which("terraform")
    if not terraform:
        pytest.skip("terraform is not installed")
    done = subprocess.run([terraform, "fmt", "-check", "-recursive", "-list=true"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"not formatted (run terraform fmt -recursive): {done.stdout}{done.stderr}"


# --- the schema check --------------------------------------------------------------------------


def test_committed_schema_is_google_8_7_0():
    schema = tfcheck.load_schema()
    assert "hashicorp/google 8.7.0" in schema["source"]["google"]
    assert "hashicorp/google-beta 8.7.0" in schema["source"]["google-beta"]
    assert len(schema["google"]["resource"]) > 1000
    bucket = schema["google"]["resource"]["google_storage_bucket"]
    assert bucket["arguments"]["name"] is True and bucket["arguments"]["force_destroy"] is False
    assert bucket["blocks"]["lifecycle_rule"]["list"] is True
    # a beta-only resource (Dataflow Flex Templates, used later) is kept, with its schema
    assert "google_dataflow_flex_template_job" not in schema["google"]["resource"]
    assert "container_spec_gcs_path" in schema["google-beta"]["resource"]["google_dataflow_flex_template_job"]["arguments"]


def test_the_repository_passes_the_schema_check():
    checker = tfcheck.check(ROOT)
    assert checker.problems == []
    checked = {c.split(": ", 1)[1] for c in checker.checked}
    for address in ("google_cloudfunctions2_function.this", "google_cloud_scheduler_job.batch",
                    "google_logging_project_sink.predictions", "google_cloud_run_v2_job.training",
                    "data.google_storage_project_service_account.gcs", "provider google"):
        assert address in checked


BAD = {
    "typo": ('resource "google_storage_bucket" "b" {\n  name = "x"\n  locaton = "EU"\n  location = "EU"\n}',
             "unknown argument or block 'locaton'"),
    "missing required": ('resource "google_storage_bucket" "b" {\n  name = "x"\n}',
                         "missing required argument 'location'"),
    "block as argument": ('resource "google_storage_bucket" "b" {\n  name = "x"\n  location = "EU"\n'
                          '  versioning = { enabled = true }\n}', "'versioning' is a block, used as an argument"),
    "argument as block": ('resource "google_storage_bucket" "b" {\n  name = "x"\n  location = "EU"\n'
                          '  labels {\n    a = "b"\n  }\n}', "'labels' is an argument, written as a block"),
    "single block twice": ('resource "google_storage_bucket" "b" {\n  name = "x"\n  location = "EU"\n'
                           '  versioning {\n    enabled = true\n  }\n  versioning {\n    enabled = false\n  }\n}',
                           "block 'versioning' given 2 times"),
    "nested typo": ('resource "google_cloudfunctions2_function" "f" {\n  name = "f"\n  location = "r"\n'
                    '  service_config {\n    min_instances = 1\n  }\n}',
                    "google_cloudfunctions2_function.f.service_config: unknown argument or block 'min_instances'"),
    "missing nested required": ('resource "google_cloud_scheduler_job" "j" {\n  name = "j"\n'
                                '  http_target {\n    http_method = "POST"\n  }\n}',
                                "http_target: missing required argument 'uri'"),
    "dynamic unknown": ('resource "google_storage_bucket" "b" {\n  name = "x"\n  location = "EU"\n'
                        '  dynamic "corss" {\n    for_each = []\n    content {}\n  }\n}', "unknown block 'corss'"),
    "read-only set": ('resource "google_storage_bucket" "b" {\n  name = "x"\n  location = "EU"\n'
                      '  self_link = "x"\n}', "'self_link' is read-only"),
    "beta only": ('resource "google_dataflow_flex_template_job" "j" {\n  name = "j"\n'
                  '  container_spec_gcs_path = "gs://x"\n}', "exists only in google-beta"),
    "unknown type": ('resource "google_storage_bukket" "b" {\n  name = "x"\n}', "unknown type"),
    "data source typo": ('data "google_storage_project_service_account" "g" {\n  projekt = "p"\n}',
                         "data.google_storage_project_service_account.g: unknown argument or block 'projekt'"),
    "bad attribute": ('resource "google_service_account" "a" {\n  account_id = "a"\n}\n'
                      'output "o" {\n  value = google_service_account.a.emial\n}', "no attribute 'emial'"),
    "bad nested attribute": ('resource "google_cloudfunctions2_function" "f" {\n  name = "f"\n  location = "r"\n}\n'
                             'output "o" {\n  value = google_cloudfunctions2_function.f.service_config[0].url\n}',
                             "no attribute 'url'"),
    "undeclared resource": ('output "o" {\n  value = google_service_account.nope.email\n}',
                            "reference to undeclared google_service_account.nope"),
    "provider typo": ('provider "google" {\n  projekt = "p"\n}', "provider google: unknown argument or block 'projekt'"),
    "undeclared var": ('output "o" {\n  value = var.nope\n}', "reference to undeclared var.nope"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_schema_check_finds(case, tmp_path):
    text, message = BAD[case]
    (tmp_path / "main.tf").write_text(text + "\n")
    problems = tfcheck.check(tmp_path).problems
    assert any(message in p for p in problems), problems


def test_beta_resource_passes_with_the_beta_provider(tmp_path):
    (tmp_path / "main.tf").write_text(textwrap.dedent("""\
        resource "google_dataflow_flex_template_job" "j" {
          provider                = google-beta
          name                    = "j"
          container_spec_gcs_path = "gs://x"
        }
        """))
    assert tfcheck.check(tmp_path).problems == []


@pytest.mark.parametrize("call, message", [
    ('typo = 1\n  needed = "x"', "'typo' is not a variable of ./m"),
    ("", "missing required variable 'needed' of ./m"),
])
def test_schema_check_checks_module_calls(tmp_path, call, message):
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "main.tf").write_text('variable "needed" {\n  type = string\n}\n'
                                            'variable "optional" {\n  type = string\n  default = ""\n}\n'
                                            'output "out" {\n  value = var.needed\n}\n')
    (tmp_path / "main.tf").write_text(f'module "m" {{\n  source = "./m"\n  {call}\n}}\n'
                                      'output "o" {\n  value = module.m.nothing\n}\n')
    problems = tfcheck.check(tmp_path).problems
    assert any(message in p for p in problems), problems
    assert any("module.m has no output 'nothing'" in p for p in problems), problems


def test_extraction_reads_a_jsii_assembly():
    """The extractor on a hand-made assembly in the cdktn layout (the real one is 130 MB)."""
    link = "https://registry.terraform.io/providers/hashicorp/google/8.7.0/docs/resources/thing"
    prop = lambda name, tf, type_, optional=True: {  # noqa: E731
        "name": name, "optional": optional, "type": type_,
        "docs": {"remarks": f"Docs at Terraform Registry: {{@link {link}#{tf} Thing#{tf}}}"}}
    types = {
        "p.thing.Thing": {"kind": "class", "fqn": "p.thing.Thing",
                          "docs": {"summary": f"Represents a {{@link {link} google_thing}}."},
                          "initializer": {"parameters": [{"name": "config", "type": {"fqn": "p.thing.ThingConfig"}}]},
                          "properties": [{"name": "selfLink"}, {"name": "nameInput"}, {"name": "name"}]},
        "p.thing.ThingConfig": {"datatype": True, "properties": [
            prop("name", "name", {"primitive": "string"}, optional=False),
            prop("forEachX", "for_each_x", {"primitive": "string"}),
            prop("rule", "rule", {"collection": {"kind": "array", "elementtype": {"fqn": "p.thing.ThingRule"}}}),
            prop("single", "single", {"fqn": "p.thing.ThingRule"}, optional=False)]},
        "p.thing.ThingRule": {"datatype": True, "properties": [prop("age", "age", {"primitive": "number"}, False)]},
    }
    version, schema = extract.schema_from_assembly({"types": types})
    assert version == "8.7.0"
    rule = {"arguments": {"age": True}, "blocks": {}, "computed": []}
    assert schema["resource"]["google_thing"] == {
        "arguments": {"for_each_x": False, "name": True},
        "blocks": {"rule": {"required": False, "list": True, "block": rule},
                   "single": {"required": True, "list": False, "block": rule}},
        "computed": ["self_link"]}


# --- checkov -------------------------------------------------------------------------------------


def _checkov():
    local = ROOT / ".venv-checkov" / "bin" / "checkov"
    return str(local) if local.exists() else shutil.which("checkov")


@pytest.mark.slow
def test_checkov_finds_no_failed_check():
    checkov = _checkov()
    if not checkov:
        pytest.skip("checkov is not installed (make tools)")
    done = subprocess.run([checkov, "-d", ".", "--framework", "terraform", "--skip-download",
                           "--compact", "--output", "json", "--skip-path", ".venv", "--skip-path", ".venv-checkov"],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    report = json.loads(done.stdout)
    summary = report["summary"]
    failed = [f"{c['check_id']} {c['resource']} ({c['file_path']})" for c in report["results"]["failed_checks"]]
    assert summary["failed"] == 0, failed
    assert summary["parsing_errors"] == 0
    assert summary["passed"] > 50  # it did scan the modules
    reasons = [c["check_result"].get("suppress_comment", "") for c in report["results"]["skipped_checks"]]
    assert all(len(r) > 30 for r in reasons), f"every skip says why: {reasons}"


# --- cloudbuild.yaml ---------------------------------------------------------------------------


def test_cloudbuild_pipeline_tests_checks_deploys_and_smoke_tests():
    import re

    import yaml

    # Tests and checks in a build of their own (an identity with no deploy rights) ...
    checks = yaml.safe_load((ROOT / "cloudbuild.test.yaml").read_text())
    commands = {s["id"]: " ".join(s.get("args", [])) for s in checks["steps"]}
    assert "make test" in commands["test"]
    assert "fmt -check -recursive" in commands["fmt"]
    assert "scripts/tfcheck.py" in commands["schema-check"] and "sync_bq_schemas.py --check" in commands["schema-check"]
    assert "--framework terraform --skip-download" in commands["checkov"]
    # ... and the deploy build installs nothing from PyPI and runs no tests.
    text = (ROOT / "cloudbuild.yaml").read_text()
    build = yaml.safe_load(text)
    steps = [s["id"] for s in build["steps"]]
    assert steps.index("init") < steps.index("plan") < steps.index("apply") < steps.index("smoke")
    commands = {s["id"]: " ".join(s.get("args", [])) for s in build["steps"]}
    assert not any(word in " ".join(commands.values()) for word in ("make test", "pip install", "pytest"))
    assert "-backend-config=bucket=${_TF_STATE_BUCKET}" in commands["init"]
    assert "-var-file=envs/${_ENV}.tfvars" in commands["plan"] and "-var-file=envs/${_ENV}.tfvars" in commands["registry"]
    assert "scripts/smoke_score.sh" in commands["smoke"]
    env = dict(e.split("=", 1) for e in build["options"]["env"])
    assert env["TF_VAR_project_id"] == "${PROJECT_ID}"
    # Invokers come from the environment's file, never from a substitution that replaces them.
    assert not any("invoker" in k.lower() for k in env) and "_SCORE_INVOKERS" not in text
    # Cloud Build substitutes every $NAME / ${NAME}: shell variables must be written $$NAME.
    steps_text = text.split("\nsteps:\n", 1)[1]
    for ref in re.findall(r"(?<!\$)\$(\{?\w+|\()", steps_text):
        assert re.fullmatch(r"\{(_[A-Z_]+|BUILD_ID|PROJECT_ID|SHORT_SHA)", ref), f"unescaped shell ${ref} in cloudbuild.yaml"
    smoke = (ROOT / "scripts" / "smoke_score.sh").read_text()
    assert "gcloud auth print-identity-token" in smoke and "Authorization: Bearer" in smoke


# --- the source archive's name -----------------------------------------------------------------


def test_source_hash_changes_with_code_and_ignores_bytecode(tmp_path):
    """Evaluates infra/functions' own hash expressions with `terraform console` (no provider
    needed) on a small tree: an edit renames the archive (redeploy), a .pyc does not."""
    import re

    terraform = shutil.which("terraform")
    if not terraform:
        pytest.skip("terraform is not installed")
    text = (ROOT / "infra" / "functions" / "main.tf").read_text()
    lines = {name: re.search(rf"^\s+{name}\s+=\s+(.+)$", text, flags=re.M).group(1)
             for name in ("files", "skipped", "source_hash")}
    config = tmp_path / "config"
    config.mkdir()
    (config / "main.tf").write_text('variable "source_dir" {\n  type = string\n}\nlocals {\n'
                                    + "".join(f"  {k} = {v}\n" for k, v in lines.items()) + "}\n")
    src = tmp_path / "src"
    (src / "riskscore" / "__pycache__").mkdir(parents=True)
    (src / "main.py").write_text("def score(request): ...\n")
    (src / "riskscore" / "scorer.py").write_text("X = 1\n")

    def source_hash() -> str:
        done = subprocess.run([terraform, "console", f"-var=source_dir={src}"], input="local.source_hash\n",
                              cwd=config, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return re.search(r'"([0-9a-f]{64})"', done.stdout).group(1)

    first = source_hash()
    (src / "riskscore" / "__pycache__" / "scorer.cpython-311.pyc").write_bytes(b"\x00bytecode")
    (src / "stray.pyc").write_bytes(b"\x00")
    assert source_hash() == first
    (src / "riskscore" / "scorer.py").write_text("X = 2\n")
    assert source_hash() != first
