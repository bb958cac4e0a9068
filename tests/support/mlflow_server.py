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
import signal
import subprocess
import time
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import pytest

from support.server import REPO_ROOT, free_port


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
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [str(exe), "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
             "--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}",
             "--artifacts-destination", str(folder / "artifacts")],
            cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"mlflow server exited with {proc.returncode}:\n{log_path.read_text(errors='replace')}")
            try:
                with urllib.request.urlopen(f"{uri}/health", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"mlflow server not ready within {timeout_s} s:\n"
                                   f"{log_path.read_text(errors='replace')}")
            time.sleep(0.2)
        # The server imports its REST handlers on the first API call (seconds on a loaded
        # machine): make that call here, so the tests' clients meet a warm server.
        with urllib.request.urlopen(f"{uri}/api/2.0/mlflow/experiments/search?max_results=1",
                                    timeout=timeout_s) as r:
            r.read()
        yield SimpleNamespace(uri=uri, port=port, folder=folder, log_path=log_path, proc=proc)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
