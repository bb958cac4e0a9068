"""riskscore.io.bq.bigquery_client: the one BigQuery client factory, kept off the score path."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def test_score_path_never_imports_bigquery():
    # main.py is the deployed module of all entry points; importing it (and the factory's
    # module) must not load google.cloud.bigquery (~0.8 s, ~140 MB on every cold start).
    code = ("import sys; import main, riskscore.io.bq; "
            "assert 'google.cloud.bigquery' not in sys.modules, 'google.cloud.bigquery imported'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT / "functions")


@pytest.mark.parametrize("project, expected", [("job-project", "job-project"), (None, "env-project")])
def test_client_project_and_environment_credentials(monkeypatch, project, expected):
    import google.auth
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import bigquery

    from riskscore.io.bq import bigquery_client

    credentials = AnonymousCredentials()
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "env-project")
    # Application Default Credentials, without probing for real ones
    monkeypatch.setattr(google.auth, "default", lambda *a, **k: (credentials, "adc-project"))
    client = bigquery_client(project)
    assert isinstance(client, bigquery.Client)
    assert client.project == expected
    assert client._credentials is credentials
