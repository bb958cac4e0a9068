"""Who may do what, resolved from the Terraform: per identity, the permissions it holds on which
resource, and a check of one Google API call against them.

    python scripts/iam_grants.py                    # the grants per identity (role, resource, condition)
    python scripts/iam_grants.py --table CALLS.json # Markdown: per identity, each granted permission
                                                    # and whether a recorded call used it
  (CALLS.json: a list of [identity, method, resource], as the tests record them)

Resources are named logically, the way the configuration wires them (root main.tf):
  project                      the project
  gs://model, gs://batch ...   a bucket of infra/storage (model, sources, batch, dataflow), or an
                               outside bucket by its name (gs://gcf-v2-sources-123-europe-west1)
  gs://batch/incoming/         a managed folder (covers the objects under its prefix only)
  gs://batch/incoming/a.csv    an object; gs://batch/incoming/ as a list prefix
  bq://main, bq://staging      a dataset of infra/bigquery (main, predictions, staging); bq://input
                               holds the outside tables (batch_source, training_data)
  bq://main.batch_scores       a table
  secret:salt, sa:dataflow, run_service:score, run_job:training, repository:functions
  secret:snowflake_password    the lender's own Snowflake password secret (snowflake_password_secret_id;
                               its grant exists only when that is set, and is read as if it were)

A call is (identity, method, resource) with a method of infra/iam-data/methods.json; `check`
answers None when the identity holds every permission the method needs on the resource it is
checked on (the resource, its dataset, or the project), else the reason. Permissions come from
infra/iam-data/roles.json (predefined roles) and the configuration's custom roles; an IAM
condition admits a grant only where its `resource.name.startsWith(...)` terms match.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "infra" / "iam-data"

sys.path.insert(0, str(ROOT / "scripts"))
import tfcheck  # noqa: E402 - the sibling script
from tfcheck import expr  # noqa: E402

# What each module variable that names an IAM target stands for, as the root module wires it
# (tests/infra/test_iam_grants.py checks these against main.tf's module calls).
VARIABLE_RESOURCES = {
    "var.model_bucket": "gs://model", "var.batch_bucket": "gs://batch", "var.sources_bucket": "gs://sources",
    "var.dataflow_bucket": "gs://dataflow",
    "var.batch_incoming_folder": "incoming/", "var.batch_scored_folder": "scored/",
    "var.drift_reports_folder": "drift-reports/", "var.templates_folder": "templates/",
    "var.staging_dataset_id": "bq://staging", "var.predictions_dataset_id": "bq://predictions",
    "var.salt_secret_id": "secret:salt", "var.snowflake_password_secret_id": "secret:snowflake_password",
    "var.training_job_name": "run_job:training",
    "var.repository_id": "repository:images", "var.project_id": "project",
}
ROOT_WIRING = {  # module variable -> the root expression VARIABLE_RESOURCES assumes
    ("iam", "model_bucket"): "module.storage.model_bucket", ("iam", "batch_bucket"): "module.storage.batch_bucket",
    ("iam", "sources_bucket"): "module.storage.sources_bucket", ("iam", "dataflow_bucket"): "module.storage.dataflow_bucket",
    ("iam", "batch_incoming_folder"): "module.storage.batch_incoming_folder",
    ("iam", "batch_scored_folder"): "module.storage.batch_scored_folder",
    ("iam", "drift_reports_folder"): "module.storage.drift_reports_folder",
    ("iam", "templates_folder"): "module.storage.templates_folder",
    ("iam", "staging_dataset_id"): "module.bigquery.staging_dataset_id",
    ("iam", "predictions_dataset_id"): "module.bigquery.predictions_dataset_id",
    ("iam", "salt_secret_id"): "module.secrets.salt_secret_id",
    ("iam", "snowflake_password_secret_id"): "var.snowflake_password_secret_id",
    ("dataflow", "service_account_email"): 'module.iam.emails["dataflow"]',
    ("dataflow", "repository_id"): "module.training.repository_id",
    ("scheduler", "service_account_email"): 'module.iam.emails["scheduler"]',
    ("scheduler", "training_job_name"): "module.training.job_name",
}
# Tables of `local.tables` (infra/bigquery, dataset main) and the outside tables of infra/iam.
TABLE_LOCALS = {"local.source": "bq://input.batch_source", "local.train": "bq://input.training_data"}
# The member expression of a module whose grants all go to one identity.
MODULE_IDENTITY = {"infra/dataflow": "dataflow", "infra/scheduler": "scheduler"}
IAM_MODULES = ("infra/iam", "infra/dataflow", "infra/scheduler", "infra/monitoring", "infra/functions")
# The functions' Cloud Run services, by the module call that deploys each.
FUNCTIONS = ("score", "batch_score", "batch_score_gcs", "drift_check")
WORKLOADS = ("score", "batch", "drift", "training", "dataflow", "scheduler", "builder", "batch_trigger",
             "cloudbuild_test", "cloudbuild_deploy")


@dataclass(frozen=True)
class Grant:
    identity: str
    role: str
    resource: str
    condition: str | None
    address: str


def load_roles(data: Path = DATA) -> dict[str, frozenset[str]]:
    roles = json.loads((data / "roles.json").read_text())["roles"]
    return {name: frozenset(entry["permissions"]) for name, entry in roles.items()}


def load_methods(data: Path = DATA) -> dict[str, dict]:
    return json.loads((data / "methods.json").read_text())["methods"]


def _module(rel: str, root: Path):
    return tfcheck.load_module((root / rel).resolve())


def _resources(rel: str, root: Path):
    return [(t, n, body) for _, t, n, body in _module(rel, root).blocks("resource")]


def _custom_roles(root: Path) -> dict[str, frozenset[str]]:
    """`google_project_iam_custom_role.NAME.id` -> its permissions (`NAME[0].id` for a role
    created with `count`, that is only where a feature is on: its grants are checked as if on)."""
    found = {}
    for t, n, body in _resources("infra/iam", root):
        if t == "google_project_iam_custom_role":
            name = f"{n}[0]" if "count" in body else n
            found[f"google_project_iam_custom_role.{name}.id"] = frozenset(tfcheck.unquote(p) for p in body["permissions"])
    return found


def _members(rel: str, body: dict) -> list[str]:
    member = expr(body["member"])
    if rel in MODULE_IDENTITY and member == "serviceAccount:${var.service_account_email}":
        return [MODULE_IDENTITY[rel]]
    if m := re.fullmatch(r'google_service_account\.this\["(\w+)"\]\.member', member):
        return [m.group(1)]
    if member == "google_service_account.this[each.key].member":
        return re.findall(r'"(\w+)"', expr(body["for_each"]))
    if member == "data.google_storage_project_service_account.gcs.member":
        return ["gcs_agent"]
    if member == "google_logging_project_sink.predictions.writer_identity":
        return ["log_sink"]
    if member == "serviceAccount:${var.service_account_emails.builder}":
        return ["builder"]
    raise ValueError(f"{rel}: cannot tell whose member {member!r} is")


def _target(rel: str, kind: str, body: dict) -> str:
    if kind == "project":
        return "project"
    if kind == "storage_bucket":
        return VARIABLE_RESOURCES[expr(body["bucket"])]
    if kind == "storage_managed_folder":
        return VARIABLE_RESOURCES[expr(body["bucket"])] + "/" + VARIABLE_RESOURCES[expr(body["managed_folder"])]
    if kind == "bigquery_dataset":
        return VARIABLE_RESOURCES[expr(body["dataset_id"])]
    if kind == "bigquery_table":
        table = expr(body["table_id"])
        if m := re.fullmatch(r"local\.tables\.(\w+)\[2\]", table):
            return f"bq://main.{m.group(1)}"
        return TABLE_LOCALS[table.removesuffix("[2]")]
    if kind == "secret_manager_secret":
        return VARIABLE_RESOURCES[expr(body["secret_id"])]
    if kind == "service_account":
        return "sa:" + re.fullmatch(r'google_service_account\.this\["(\w+)"\]\.name', expr(body["service_account_id"])).group(1)
    if kind == "cloud_run_v2_job":
        return VARIABLE_RESOURCES[expr(body["name"])]
    if kind == "artifact_registry_repository":
        repo = expr(body["repository"])
        return "repository:functions" if repo.startswith("google_artifact_registry_repository.functions") else VARIABLE_RESOURCES[repo]
    raise ValueError(f"{rel}: no resource mapping for IAM kind {kind}")


def _condition(body: dict) -> str | None:
    blocks = body.get("condition")
    if not blocks:
        return None
    text = tfcheck.unquote(blocks[0]["expression"]).replace('\\"', '"')
    # ${var.sources_bucket} and the like: the logical bucket name.
    return re.sub(r"\$\{(var\.\w+)\}", lambda m: VARIABLE_RESOURCES[m.group(1)].removeprefix("gs://"), text)


def invoker_members(root: Path = ROOT) -> dict[str, str]:
    """{function: the invoker_members of its call, as text} (`local.jobs_invokers` expanded)."""
    functions = _module("infra/functions", root)
    found = {}
    for _, name, _, body in functions.blocks("module"):
        if name not in FUNCTIONS:
            continue
        members = expr(body.get("invoker_members", "{}"))
        if members == "local.jobs_invokers":
            members = expr(functions.files["main.tf"]["locals"][0]["jobs_invokers"])
        found[name] = members if isinstance(members, str) else json.dumps(members)
    return found


def _invoker_grants(root: Path) -> list[Grant]:
    """roles/run.invoker on each function's service, from the invoker_members of its call."""
    grants = []
    for name, text in invoker_members(root).items():
        for who in sorted(set(re.findall(r"var\.service_account_emails\.(\w+)", text))):
            grants.append(Grant(who, "roles/run.invoker", f"run_service:{name}", None, f"module.{name}.invoker"))
        if "var.deploy_service_account" in text:
            grants.append(Grant("cloudbuild_deploy", "roles/run.invoker", f"run_service:{name}", None, f"module.{name}.invoker"))
    return grants


