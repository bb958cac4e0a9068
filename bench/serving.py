"""Serving benchmark: the `score` Cloud Function next to the conventional alternative.

    .venv/bin/python bench/serving.py [--rows 50000] [--requests 500] [--rounds 5]
    .venv/bin/python bench/serving.py --prepared DIR   # reuse data and models from bench/prepare_models.py

1. bench/prepare_models.py (in a subprocess): synthetic data into a temp dir, our ONNX bundle
   (training.train.train) into a temp model store and the conventional scikit-learn + XGBoost
   joblib pipeline (bench/alternative/train_alternative.py), same rows, spec and split.
2. Copies each service's source (ours, the alternative's bench/alternative, and --before) into
   the temp dir and compiles it as Google's Python buildpack does at build time (`python3 -m
   compileall -f -q .`; `--no-bytecode` skips it), so that no service compiles its own modules
   at every start (this environment sets PYTHONDONTWRITEBYTECODE=1). The servers import only
   from those copies (PYTHONPATH is not passed on).
   The score function (and --before) runs in a virtualenv of functions/requirements.txt alone
   (`--functions-venv`, built once and rebuilt when that file changes), as the buildpack
   installs it: the development .venv holds more (the BigQuery emulator brings uvicorn's
   "standard" extras, whose websockets uvicorn would import at every start). The
   alternative runs in .venv.
   Starts each service once, unmeasured (page cache), then `--rounds` times, alternating the
   order each round, as a subprocess on a free loopback port:
     - score function:  functions-framework --target score   (gunicorn, 1 uvicorn worker:
                        `score` is an ASGI function; uvloop and httptools)
     - alternative:     uvicorn app:app --app-dir <copy of bench/alternative>   (1 process)
   and measures
     - cold start: Popen to the first 200 (a small valid request every ~10 ms);
     - memory after warm-up of the process tree (gunicorn master + worker): RSS summed, as
       well as distinct resident pages and PSS (see bench/procmem.py);
     - sequential warm latency (one keep-alive connection) p50/p99 over `--requests` requests;
     - throughput at concurrency `--concurrency` (one thread and keep-alive connection each)
       over `--load-requests` requests in all, its p50/p99, and the server's CPU time per
       request during it (the figure other load on the machine moves least).
   Every figure is the median over the rounds.
3. After each server of each round, runs the same start step by step in a fresh interpreter
   (interpreter, server imports, app imports, model load) for the time and RSS each step adds;
   what the steps leave of the cold start is the server's own start and the first request.
   Once, starts each server under -X importtime and sums import time by package.
4. Prints a markdown report and writes it, with every raw figure, to bench/out/serving.json
   (and the markdown alone to bench/out/serving.md).

The two do not do the same work per request: the score function runs four models of the
bundle (PD, LGD, segment, anomaly: one combined ONNX session; all five, the embedding too, are
loaded before the first 200), builds the adverse reasons and the explanation and writes a
prediction-log line; the alternative computes the PD only.

The client runs on the same machine as the servers: on a small machine its own CPU use
(especially at concurrency 8) is part of every latency figure, equally for both services. It
is the standard library's http.client (keep-alive HTTP/1.1): `requests` cost about 0.6 ms of
client CPU per call, about a third of a core during the score function's load test, taken
from the server it measures. This process imports only the standard library, so that the
memory figures do not depend on pages shared with the client.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import os
import platform
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path


BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))

from importtime import by_package, parse as parse_importtime, table as importtime_table  # noqa: E402
from procmem import rss_by_mapping, tree_cpu_s, tree_memory  # noqa: E402

PYTHON = str(ROOT / ".venv" / "bin" / "python")
OUT = BENCH / "out"

# Targets of the product issues (ours / alternative): score function round two (cold start,
# throughput) and the foundation issue (memory).
TARGET_COLD_S = 0.30
TARGET_COLD_RATIO = 1 / 4
TARGET_MEM_RATIO = 1 / 2
TARGET_RPS_RATIO = 10.0

GOOD = {"revolving_utilization": 0.35, "age": 42, "late_30_59": 1, "late_60_89": 0, "late_90_plus": 0,
        "debt_ratio": 0.25, "monthly_income": 5500, "open_credit_lines": 6, "real_estate_loans": 1,
        "dependents": 2}
BAD = {"revolving_utilization": 0.98, "age": 22, "late_30_59": 3, "late_60_89": 2, "late_90_plus": 4,
       "debt_ratio": 1.00, "monthly_income": 1500, "open_credit_lines": 12, "real_estate_loans": 0,
       "dependents": 3, "housing": None, "employment_type": None, "loan_purpose": None}
BODIES = [json.dumps({"applicant_id": "good", "features": GOOD}).encode(),
          json.dumps({"applicant_id": "bad", "features": BAD}).encode()]
HEADERS = {"Content-Type": "application/json"}


# --------------------------------------------------------------------------- services

class Service:
    def __init__(self, key: str, label: str, cwd: Path, env: dict, argv: list[str], python: str = PYTHON):
        self.key, self.label, self.cwd, self.env, self.argv, self.python = key, label, cwd, env, argv, python

    def command(self, port: int, importtime: bool = False) -> list[str]:
        flags = ["-X", "importtime"] if importtime else []
        return [self.python, *flags, *[a.replace("{port}", str(port)) for a in self.argv]]


def functions_venv(path: Path) -> Path:
    """A virtualenv with functions/requirements.txt installed and nothing else (what the
    buildpack installs for a deployed function); rebuilt when that file changes."""
    requirements = ROOT / "functions" / "requirements.txt"
    stamp = path / ".requirements.txt"
    if stamp.exists() and stamp.read_bytes() == requirements.read_bytes():
        return path
    print(f"installing functions/requirements.txt into {path}", flush=True)
    shutil.rmtree(path, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
    subprocess.run([str(path / "bin" / "python"), "-m", "pip", "install", "--quiet", "-r", str(requirements)],
                   check=True)
    shutil.copyfile(requirements, stamp)
    return path


def deployed_copy(src: Path, dest: Path, compiled: bool, python: str = PYTHON) -> Path:
    """The service's source as deployed: a copy of `src`, compiled as Google's Python buildpack
    does at build time (`python3 -m compileall -f -q .`), so that no server compiles its own
    modules at start. This environment sets PYTHONDONTWRITEBYTECODE=1, which otherwise makes
    every start recompile them; the servers still read the compiled files with it set."""
    shutil.copytree(src, dest, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    if compiled:
        subprocess.run([python, "-m", "compileall", "-f", "-q", "."], cwd=dest, check=True)
    return dest


def services(prepared: dict, work: Path, venv: Path, compiled: bool = True) -> list[Service]:
    # The servers import their code only from their (copied) source dir, as deployed: not from
    # a PYTHONPATH that may point at this checkout.
    base = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    python = str(venv / "bin" / "python")
    ours = Service(
        "ours", "score function (functions-framework, ONNX)",
        deployed_copy(ROOT / "functions", work / "src-ours", compiled, python),
        dict(base, MODEL_STORE=prepared["ours"]["store"], MODEL_NAME=prepared["ours"]["model_name"]),
        [str(venv / "bin" / "functions-framework"), "--target", "score",
         "--host", "127.0.0.1", "--port", "{port}"], python)
    alt_src = deployed_copy(BENCH / "alternative", work / "src-alternative", compiled)
    alternative = Service(
        "alternative", "FastAPI + pandas + joblib sklearn/XGBoost (uvicorn)", alt_src,
        dict(base, ALT_MODEL_PATH=prepared["alternative"]["path"]),
        ["-m", "uvicorn", "app:app", "--app-dir", str(alt_src),
         "--host", "127.0.0.1", "--port", "{port}", "--log-level", "warning"])
    return [ours, alternative]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Client:
    """One keep-alive HTTP/1.1 connection to a local server (http.client). After a failed
    call the connection is closed; the next call opens a new one."""

    def __init__(self, port: int, timeout_s: float = 30.0):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout_s)

    def post(self, body: bytes) -> tuple[int, bytes]:
        try:
            self.conn.request("POST", "/", body, HEADERS)
            response = self.conn.getresponse()
            return response.status, response.read()
        except (OSError, http.client.HTTPException):
            self.conn.close()
            raise

    def close(self) -> None:
        self.conn.close()


class Running:
    """A server subprocess in its own process group; `stop` ends that group only."""

    def __init__(self, service: Service, log_path: Path, importtime: bool = False):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.log_path = log_path
        self._log = open(log_path, "wb")
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(service.command(self.port, importtime), cwd=service.cwd, env=service.env,
                                     stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)

    def wait_ready(self, timeout_s: float = 120.0, poll_s: float = 0.01) -> dict:
        """Poll with a valid request (a new connection each) until the first 200; cold start =
        Popen to that response."""
        deadline = self.started + timeout_s
        polls, last = 0, None
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log_tail()}")
            polls += 1
            sent = time.perf_counter()
            client = Client(self.port)
            try:
                status, body = client.post(BODIES[0])
            except (OSError, http.client.HTTPException):
                time.sleep(poll_s)
                continue
            finally:
                client.close()
            done = time.perf_counter()
            if status == 200:
                return {"cold_start_s": done - self.started, "cold_start_cpu_s": tree_cpu_s(self.proc.pid),
                        "first_request_ms": (done - sent) * 1000, "polls": polls, "response": json.loads(body)}
            last = f"{status} {body[:300]!r}"
            time.sleep(poll_s)
        raise RuntimeError(f"no 200 within {timeout_s}s (last: {last}):\n{self.log_tail()}")

    def log_tail(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")[-3000:]

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
            except ProcessLookupError:
                pass
        self._log.close()


# --------------------------------------------------------------------------- measurements

def percentile(values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (q in [0, 100])."""
    s = sorted(values)
    if not s:
        return float("nan")
    k = (len(s) - 1) * q / 100
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def sequential(port: int, n: int) -> dict:
    lat, errors = [], 0
    client = Client(port)
    try:
        for i in range(n):
            t = time.perf_counter()
            try:
                ok = client.post(BODIES[i % 2])[0] == 200
            except (OSError, http.client.HTTPException):
                ok = False
            lat.append((time.perf_counter() - t) * 1000)
            errors += not ok
    finally:
        client.close()
    return {"requests": n, "errors": errors, "p50_ms": percentile(lat, 50), "p99_ms": percentile(lat, 99),
            "mean_ms": statistics.fmean(lat)}


