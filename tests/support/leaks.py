"""No applicant data in errors or logs: for every test of the batch and drift suites, each
error body the functions build and each line written to stdout/stderr is scanned for the raw
applicant ids of the test data (tests/conftest.py's `small_data`, tests/drift_data.py's rows).

Autouse (registered by tests/conftest.py), active only under tests/riskscore/batch and
tests/riskscore/drift. Ids are the values scanned for: unique, never produced by the code
itself, and the one value a log line must never carry (features are numbers and categories a
message may legitimately name).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

SUITES = ("riskscore/batch", "riskscore/drift")
_ID = re.compile(r"(?<![A-Za-z0-9])A\d{7}(?![0-9])")  # the synthetic generators' applicant ids


@pytest.fixture(autouse=True)
def no_applicant_ids_in_errors_or_logs(request, monkeypatch):
    path = Path(str(request.node.path)).as_posix()
    if not any(f"/tests/{suite}/" in path for suite in SUITES):
        yield
        return
    capsys = request.getfixturevalue("capsys")  # only here: other suites keep their own streams
    import riskscore.serving.http as http

    bodies: list[str] = []
    real = http.respond

    def recording(body, status=200, headers=None):
        answer = real(body, status, headers)
        if status >= 400:
            bodies.append(answer[0])
        return answer

    monkeypatch.setattr(http, "respond", recording)
    yield
    captured = capsys.readouterr()
    for where, text in (("error body", "\n".join(bodies)), ("stdout", captured.out), ("stderr", captured.err)):
        # A prediction log's hashed id (`hA0000001` in tests/drift_data.py) is not a raw id.
        found = [m.group(0) for m in _ID.finditer(text)]
        assert not found, f"applicant ids in {where}: {found[:5]}"
