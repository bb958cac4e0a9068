"""Writes infra/iam-data/roles.json: the permissions of every predefined role the Terraform grants,
from a checkout of the public dataset darkbitio/gcp-iam-role-permissions (one JSON file per
role under roles/, refreshed from Google's IAM API), keeping only the roles used.

    python scripts/extract_iam_roles.py PATH_TO_GIT_DIR_OF_THE_DATASET

Reads the dataset with git (its HEAD commit), so a bare mirror works as well as a clone.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "infra" / "iam-data" / "roles.json"
SOURCE = "https://github.com/darkbitio/gcp-iam-role-permissions"
_ROLE = re.compile(r'"(roles/[A-Za-z0-9_.]+)"')


IDENTITIES = ROOT / "infra" / "iam-data" / "cloudbuild-identities.json"
# The permission that sets each resource-level IAM policy this configuration writes, by the kind
# of its google_KIND_iam_member resources: which of them Editor holds is recorded as evidence
# (README, "Permissions to deploy"; tests/infra/test_iam_grants.py checks every kind is here).
SET_IAM = {"project": "resourcemanager.projects.setIamPolicy", "storage_bucket": "storage.buckets.setIamPolicy",
           "storage_managed_folder": "storage.managedFolders.setIamPolicy",
           "bigquery_dataset": "bigquery.datasets.setIamPolicy", "bigquery_table": "bigquery.tables.setIamPolicy",
           "secret_manager_secret": "secretmanager.secrets.setIamPolicy",
           "service_account": "iam.serviceAccounts.setIamPolicy", "cloud_run_service": "run.services.setIamPolicy",
           "cloud_run_v2_job": "run.jobs.setIamPolicy",
           "artifact_registry_repository": "artifactregistry.repositories.setIamPolicy"}


def granted_roles(root: Path = ROOT) -> list[str]:
    """Every predefined role named in the repository's Terraform, and the Cloud Build identities'."""
    names: set[str] = set()
    for who, entry in json.loads(IDENTITIES.read_text()).items():
        if isinstance(entry, dict):
            names.update(entry["project_roles"])
    for tf in root.rglob("*.tf"):
        if any(part.startswith(".") for part in tf.relative_to(root).parts):
            continue
        names.update(_ROLE.findall(tf.read_text()))
    return sorted(names)


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout


def extract(repo: Path, roles: list[str]) -> dict:
    commit, date = git(repo, "log", "-1", "--format=%H %cI").split()
    out = {"source": SOURCE, "commit": commit, "date": date, "roles": {}}
    for role in roles:
        data = json.loads(git(repo, "show", f"HEAD:{role}"))
        out["roles"][role] = {"title": data.get("title", ""), "stage": data.get("stage", ""),
                              "permissions": sorted(data["includedPermissions"])}
    for role in ("roles/editor",):
        held = set(json.loads(git(repo, "show", f"HEAD:{role}"))["includedPermissions"])
        out.setdefault("evidence", {})[role] = {"setIamPolicy_held": [p for p in SET_IAM.values() if p in held],
                                               "setIamPolicy_missing": [p for p in SET_IAM.values() if p not in held]}
    return out


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[-3].strip(), file=sys.stderr)
        return 2
    data = extract(Path(argv[1]), granted_roles())
    OUT.write_text(json.dumps(data, indent=1, sort_keys=False) + "\n")
    print(f"{len(data['roles'])} roles from {SOURCE}@{data['commit'][:12]} ({data['date']}) -> {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