def load(port: int, concurrency: int, total: int, server_pid: int | None = None) -> dict:
    """`total` requests from `concurrency` threads, each with its own keep-alive connection;
    with `server_pid`, also the CPU time the server's process tree spent per request."""
    counter = itertools.count()
    barrier = threading.Barrier(concurrency + 1)
    lat: list[list[float]] = [[] for _ in range(concurrency)]
    errors = [0] * concurrency

    def worker(i: int) -> None:
        client = Client(port)
        try:
            try:
                client.post(BODIES[i % 2])  # open the connection
            finally:
                barrier.wait()
            while next(counter) < total:
                t = time.perf_counter()
                try:
                    ok = client.post(BODIES[i % 2])[0] == 200
                except (OSError, http.client.HTTPException):
                    ok = False
                lat[i].append((time.perf_counter() - t) * 1000)
                errors[i] += not ok
        finally:
            client.close()

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(concurrency)]
    for t in threads:
        t.start()
    barrier.wait()
    server_cpu = tree_cpu_s(server_pid) if server_pid else None
    start, cpu = time.perf_counter(), time.process_time()
    for t in threads:
        t.join()
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    flat = [x for part in lat for x in part]
    server_ms = (None if server_pid is None or not flat
                 else (tree_cpu_s(server_pid) - server_cpu) * 1000 / len(flat))
    return {"concurrency": concurrency, "requests": len(flat), "errors": sum(errors), "wall_s": wall,
            "rps": len(flat) / wall, "client_cpu_share": cpu / wall, "server_cpu_ms": server_ms,
            "p50_ms": percentile(flat, 50), "p99_ms": percentile(flat, 99)}