def grants(root: Path = ROOT, data: Path = DATA) -> list[Grant]:
    """Every grant of the configuration (and the Cloud Build identities' project roles)."""
    found = []
    for rel in IAM_MODULES:
        for t, n, body in _resources(rel, root):
            m = re.fullmatch(r"google_(\w+)_iam_member", t)
            if not m:
                continue
            role = expr(body["role"])
            target = _target(rel, m.group(1), body)
            for who in _members(rel, body):
                found.append(Grant(who, role, target, _condition(body), f"{rel}: {t}.{n}"))
    found += _invoker_grants(root)
    identities = json.loads((data / "cloudbuild-identities.json").read_text())
    for who in ("cloudbuild_test", "cloudbuild_deploy"):
        for role in identities[who]["project_roles"]:
            found.append(Grant(who, role, "project", None, f"cloudbuild-identities.json: {who}"))
    return found


def condition_admits(condition: str | None, resource: str) -> bool:
    """A condition of `resource.name.startsWith("...")` terms joined by ||; anything else admits
    nothing (a grant whose condition cannot be read is not counted on)."""
    if condition is None:
        return True
    name = _resource_name(resource)
    terms = [t.strip() for t in condition.split("||")]
    prefixes = [re.fullmatch(r'resource\.name\.startsWith\("([^"]*)"\)', t) for t in terms]
    if not all(prefixes):
        return False
    return any(name is not None and name.startswith(p.group(1)) for p in prefixes)


