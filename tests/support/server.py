"""The one launcher of a real local server: functions-framework serving functions/main.py.

    server_env(**settings): the environment to give it: this process's less every function
        setting, then `settings`.
    function_server(target, env, log_path, ready_status=200) (a context manager):
        starts `functions-framework --target TARGET` on a free loopback port in its own process
        group, with stdout+stderr to log_path, waits for GET / to answer `ready_status` (200 for
        `score` once its model is loaded; 405 for the POST-only functions), and yields
        SimpleNamespace(url, session, proc, log_path); stops exactly that process group after.
    process_server(command, url, env, log_path, ...): the same for any command that ends up
        serving `url` (`make serve`, an MLflow tracking server).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

REPO_ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS_SOURCE = REPO_ROOT / "functions" / "main.py"

# Every setting functions/main.py reads: a test function or server starts with none of them set.
FUNCTION_ENV = ["MODEL_STORE", "MODEL_NAME", "MODEL_VERSION", "MODEL_CHALLENGER_VERSION", "ORT_INTRA_OP_THREADS", "ORT_INTER_OP_THREADS",
                "MAX_BODY_BYTES", "LOAD_RETRY_S", "STORE_READ_TIMEOUT_S", "STORE_READ_DEADLINE_S", "PREDICTION_LOG",
                "APPLICANT_ID_SALT", "GOOGLE_CLOUD_PROJECT", "BATCH_CHUNK_ROWS", "MAX_INLINE_RECORDS",
                "BATCH_WORKERS", "BATCH_STAGING_DATASET", "DATAFLOW_MIN_ROWS", "DATAFLOW_TEMPLATE",
                "DATAFLOW_REGION", "DATAFLOW_SERVICE_ACCOUNT", "DATAFLOW_TEMP_LOCATION", "DATAFLOW_MAX_WORKERS",
                "DATAFLOW_ENDPOINT", "DATAFLOW_LABELS", "NARRATIVE_MODEL", "NARRATIVE_LOCATION", "NARRATIVE_BASE_URL",
                "NARRATIVE_TIMEOUT_S", "SERVICE_TIMEOUT_S", "SERVICE_DEADLINE_S", "ALLOWED_BUCKETS",
                "LOCAL_ROOT", "BATCH_QUERY_DATASETS", "DRIFT_SOURCE", "REPORTS_DIR", "DRIFT_REPORTS_TABLE",
                "FUNCTION_TARGET", "FUNCTION_SOURCE", "FUNCTION_SIGNATURE_TYPE",
                "ENTRY_POINT"]


def server_env(**settings) -> dict:
    """The environment of a server of functions/main.py: this process's, with every function
    setting (FUNCTION_ENV) unset, then `settings`."""
    env = {k: v for k, v in os.environ.items() if k not in FUNCTION_ENV}
    env.update({k: str(v) for k, v in settings.items()})
    return env


def free_port() -> int:
    """A loopback port free now: nothing listens on it once the probing socket is closed (so
    it also serves as a refused address), until a server is started on it."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def function_server(target: str, env: dict, log_path, timeout_s: float = 90.0, ready_status: int = 200):
    port = free_port()
    executable = os.path.join(os.path.dirname(sys.executable), "functions-framework")
    with process_server([executable, "--target", target, "--source", str(FUNCTIONS_SOURCE),
                         "--host", "127.0.0.1", "--port", str(port)], f"http://127.0.0.1:{port}/", env, log_path,
                        timeout_s=timeout_s, ready_status=ready_status, name="functions-framework") as srv:
        yield srv


@contextlib.contextmanager
def process_server(command: list[str], url: str, env: dict, log_path, timeout_s: float = 90.0,
                   ready_status: int = 200, name: str | None = None, cwd=REPO_ROOT):
    import requests

    name = name or command[0]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(command, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
    session = requests.Session()
    session.trust_env = False  # loopback only: never through a proxy from the environment
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}:\n"
                                   f"{open(log_path, errors='replace').read()}")
            try:
                if session.get(url, timeout=5).status_code == ready_status:
                    break
            except (requests.ConnectionError, requests.Timeout):
                pass  # not listening yet, or still loading its models on a busy machine
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} not ready within {timeout_s} s:\n"
                                   f"{open(log_path, errors='replace').read()}")
            time.sleep(0.05)
        yield SimpleNamespace(url=url, session=session, proc=proc, log_path=log_path)
    finally:
        session.close()
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)  # gunicorn: quick shutdown of the server and its workers
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # whatever is left of the group, e.g. a stuck worker
        except ProcessLookupError:
            pass
        proc.wait(timeout=10)