def measure_before(service: Service, args, log_dir: Path, label: str) -> dict:
    """Cold start, memory after warm-up and the server's CPU per request under the same load
    test as ours: the earlier code next to ours (right before or after it), same round."""
    loadavg = os.getloadavg()
    server = Running(service, log_dir / f"{service.key}-{label}.log")
    try:
        ready = server.wait_ready()
        warm = sequential(server.port, args.warmup)
        mem = tree_memory(server.proc.pid)
        conc = load(server.port, args.concurrency, args.load_requests, server.proc.pid)
    finally:
        server.stop()
    return {"loadavg_before": loadavg, "cold_start_s": ready["cold_start_s"],
            "cold_start_cpu_s": ready["cold_start_cpu_s"], "rss_mib": mib(mem["rss_kib"]),
            "unique_mib": mib(mem["unique_kib"]), "load_server_cpu_ms": conc["server_cpu_ms"],
            "load_rps": conc["rps"], "errors": warm["errors"] + conc["errors"]}


def measure_and_print_before(before: Service, args, work: Path, i: int, result: dict) -> None:
    b = measure_before(before, args, work, f"round{i + 1}")
    result.setdefault("before_runs", []).append(b)
    print(f"round {i + 1} before       cold {b['cold_start_s']:.2f}s  cpu {b['cold_start_cpu_s']:.2f}s  "
          f"unique {b['unique_mib'] or float('nan'):.0f} MiB  {b['load_server_cpu_ms']:.3f} ms CPU/request",
          flush=True)


def mib(kib: int | None) -> float | None:
    return None if kib is None else kib / 1024


def measure(service: Service, args, log_dir: Path, label: str) -> dict:
    loadavg = os.getloadavg()
    server = Running(service, log_dir / f"{service.key}-{label}.log")
    try:
        ready = server.wait_ready()
        warm = sequential(server.port, args.warmup)
        mem = tree_memory(server.proc.pid)
        for proc in mem["per_process"]:
            proc["top_mappings"] = rss_by_mapping(proc["pid"])[:8]
        seq = sequential(server.port, args.requests)
        conc = load(server.port, args.concurrency, args.load_requests, server.proc.pid)
        mem_after = tree_memory(server.proc.pid)
    finally:
        server.stop()
    return {
        "loadavg_before": loadavg,
        "cold_start_s": ready["cold_start_s"], "cold_start_cpu_s": ready["cold_start_cpu_s"],
        "first_request_ms": ready["first_request_ms"],
        "polls": ready["polls"], "first_response": ready["response"],
        "processes": mem["processes"], "rss_mib": mib(mem["rss_kib"]), "unique_mib": mib(mem["unique_kib"]),
        "pss_mib": mib(mem["pss_kib"]), "per_process": mem["per_process"],
        "rss_after_load_mib": mib(mem_after["rss_kib"]), "unique_after_load_mib": mib(mem_after["unique_kib"]),
        "seq_p50_ms": seq["p50_ms"], "seq_p99_ms": seq["p99_ms"], "seq_mean_ms": seq["mean_ms"],
        "load_rps": conc["rps"], "load_server_cpu_ms": conc["server_cpu_ms"],
        "load_client_cpu_share": conc["client_cpu_share"], "load_p50_ms": conc["p50_ms"], "load_p99_ms": conc["p99_ms"],
        "errors": warm["errors"] + seq["errors"] + conc["errors"],
    }