def _resource_name(resource: str) -> str | None:
    """Google's resource.name of a Cloud Storage resource (what storage conditions test)."""
    if not resource.startswith("gs://"):
        return None
    bucket, _, path = resource.removeprefix("gs://").partition("/")
    return f"projects/_/buckets/{bucket}" + (f"/objects/{path}" if path else "")


def covers(granted_on: str, resource: str) -> bool:
    """Does a grant on `granted_on` reach `resource`? The project reaches everything; a bucket its
    folders and objects; a managed folder the objects and prefixes under it, never the bucket;
    a dataset its tables."""
    if granted_on == "project" or granted_on == resource:
        return True
    if granted_on.startswith("gs://"):
        bucket_grant = granted_on.count("/") == 2
        if bucket_grant:
            return resource.startswith(granted_on + "/")
        return resource.startswith(granted_on) and resource != granted_on.rstrip("/")
    if granted_on.startswith("bq://") and "." not in granted_on:
        return resource.startswith(granted_on + ".")
    return False


class Resolver:
    def __init__(self, root: Path = ROOT, data: Path = DATA):
        self.roles = {**load_roles(data), **_custom_roles(root)}
        self.methods = load_methods(data)
        self.grants = grants(root, data)

    def permissions(self, grant: Grant) -> frozenset[str]:
        if grant.role not in self.roles:
            raise KeyError(f"{grant.address}: no permission data for {grant.role} (run scripts/extract_iam_roles.py)")
        return self.roles[grant.role]

    def grants_of(self, identity: str) -> list[Grant]:
        """The identity's grants, by resource and role (the order the tables list them in)."""
        return sorted((g for g in self.grants if g.identity == identity), key=lambda g: (g.resource, g.role))

    def holders(self, identity: str, permission: str, resource: str) -> list[Grant]:
        """The identity's grants that give `permission` on `resource`."""
        return [g for g in self.grants if g.identity == identity and covers(g.resource, resource)
                and condition_admits(g.condition, resource) and permission in self.permissions(g)]

    def check(self, call) -> str | None:
        """None when `call` = (identity, method, resource) is permitted, else why not."""
        identity, method, resource = call
        if method not in self.methods:
            return f"{method}: not in infra/iam-data/methods.json"
        for need in self.methods[method]["permissions"]:
            target = _checked_on(need, resource)
            if not self.holders(identity, need["name"], target):
                return (f"{identity} calling {method} on {resource}: needs {need['name']} on {target}, "
                        f"which no grant of {identity} gives")
        return None

    def used(self, calls) -> set[tuple[str, str, Grant]]:
        """(identity, permission, grant) of every grant a permitted call relies on."""
        out = set()
        for identity, method, resource in calls:
            for need in self.methods.get(method, {}).get("permissions", []):
                for g in self.holders(identity, need["name"], _checked_on(need, resource)):
                    out.add((identity, need["name"], g))
        return out


