"""The session-end check of IAM at the wire (a pytest plugin; tests/conftest.py loads it).

Every call recorded in the session (tests/support/wire.py) is judged by scripts/iam_grants.py:
a call the identity's grants do not permit fails the session, naming call, permission, identity
and resource. Every recorded call must also be in infra/iam-data/recorded-calls.json, from which
the README's permission table is generated (scripts/iam_wire_table.py): a call the file lacks
fails the session too, until the file is refreshed:

    IAM_WIRE_UPDATE=1 .venv/bin/python -m pytest -q          # adds this run's calls (and the Beam
                                                              # tests' in .venv-beam)
    .venv/bin/python scripts/iam_wire_table.py --write        # the README table

An update adds; to drop calls the code no longer makes, empty the session's list first and run
the whole suite.

The session runs with whatever tests were selected (`-k`, one file): the check covers what ran.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from .wire import RECORDER, Wire

ROOT = Path(__file__).resolve().parents[2]
CALLS_FILE = ROOT / "infra" / "iam-data" / "recorded-calls.json"
_RESULT: dict = {}


def session_name() -> str:
    """Which virtualenv ran the session: the Beam tests record in .venv-beam."""
    return "beam" if "beam" in Path(sys.prefix).name else "main"


def load_committed() -> dict:
    return json.loads(CALLS_FILE.read_text()) if CALLS_FILE.exists() else {"sessions": {}}


def write_committed(data: dict) -> None:
    data.setdefault("about", "Google API calls the tests recorded at the emulators' boundary, per identity "
                             "(tests/support/wire.py), normalized: [identity, method, resource]. Written by "
                             "IAM_WIRE_UPDATE=1 pytest (which adds); read by scripts/iam_wire_table.py.")
    CALLS_FILE.write_text(json.dumps({"about": data["about"], "sessions": {
        k: [list(c) for c in v] for k, v in sorted(data["sessions"].items())}}, indent=1) + "\n")


def check(calls, resolver) -> list[str]:
    """Why each refused call is refused, with the request it was read from.

    A call on a resource of the configuration (gs://batch/…, bq://main.…) is judged exactly. A
    call on a bucket or dataset a test named for itself (tests written for behaviour, not for
    IAM) is judged by its permissions only: refused when no grant of the identity gives one of
    them on any resource of that service (e.g. storage.buckets.get, which no function holds)."""
    out = []
    for c in calls:
        reason = resolver.check((c.identity, c.method, c.resource)) if c.logical else _loose(c, resolver)
        if reason:
            out.append(f"{reason} (recorded from {c.wire})")
    return sorted(set(out))


def _loose(call, resolver) -> str | None:
    method = resolver.methods.get(call.method)
    if method is None:
        return f"{call.method}: not in infra/iam-data/methods.json"
    kind = call.resource.split("://", 1)[0] + "://"
    for need in method["permissions"]:
        if not any(g.identity == call.identity and (g.resource == "project" or g.resource.startswith(kind))
                   and need["name"] in resolver.permissions(g) for g in resolver.grants):
            return (f"{call.identity} calling {call.method} on {call.resource}: needs {need['name']}, which no grant "
                    f"of {call.identity} gives on any {kind} resource")
    return None


@pytest.fixture(scope="session")
def wire():
    """Recording proxies in front of the emulators, one per identity (tests/support/wire.py)."""
    w = Wire()
    yield w
    w.close()


def pytest_sessionfinish(session, exitstatus):
    calls = list(RECORDER.calls)
    if not calls:
        return
    from .terraform import load_script

    resolver = load_script("iam_grants").Resolver()
    refused = check(calls, resolver)
    name = session_name()
    committed = load_committed()
    known = {tuple(c) for c in committed["sessions"].get(name, [])}
    recorded = {c.key() for c in calls if c.logical}  # a test's own names are judged, not tabled
    missing = sorted(recorded - known)
    if os.environ.get("IAM_WIRE_UPDATE") == "1":
        committed["sessions"][name] = sorted(known | recorded)
        write_committed(committed)
        missing = []
    _RESULT.update(calls=len(calls), distinct=len(recorded), refused=refused, missing=missing)
    if refused or missing:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter):
    if not _RESULT:
        return
    tr = terminalreporter
    tr.section("IAM at the wire")
    tr.line(f"{_RESULT['calls']} Google API calls recorded ({_RESULT['distinct']} distinct), "
            f"{len(_RESULT['refused'])} refused by the configuration's grants")
    for reason in _RESULT["refused"]:
        tr.line(f"REFUSED: {reason}", red=True)
    if _RESULT["missing"]:
        tr.line(f"{len(_RESULT['missing'])} recorded calls are not in {CALLS_FILE.relative_to(ROOT)}; refresh it "
                "with `IAM_WIRE_UPDATE=1 pytest` and the README table with "
                "`scripts/iam_wire_table.py --write`:", red=True)
        for c in _RESULT["missing"]:
            tr.line(f"  {list(c)}")