# Each cold start step by step, in a fresh interpreter: the time and the RSS each step adds.
# Steps run in the order the server meets them; a package shows up in the first step that
# imports it. What the steps leave of the measured cold start is the server's own start
# (gunicorn arbiter and worker fork, or uvicorn's event loop and socket) and the first request.
STEPS = {
    "ours": [
        # gunicorn's master, before it forks the worker (functions-framework imports Flask and
        # makes a Flask app even for an ASGI function; then Starlette and the uvicorn worker)
        ("master: functions-framework, Flask, gunicorn",
         "import functions_framework._cli, functions_framework._http.gunicorn"),
        ("master: the ASGI stack (functions_framework.aio, Starlette, uvicorn worker)",
         "import functions_framework.aio, uvicorn_worker"),
        # main.py sets OPENBLAS_NUM_THREADS=1 before numpy's first import; so does this step
        ("master: numpy (OpenBLAS on one thread, as main.py sets it)",
         "import os; os.environ.setdefault('OPENBLAS_NUM_THREADS', '1'); import numpy"),
        ("master: pydantic (BaseModel and friends)",
         "from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, model_validator"),
        ("master: riskscore modules and main.py (settings; no model)", "import main"),
        # the worker: uvicorn's config loads its loop and protocol; the model loads in a
        # background thread right after the fork
        ("worker: uvloop and httptools (uvicorn's loop and HTTP protocol)",
         "import uvicorn.loops.uvloop, uvicorn.protocols.http.httptools_impl"),
        ("worker: onnxruntime", "import onnxruntime"),
        ("worker: model load as served (read, sha256, combined graph, 2 sessions, request model)",
         "import main; main.SCORER.load()"),
    ],
    "alternative": [
        ("uvicorn, FastAPI (with pydantic)", "import uvicorn.main, fastapi"),
        ("pandas (with numpy)", "import pandas"),
        ("scikit-learn (with scipy)",
         "import sklearn.pipeline, sklearn.compose, sklearn.impute, sklearn.preprocessing"),
        ("xgboost", "import xgboost"),
        ("app.py (with joblib)", "import app"),  # cwd: the service's source copy
        ("model load: joblib.load", "import joblib, os; joblib.load(os.environ['ALT_MODEL_PATH'])"),
    ],
}

# The model load of ours taken apart, in a fresh interpreter with onnxruntime imported, step
# by step as the served load runs them: the per-request graphs combined into one session
# (riskscore.model.graphs), the on-demand embedding in its own.
LOAD_DETAIL = """
import json, time
import onnxruntime
from riskscore.contract import bundle
from riskscore.contract.request import request_model
from riskscore.contract.schema import FeatureSpec, ScalingSpec
from riskscore.model.sessions import ON_DEMAND, build_session, combined_graph
from riskscore.settings import ScoreSettings
from riskscore.io.store import open_store
out = []
def timed(name, fn):
    t = time.perf_counter(); value = fn(); out.append({"step": name, "s": time.perf_counter() - t}); return value
s = ScoreSettings.from_env()
b = timed("read the bundle, sha256 every file, parse the manifest",
          lambda: bundle.load(open_store(s.model_store), s.model_name, s.model_version))
files = {name: b.files[meta["file"]] for name, meta in b.manifest["models"].items()}
every = {name: data for name, data in files.items() if name not in ON_DEMAND}
combined, _ = timed(("the trained serving graph of " if "serving_graph" in b.manifest else "combine ")
                    + f"{', '.join(every)} ({sum(map(len, every.values())) / 1024:.0f} KiB)",
                    lambda: combined_graph(b.manifest, b.files, every))
timed("session: the combined graph", lambda: build_session(combined, s, "basic"))
for name in sorted(set(files) - set(every)):
    timed(f"session: {name} ({len(files[name]) / 1024:.0f} KiB)", lambda: build_session(files[name], s, "basic"))
timed("feature specs, scaling and the request model (pydantic)",
      lambda: request_model([FeatureSpec.model_validate(f) for f in b.manifest["features"]])
      and ScalingSpec.model_validate(b.manifest["scaling"]))
print(json.dumps(out))
"""