def _checked_on(need: dict, resource: str) -> str:
    """Where a method's permission is checked when it is called on `resource`: the resource itself,
    its dataset (a bq:// table's), or the project (methods.json's `on`)."""
    if need["on"] == "project":
        return "project"
    if need["on"] == "dataset" and resource.startswith("bq://"):
        return resource.split(".", 1)[0]
    return resource


def permission_table(resolver: Resolver, calls, identities=WORKLOADS[:-1], services: tuple[str, ...] | None = None) -> str:
    """A Markdown table per identity: each granted permission (on which resource, by which role)
    and whether any of `calls` used it. `services` limits the permissions to those prefixes
    (e.g. ("storage.", "bigquery.")) to keep broad roles readable."""
    used = resolver.used(calls)
    lines = []
    for who in identities:
        rows = []
        for g in resolver.grants_of(who):
            for p in sorted(resolver.permissions(g)):
                if services and not p.startswith(services):
                    continue
                rows.append(f"| `{p}` | {g.resource} | {g.role} | {'yes' if (who, p, g) in used else 'no'} |")
        if not rows:
            continue
        lines += [f"#### {who}", "", "| permission | on | role | used by a recorded call |", "|---|---|---|---|", *rows, ""]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    resolver = Resolver()
    if len(argv) == 3 and argv[1] == "--table":
        calls = [tuple(c) for c in json.loads(Path(argv[2]).read_text())]
        refused = [reason for c in calls if (reason := resolver.check(c))]
        print(permission_table(resolver, calls))
        for reason in refused:
            print(f"refused: {reason}", file=sys.stderr)
        return 1 if refused else 0
    for g in sorted(resolver.grants, key=lambda g: (g.identity, g.resource, g.role)):
        print(f"{g.identity:18} {g.role:45} {g.resource:32} {g.condition or ''}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
