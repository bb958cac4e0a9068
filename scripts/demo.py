"""`make demo`: generate data, train, serve the score function locally, score two applicants.

Everything runs from the project's own files; the server is always stopped at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = {
    "good": {"revolving_utilization": 0.35, "age": 42, "late_30_59": 1, "late_60_89": 0, "late_90_plus": 0,
             "debt_ratio": 0.25, "monthly_income": 5500, "open_credit_lines": 6, "real_estate_loans": 1,
             "dependents": 2},
    "bad": {"revolving_utilization": 0.98, "age": 22, "late_30_59": 3, "late_60_89": 2, "late_90_plus": 4,
            "debt_ratio": 1.00, "monthly_income": 1500, "open_credit_lines": 12, "real_estate_loans": 0,
            "dependents": 3},
}


def run(*args: str) -> None:
    print(f"\n$ python {' '.join(args)}", flush=True)
    subprocess.run([sys.executable, *args], cwd=ROOT, check=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post(url: str, body: dict) -> tuple[int, dict]:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def wait_ready(url: str, proc: subprocess.Popen, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the score function exited with code {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except urllib.error.HTTPError:
            return  # any HTTP answer means the server is up
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"the score function did not answer within {timeout_s}s")


def next_steps(store: Path, model: str = "credit_default") -> str:
    """What to open and run after the demo: the model card's path, the serve command, the
    console's address (the card of the version the demo made current)."""
    version = json.loads((store / model / "current.json").read_text())["version"]
    card = store / model / version / "model_card.html"
    shown = card.relative_to(ROOT) if card.is_relative_to(ROOT) else card
    return "\n".join([
        "",
        f"model card:       {shown}  (open it in a browser)",
        f"serve the model:  make serve  (MODEL_STORE={store} MODEL_NAME={model}, port 8080)",
        "open the console: http://127.0.0.1:8080/ in a browser, while `make serve` runs; the model card is "
        "at http://127.0.0.1:8080/?view=model-card",
        "score from a shell: curl -s -X POST http://127.0.0.1:8080/ -H 'Content-Type: application/json' "
        "-d '" + json.dumps({"features": EXAMPLES["good"]}) + "'",
    ])


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--store", default="models")
    args = parser.parse_args()

    data = "data/credit.parquet"
    run("-m", "training", "generate", "--rows", str(args.rows), "--seed", "7", "--out", data)
    run("-m", "training", "train", "--spec", "training/specs/credit_default.yaml", "--data", data,
        "--store", args.store)

    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    store = ROOT / args.store  # (an absolute --store stays as it is)
    env = dict(os.environ, MODEL_STORE=str(store), MODEL_NAME="credit_default")
    server_log = ROOT / "data" / "score-function.log"
    print(f"\nstarting the score function on {url} (its output, the prediction log, goes to {server_log})",
          flush=True)
    with open(server_log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "functions_framework", "--target", "score",
                                 "--source", str(ROOT / "functions" / "main.py"), "--host", "127.0.0.1",
                                 "--port", str(port)], cwd=ROOT / "functions", env=env,
                                stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_ready(url, proc)
        results = {}
        for name, features in EXAMPLES.items():
            status, body = post(url, {"applicant_id": f"demo-{name}", "features": features})
            print(f"\n{name} applicant -> HTTP {status}\n{json.dumps(body, indent=2)}", flush=True)
            if status != 200:
                return 1
            results[name] = body
        if not results["good"]["pd"] < results["bad"]["pd"]:
            print("unexpected: the good applicant does not get the lower PD", file=sys.stderr)
            return 1
        print(f"\ngood PD {results['good']['pd']:.3f} ({results['good']['rating']}) vs "
              f"bad PD {results['bad']['pd']:.3f} ({results['bad']['rating']})")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        records = sum(1 for line in server_log.read_text().splitlines() if '"log_type":"prediction"' in line)
        print(f"score function stopped (exit code {proc.returncode}); {records} prediction records in {server_log}")
    print(next_steps(store))
    return 0


if __name__ == "__main__":
    sys.exit(main())
