"""The score function's own start and per-request CPU, two versions of its code side by side.

    .venv/bin/python bench/score_side_by_side.py --before DIR [--store models] [--rounds 7] [--requests 2000]

DIR is a `functions/` folder of the earlier code (e.g. `git archive main functions | tar -x -C /tmp/x`);
ours is this checkout's `functions/`. Each round starts one fresh interpreter per version, in
alternating order, and measures in it, with the process's own CPU clock:
  - start: `import main` (functions-framework's decorators, the settings, the scorer) and the
    model load, as a score instance does before its first request;
  - per request: `--requests` POSTs of two applicants through `main.score` itself (a Starlette
    request built in memory, on one asyncio loop): the handler, validation, the decision, the
    prediction-log line (to /dev/null), no HTTP server and no client in the same process.
Without HTTP and load generator, this is the part of a request the function's code controls,
with less noise than bench/serving.py's server CPU figures on a busy machine. Prints the
per-round figures, the medians and the median of the per-round ratios ours / earlier.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import asyncio, json, os, sys, time
functions, requests = sys.argv[1], int(sys.argv[2])
sys.stdout = open(os.devnull, "w")  # the prediction log's lines
started = time.process_time()
sys.path.insert(0, functions)
import main
main.SCORER.ensure_loaded()
start_cpu = time.process_time() - started
from starlette.requests import Request

BODIES = [json.dumps(b).encode() for b in json.loads(sys.argv[3])]

def request(body):
    sent = False
    async def receive():
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}
    scope = {"type": "http", "method": "POST", "path": "/", "raw_path": b"/", "query_string": b"",
             "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]}
    return Request(scope, receive)

async def run(n):
    for i in range(n):
        response = await main.score(request(BODIES[i % len(BODIES)]))
        assert response.status_code == 200, response.body

asyncio.run(run(200))  # warm-up
t = time.process_time()
asyncio.run(run(requests))
per_request_ms = (time.process_time() - t) * 1000 / requests
sys.__stdout__.write(json.dumps({"start_cpu_s": start_cpu, "request_cpu_ms": per_request_ms}) + "\n")
"""

APPLICANTS = [
    {"applicant_id": "A-1", "exposure": 12000,
     "features": {"revolving_utilization": 0.35, "age": 42, "late_30_59": 1, "late_60_89": 0, "late_90_plus": 0,
                  "debt_ratio": 0.25, "monthly_income": 5500, "open_credit_lines": 6, "real_estate_loans": 1,
                  "dependents": 2}},
    {"applicant_id": "A-2",
     "features": {"revolving_utilization": 0.98, "age": 22, "late_30_59": 3, "late_60_89": 2, "late_90_plus": 4,
                  "debt_ratio": 1.0, "monthly_income": 1500, "open_credit_lines": 12, "real_estate_loans": 0,
                  "dependents": 3}},
]


def measure(functions: Path, python: str, store: str, requests: int) -> dict:
    env = {"MODEL_STORE": store, "FUNCTION_TARGET": "score", "PATH": "/usr/bin:/bin", "OPENBLAS_NUM_THREADS": "1"}
    out = subprocess.run([python, "-c", CHILD, str(functions), str(requests), json.dumps(APPLICANTS)], env=env,
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", type=Path, required=True, help="the earlier code's functions/ folder")
    parser.add_argument("--store", default=str(ROOT / "models"), help="model store with a current version")
    parser.add_argument("--python", default=sys.executable, help="interpreter with functions/requirements.txt")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args(argv)
    versions = {"ours": ROOT / "functions", "earlier": args.before.resolve()}
    runs: dict[str, list[dict]] = {k: [] for k in versions}
    for i in range(args.rounds):
        for key in (("ours", "earlier") if i % 2 == 0 else ("earlier", "ours")):
            runs[key].append(measure(versions[key], args.python, args.store, args.requests))
        o, e = runs["ours"][-1], runs["earlier"][-1]
        print(f"round {i + 1}: start CPU {o['start_cpu_s']:.3f} / {e['start_cpu_s']:.3f} s, "
              f"per request {o['request_cpu_ms']:.4f} / {e['request_cpu_ms']:.4f} ms (ours / earlier)", flush=True)
    print("\n| | ours | earlier | ours / earlier (median of rounds) |\n|---|---:|---:|---:|")
    for figure, label, fmt in (("start_cpu_s", "start: import main + model load, CPU (s)", "{:.3f}"),
                               ("request_cpu_ms", "per request through main.score, CPU (ms)", "{:.4f}")):
        ours = statistics.median(r[figure] for r in runs["ours"])
        earlier = statistics.median(r[figure] for r in runs["earlier"])
        ratio = statistics.median(o[figure] / e[figure] for o, e in zip(runs["ours"], runs["earlier"]))
        ratios = sorted(o[figure] / e[figure] for o, e in zip(runs["ours"], runs["earlier"]))
        print(f"| {label} | {fmt.format(ours)} | {fmt.format(earlier)} | {ratio:.3f} "
              f"(range {ratios[0]:.3f}–{ratios[-1]:.3f}) |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
