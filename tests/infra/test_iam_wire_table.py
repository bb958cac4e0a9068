"""The recorded calls (infra/iam-data/recorded-calls.json, written by the session-end check):
all permitted by the configuration, each identity's refused once a grant it needs leaves a copy of
the HCL, and the README's table generated from them is current."""

from __future__ import annotations

import json
import re

import pytest

from .iam_support import RESOLVER, copy_config, iam_grants, load_script, remove_resource

table = load_script("iam_wire_table")
CALLS = table.recorded_calls()
# Every identity whose calls code makes (functions, training, Dataflow, the deploy's smoke test).
IDENTITIES = ("score", "batch", "drift", "training", "dataflow", "cloudbuild_deploy")


def test_every_recorded_call_is_permitted():
    refused = [reason for call in CALLS if (reason := RESOLVER.check(call))]
    assert not refused, "\n".join(refused)


def test_the_readme_and_the_permission_page_are_current():
    assert table.main(["--check"]) == 0, "run python scripts/iam_wire_table.py --write"


def _without(root, data, grant) -> None:
    """Remove `grant` from the copy of the configuration under `root` (and its data under `data`)."""
    where, _, name = grant.address.partition(": ")
    if where.startswith("infra/"):
        remove_resource(root / where / "main.tf", name)
    elif where == "cloudbuild-identities.json":
        path = data / "cloudbuild-identities.json"
        identities = json.loads(path.read_text())
        identities[name]["project_roles"].remove(grant.role)
        path.write_text(json.dumps(identities))
    elif re.fullmatch(r"module\.\w+\.invoker", grant.address) and grant.identity == "cloudbuild_deploy":
        path = root / "infra" / "functions" / "main.tf"
        text = path.read_text()
        entry = 'var.deploy_service_account == "" ? {} : { deploy = "serviceAccount:${var.deploy_service_account}" }'
        assert entry in text
        path.write_text(text.replace(entry, "{}"))
    else:
        raise AssertionError(f"no way to remove {grant}")


def _example(identity: str):
    """The identity's first recorded call that rests on grants of the HCL only (not on the deploy
    identity's project roles), else its first call that needs a permission at all."""
    calls = sorted((c for c in CALLS if c[0] == identity and RESOLVER.used([c])),
                   key=lambda c: (c[2] == "project", c))  # a call on a resource of its own first
    assert calls, f"no call of {identity} needing a permission recorded: the wire tests must exercise it"
    for call in calls:
        if all(g.address.startswith("infra/") for _, _, g in RESOLVER.used([call])):
            return call
    return calls[0]


@pytest.mark.parametrize("identity", IDENTITIES)
def test_removing_the_grant_a_recorded_call_needs_refuses_it(tmp_path, identity):
    call = _example(identity)
    assert RESOLVER.check(call) is None
    root, data = copy_config(tmp_path)
    relied_on = {g for _, _, g in RESOLVER.used([call])}
    for grant in relied_on:
        _without(root, data, grant)
    reason = iam_grants.Resolver(root=root, data=data).check(call)
    assert reason is not None, (call, relied_on)
    assert all(part in reason for part in call), reason
    print(f"{identity}: without {sorted(g.address for g in relied_on)}: {reason}")