def load_detail(service: Service) -> list[dict]:
    out = subprocess.run([service.python, "-c", LOAD_DETAIL], cwd=service.cwd, env=service.env, capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(f"load detail failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


STEP_RUNNER = """
import json, sys, time
def rss_kib():
    with open('/proc/self/status') as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith('VmRSS:'))
out, scope = [{"step": "interpreter", "rss_kib": rss_kib()}], {}
for name, code in json.loads(sys.argv[1]):
    before, t = rss_kib(), time.perf_counter()
    exec(code, scope)
    out.append({"step": name, "s": time.perf_counter() - t, "rss_kib": rss_kib() - before})
print(json.dumps(out))
"""


def cold_start_steps(service: Service) -> list[dict]:
    """One fresh interpreter through the steps: time and RSS each adds. The first row is the
    bare interpreter: the wall time of `python -c pass` and the RSS before any import."""
    t = time.perf_counter()
    subprocess.run([service.python, "-c", "pass"], check=True)
    interpreter_s = time.perf_counter() - t
    out = subprocess.run([service.python, "-c", STEP_RUNNER, json.dumps(STEPS[service.key])], cwd=service.cwd,
                         env=service.env, capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(f"cold-start steps of {service.key} failed:\n{out.stderr[-3000:]}")
    steps = json.loads(out.stdout.strip().splitlines()[-1])
    steps[0]["s"] = interpreter_s
    return [{"step": st["step"], "s": st["s"], "rss_mib": st["rss_kib"] / 1024} for st in steps]


def median_steps(runs: list[list[dict]]) -> list[dict]:
    return [{"step": first["step"], "s": statistics.median(r[i]["s"] for r in runs),
             "rss_mib": statistics.median(r[i].get("rss_mib", 0) for r in runs)} for i, first in enumerate(runs[0])]


def import_breakdown(service: Service, log_dir: Path) -> list[dict]:
    """Start the real server under -X importtime, wait for the first 200, group by package."""
    server = Running(service, log_dir / f"{service.key}-importtime.log", importtime=True)
    try:
        server.wait_ready()
    finally:
        server.stop()
    return by_package(parse_importtime(server.log_path.read_text(errors="replace")))


# --------------------------------------------------------------------------- report

METRICS = [  # key, label, format, lower is better
    ("cold_start_s", "cold start: Popen to first 200 (s)", "{:.2f}", True),
    ("cold_start_cpu_s", "  CPU time of the tree until then (s)", "{:.2f}", True),
    ("first_request_ms", "  of which the round trip of the first 200 (ms; includes any wait in the listen backlog)",
     "{:.1f}", True),
    ("rss_mib", "RSS after warm-up, process tree summed (MiB)", "{:.0f}", True),
    ("unique_mib", "  distinct resident pages of the tree (MiB)", "{:.0f}", True),
    ("pss_mib", "  PSS of the tree (MiB)", "{:.0f}", True),
    ("rss_after_load_mib", "RSS after the load test, summed (MiB)", "{:.0f}", True),
    ("seq_p50_ms", "sequential latency p50 (ms)", "{:.2f}", True),
    ("seq_p99_ms", "sequential latency p99 (ms)", "{:.2f}", True),
    ("load_rps", "throughput at concurrency {c} (req/s)", "{:.0f}", False),
    ("load_server_cpu_ms", "  server CPU time per request during it (ms, process tree)", "{:.3f}", True),
    ("load_client_cpu_share", "  client CPU during the load test (cores)", "{:.2f}", None),
    ("load_p50_ms", "latency p50 at concurrency {c} (ms)", "{:.1f}", True),
    ("load_p99_ms", "latency p99 at concurrency {c} (ms)", "{:.1f}", True),
]


def summarise(runs: list[dict]) -> dict:
    out = {}
    for key, *_ in METRICS:
        values = [r[key] for r in runs if r.get(key) is not None]
        if values:
            out[key] = {"median": statistics.median(values), "min": min(values), "max": max(values)}
    out["processes"] = runs[0]["processes"]
    out["errors"] = sum(r["errors"] for r in runs)
    return out


def paired_ratios(ours: list[dict], alt: list[dict]) -> dict:
    """Median over the rounds of ours / alternative within each round: the two ran back to
    back, so a ratio taken in one round cancels most of the machine's drifting load."""
    out = {}
    for key, _, _, lower_is_better in METRICS:
        if lower_is_better is None:
            continue
        pairs = [o[key] / a[key] for o, a in zip(ours, alt) if o.get(key) is not None and a.get(key)]
        if pairs:
            out[key] = {"median": statistics.median(pairs), "min": min(pairs), "max": max(pairs)}
    return out


def verdicts(ours: dict, ratios: dict) -> list[dict]:
    cold = ours["cold_start_s"]["median"]
    cold_ratio, rss_ratio = ratios["cold_start_s"]["median"], ratios["rss_mib"]["median"]
    rows = [
        {"target": f"cold start <= {TARGET_COLD_S} s", "value": f"{cold:.2f} s", "pass": cold <= TARGET_COLD_S},
        {"target": "cold start <= 1/4 of the alternative's", "value": f"{cold_ratio:.2f}",
         "pass": cold_ratio <= TARGET_COLD_RATIO},
        {"target": f"throughput at concurrency 8 >= {TARGET_RPS_RATIO:g}x the alternative's",
         "value": f"{ratios['load_rps']['median']:.1f}x", "pass": ratios["load_rps"]["median"] >= TARGET_RPS_RATIO},
        {"target": "memory <= 1/2 of the alternative's (RSS summed over the process tree)",
         "value": f"{rss_ratio:.2f}", "pass": rss_ratio <= TARGET_MEM_RATIO},
    ]
    if "unique_mib" in ratios:
        ratio = ratios["unique_mib"]["median"]
        rows.append({"target": "(for reference) memory <= 1/2, distinct resident pages of the tree",
                     "value": f"{ratio:.2f}", "pass": ratio <= TARGET_MEM_RATIO})
    return rows


def machine() -> dict:
    model = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
                 platform.processor())
    mem_kib = next(int(line.split()[1]) for line in open("/proc/meminfo") if line.startswith("MemTotal"))
    return {"cores": os.cpu_count(), "cpu": model, "memory_gib": round(mem_kib / 2**20, 1),
            "kernel": platform.release(), "python": platform.python_version(),
            "loadavg_at_start": os.getloadavg()}


def markdown(result: dict) -> str:
    s, a = result["summary"]["ours"], result["summary"]["alternative"]
    c = result["settings"]["concurrency"]
    lines = [
        f"Date: {result['date']} · command: `{result['command']}` · machine: {result['machine']['cores']} cores "
        f"({result['machine']['cpu']}), {result['machine']['memory_gib']} GiB, Python {result['machine']['python']}",
        "",
        f"Median of {result['settings']['rounds']} rounds (order alternating); "
        f"range in brackets; the ratio is the median of the per-round ratios (each round runs both "
        f"back to back). Sequential: {result['settings']['requests']} requests after "
        f"{result['settings']['warmup']} warm-up; load: {result['settings']['load_requests']} requests from {c} threads. "
        + ("Every service starts from uncompiled source (`--no-bytecode`)." if result["settings"].get("no_bytecode")
           else "Every service starts from a copy of its source compiled with `compileall`, as the buildpack deploys it."),
        "",
        f"| metric | {result['labels']['ours']} | {result['labels']['alternative']} | ours / alternative |",
        "|---|---:|---:|---:|",
    ]
    for key, label, fmt, _ in METRICS:
        if key not in s or key not in a:
            continue
        cell = lambda m: (fmt.format(m[key]["median"]) + f" [{fmt.format(m[key]['min'])}–{fmt.format(m[key]['max'])}]"
                          if key in ("cold_start_s", "rss_mib", "load_rps") else fmt.format(m[key]["median"]))
        ratio = result["ratios"].get(key)
        ratio_text = "" if ratio is None else f"{ratio['median']:.2f}"
        lines.append(f"| {label.format(c=c)} | {cell(s)} | {cell(a)} | {ratio_text} |")
    lines.append(f"| processes in the tree | {s['processes']} | {a['processes']} | |")
    lines.append(f"| failed requests | {s['errors']} | {a['errors']} | |")
    per = lambda key: ", ".join(f"{x['rss_kib'] / 1024:.0f} MiB (private {x['uss_kib'] / 1024:.0f})"
                                for x in result["runs"][key][0]["per_process"])
    lines += ["", f"Per process, first round (RSS, of which private to the process): score function "
              f"{per('ours')} (gunicorn master, worker); alternative {per('alternative')}."]
    lines += ["", "Per round (the machine is shared: the 1-minute load average shows how busy it was):", "",
              "| round | load avg | cold start ours / alt (s) | ratio | RSS summed ours / alt (MiB) | "
              "p50 ours / alt (ms) | req/s ours / alt |", "|---:|---:|---:|---:|---:|---:|---:|"]
    for i, (o, x) in enumerate(zip(result["runs"]["ours"], result["runs"]["alternative"]), 1):
        lines.append(f"| {i} | {o['loadavg_before'][0]:.1f} | {o['cold_start_s']:.2f} / {x['cold_start_s']:.2f} | "
                     f"{o['cold_start_s'] / x['cold_start_s']:.2f} | {o['rss_mib']:.0f} / {x['rss_mib']:.0f} | "
                     f"{o['seq_p50_ms']:.2f} / {x['seq_p50_ms']:.2f} | {o['load_rps']:.0f} / {x['load_rps']:.0f} |")
    lines += ["", "| target | ours | result |", "|---|---:|---|"]
    lines += [f"| {v['target']} | {v['value']} | {'PASS' if v['pass'] else 'FAIL'} |" for v in result["verdicts"]]

    lines += ["", "Cold start and memory step by step, each step timed in a fresh interpreter "
              "right after each round's server (median over the rounds); a package counts in the first step that imports it. "
              "The rest of the cold start is the server's own start (gunicorn arbiter and worker fork, or "
              "uvicorn's loop and socket), the first request and the polling interval.", ""]
    for key in ("ours", "alternative"):
        steps = result["steps"][key]
        total = sum(st["s"] for st in steps)
        cold = result["summary"][key]["cold_start_s"]["median"]
        lines += [f"{result['labels'][key]}:", "", "| step | time (s) | RSS added (MiB) |", "|---|---:|---:|"]
        lines += [f"| {st['step']} | {st['s']:.3f} | {st['rss_mib']:.1f} |" for st in steps]
        lines += [f"| rest: server start, first request, polling | {cold - total:.3f} | |",
                  f"| **cold start (measured) / RSS of one process** | **{cold:.3f}** | "
                  f"**{sum(st['rss_mib'] for st in steps):.1f}** |", ""]
    if result.get("before"):
        b, o = result["before"], result["summary"]["ours"]
        unique = lambda v: "n/a" if v is None else f"{v:.0f}"
        lines += [f"Earlier code, measured in every round right before or after ours, alternating ({b['label']}):", "",
                  "| | ours | earlier | ours / earlier (median of rounds) |", "|---|---:|---:|---:|",
                  f"| cold start (s) | {o['cold_start_s']['median']:.3f} | {b['cold_start_s']:.3f} | {b['cold_ratio']:.2f} |",
                  f"| CPU time of the tree until the first 200 (s) | {o['cold_start_cpu_s']['median']:.3f} | "
                  f"{b['cold_start_cpu_s']:.3f} | {b['cpu_ratio']:.2f} |",
                  f"| server CPU per request at concurrency {result['settings']['concurrency']} (ms) | "
                  f"{o['load_server_cpu_ms']['median']:.3f} | {b['load_server_cpu_ms']:.3f} | {b['request_cpu_ratio']:.2f} |",
                  f"| distinct resident pages after warm-up (MiB) | {unique(o.get('unique_mib', {}).get('median'))} | "
                  f"{unique(b['unique_mib'])} | |",
                  f"| RSS summed after warm-up (MiB) | {o['rss_mib']['median']:.0f} | {b['rss_mib']:.0f} | |", ""]
    detail = result["load_detail"]
    lines += ["Model load of the score function taken apart as served (fresh interpreter with onnxruntime imported; "
              "step by step, one after the other; median over the rounds):", "",
              "| step | time (s) |", "|---|---:|"]
    lines += [f"| {st['step']} | {st['s']:.4f} |" for st in detail]
    lines += [f"| **sum (one thread)** | **{sum(st['s'] for st in detail):.4f}** |", ""]
    for key in ("ours", "alternative"):
        lines += [f"Imports of the {result['labels'][key]} by package, from a server start under "
                  "`-X importtime` (which inflates every figure; read the shares):", "",
                  importtime_table(result["imports"][key], top=12), ""]
    m = result["models"]
    lines += [f"Models: {m['rows']:,} synthetic rows (seed {m['seed']}), spec `{m['spec']}`; "
              f"ours a {m['ours'].get('family', 'xgboost')} PD model ({m['ours']['trees'] or 'no'} trees), test AUC {m['ours']['test_auc']:.4f}, bundle {m['ours']['bundle_bytes']:,} B "
              f"({len(m['ours'].get('onnx_models', []))} ONNX models, all loaded before the first 200: "
              f"{', '.join(m['ours'].get('onnx_models', []))}; all but the embedding run per request); "
              f"alternative {m['alternative']['trees']} trees, test AUC {m['alternative']['test_auc']:.4f}, "
              f"joblib {m['alternative']['bytes']:,} B."]
    return "\n".join(lines)


# --------------------------------------------------------------------------- main

def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--requests", type=int, default=500, help="sequential requests per round")
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--load-requests", type=int, default=1200, help="requests per round at --concurrency")
    parser.add_argument("--out", type=Path, default=OUT / "serving.json")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (data, models, server logs)")
    parser.add_argument("--prepared", type=Path, default=None,
                        help="reuse a directory written by bench/prepare_models.py instead of training")
    parser.add_argument("--before", type=Path, default=None,
                        help="a `functions/` folder of an earlier version of the code: its cold start, memory and "
                             "server CPU per request are measured in every round too, right before or after ours "
                             "(alternating; e.g. from `git archive`)")
    parser.add_argument("--functions-venv", type=Path, default=OUT / "venv-functions",
                        help="the virtualenv of functions/requirements.txt the score function runs in "
                             "(created or rebuilt when that file changed)")
    parser.add_argument("--no-bytecode", action="store_true",
                        help="start every service from uncompiled source (with PYTHONDONTWRITEBYTECODE=1 each "
                             "start compiles its modules), instead of compiled as the buildpack deploys it")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    command = ".venv/bin/python bench/serving.py" + "".join(f" {a}" for a in map(shlex.quote, sys.argv[1:]))
    work = Path(tempfile.mkdtemp(prefix="bench-serving-"))
    result = {"date": datetime.now(timezone.utc).date().isoformat(), "command": command, "machine": machine(),
              "settings": {k: v for k, v in vars(args).items() if k not in ("out", "keep")}}
    try:
        if args.prepared:
            prepared = json.loads((args.prepared / "prepared.json").read_text())
        else:
            print(f"preparing data and models in {work}", flush=True)
            subprocess.run([PYTHON, str(BENCH / "prepare_models.py"), "--dir", str(work), "--rows", str(args.rows),
                            "--seed", str(args.seed)], check=True, stdout=subprocess.DEVNULL)
            prepared = json.loads((work / "prepared.json").read_text())
        result["models"] = prepared
        compiled = not args.no_bytecode
        svc = services(prepared, work, functions_venv(args.functions_venv.resolve()), compiled)
        before = None
        if args.before:
            ours = svc[0]
            before = Service("before", f"score function, earlier code ({args.before})",
                             deployed_copy(args.before.resolve(), work / "src-before", compiled, ours.python),
                             ours.env, ours.argv, ours.python)
        result["labels"] = {s.key: s.label for s in svc}

        for s in svc:  # unmeasured first start: page cache, lazy file-system state
            server = Running(s, work / f"{s.key}-prime.log")
            try:
                result.setdefault("priming_cold_start_s", {})[s.key] = server.wait_ready()["cold_start_s"]
            finally:
                server.stop()

        runs: dict[str, list[dict]] = {s.key: [] for s in svc}
        for i in range(args.rounds):
            for s in (svc if i % 2 == 0 else svc[::-1]):
                # The earlier code right before ours in odd rounds and right after in even ones,
                # so that neither always meets the machine warmer.
                if s.key == "ours" and before and i % 2 == 1:
                    measure_and_print_before(before, args, work, i, result)
                r = measure(s, args, work, f"round{i + 1}")
                if s.key == "ours" and before and i % 2 == 0:
                    measure_and_print_before(before, args, work, i, result)
                # Then, under the same load on the machine: the same start step by step.
                r["steps"] = cold_start_steps(s)
                if s.key == "ours":
                    r["load_detail"] = load_detail(s)
                runs[s.key].append(r)
                print(f"round {i + 1} {s.key:12s} cold {r['cold_start_s']:.2f}s  cpu {r['cold_start_cpu_s']:.2f}s  "
                      f"rss {r['rss_mib']:.0f} MiB  {r['load_server_cpu_ms']:.3f} ms CPU/request  "
                      f"unique {r['unique_mib'] or float('nan'):.0f} MiB  p50 {r['seq_p50_ms']:.2f} ms  "
                      f"{r['load_rps']:.0f} req/s  errors {r['errors']}", flush=True)
        result["runs"] = runs
        result["summary"] = {k: summarise(v) for k, v in runs.items()}
        result["ratios"] = paired_ratios(runs["ours"], runs["alternative"])
        result["verdicts"] = verdicts(result["summary"]["ours"], result["ratios"])

        result["steps"] = {k: median_steps([r["steps"] for r in v]) for k, v in runs.items()}
        result["load_detail"] = median_steps([r["load_detail"] for r in runs["ours"]])
        if before:
            b_runs = result["before_runs"]
            result["before"] = {
                "label": before.label,
                "cold_start_s": statistics.median(r["cold_start_s"] for r in b_runs),
                "cold_start_cpu_s": statistics.median(r["cold_start_cpu_s"] for r in b_runs),
                "unique_mib": statistics.median(r["unique_mib"] for r in b_runs if r["unique_mib"] is not None)
                if any(r["unique_mib"] is not None for r in b_runs) else None,
                "rss_mib": statistics.median(r["rss_mib"] for r in b_runs),
                "cold_ratio": statistics.median(o["cold_start_s"] / r["cold_start_s"]
                                                for o, r in zip(runs["ours"], b_runs)),
                "cpu_ratio": statistics.median(o["cold_start_cpu_s"] / r["cold_start_cpu_s"]
                                               for o, r in zip(runs["ours"], b_runs)),
                "load_server_cpu_ms": statistics.median(r["load_server_cpu_ms"] for r in b_runs),
                "request_cpu_ratio": statistics.median(o["load_server_cpu_ms"] / r["load_server_cpu_ms"]
                                                       for o, r in zip(runs["ours"], b_runs)),
                "errors": sum(r["errors"] for r in b_runs)}
        print("import breakdown (-X importtime)", flush=True)
        result["imports"] = {s.key: import_breakdown(s, work) for s in svc}
        result["runtime_s"] = round(time.perf_counter() - started, 1)
        result["markdown"] = markdown(result)
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, default=str))
    args.out.with_suffix(".md").write_text(result["markdown"] + "\n")
    print()
    print(result["markdown"])
    print(f"\nwrote {args.out} ({result['runtime_s']} s)")
    return 0 if all(r["errors"] == 0 for rs in runs.values() for r in rs) else 1


if __name__ == "__main__":
    sys.exit(main())
