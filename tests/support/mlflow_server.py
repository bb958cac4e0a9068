"""A real MLflow tracking server for tests: `mlflow server` from its own virtualenv
(`.venv-mlflow`, built by `make mlflow-setup` from requirements-mlflow-server.txt; the full
mlflow cannot share .venv's pins), SQLite backend, artifacts served over HTTP from a temp
folder, on a loopback port.

    with mlflow_server(tmp_path) as server: server.uri  ->  "http://127.0.0.1:PORT"

Without the virtualenv the tests that need it skip, except under CI (CI=true), where
`make test` has built it and its absence is a failure.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from types import SimpleNamespace

import pytest

from support.server import REPO_ROOT, free_port, process_server


def mlflow_executable() -> Path:
    """The server's `mlflow` (MLFLOW_SERVER_VENV overrides the virtualenv's location)."""
    venv = Path(os.environ.get("MLFLOW_SERVER_VENV", REPO_ROOT / ".venv-mlflow"))
    exe = venv / "bin" / "mlflow"
    if not exe.exists():
        message = f"no MLflow server at {exe}: run `make mlflow-setup`"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return exe


@contextlib.contextmanager
def mlflow_server(folder: Path, timeout_s: float = 300.0):
    exe = mlflow_executable()
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    uri = f"http://127.0.0.1:{port}"
    log_path = folder / "server.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    command = [str(exe), "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
               "--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}",
               "--artifacts-destination", str(folder / "artifacts")]
    with process_server(command, f"{uri}/health", env, log_path, timeout_s=timeout_s, name="mlflow server",
                        cwd=folder) as srv:
        # The server imports its REST handlers on the first API call (seconds on a loaded
        # machine): make that call here, so the tests' clients meet a warm server.
        srv.session.get(f"{uri}/api/2.0/mlflow/experiments/search?max_results=1", timeout=timeout_s).raise_for_status()
        yield SimpleNamespace(uri=uri, port=port, folder=folder, log_path=log_path, proc=srv.proc)
