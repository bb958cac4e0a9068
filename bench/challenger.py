"""Champion/challenger benchmark: the `score` function without and with a challenger, and
main's code, side by side, with bench/serving.py's measurements.

    .venv/bin/python bench/challenger.py [--rows 50000] [--rounds 5] [--main-ref main]

1. In a subprocess (so this client never imports pandas or onnxruntime): synthetic data, a
   champion version and a challenger version (XGBoost with other depth and rounds) in one
   temp model store; current.json names the champion.
2. Three services from deployed copies (compiled, in bench/serving.py's functions virtualenv):
   `main` (main's `functions/`, from `git archive`), `champion` (this code, no challenger)
   and `challenger` (this code, MODEL_CHALLENGER_VERSION set). Each round starts each of
   them (order rotating) and measures, as bench/serving.py does: cold start (Popen to the
   first 200), memory after warm-up, sequential latency, and at concurrency 8 the throughput
   and the server's CPU time per request. With a challenger, the load test starts only once
   `GET /` reports it ready (it loads after the first 200, in the background).
3. In a fresh interpreter: the CPU time of one shadow decision (the challenger's PD graph and
   its decision columns for one request), the bound the per-request CPU may grow by.
4. Prints a markdown table of medians and paired ratios (challenger / champion and
   champion / main, per round) and writes bench/out/challenger.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))

from procmem import tree_memory  # noqa: E402
from serving import (  # noqa: E402
    BODIES, GOOD, OUT, PYTHON, Running, Service, deployed_copy, functions_venv, load, machine, mib, sequential,
)

PREPARE = """
import json, sys
from pathlib import Path
sys.path.insert(0, {root!r})
from riskscore.contract import bundle
from riskscore.io.store import LocalStore
from training.data.spec import load_spec
from training.data.synthetic import generate
from training.train import train
out = Path({out!r})
raw = generate(rows={rows}, seed={seed})
spec = load_spec({spec!r})
store = LocalStore(out / "store")
quiet = lambda *a, **k: None
champion = train(spec, raw, store, log=quiet).manifest["version"]
challenger = train(spec, raw, store, log=quiet, force=True,
                   pd_overrides={{"xgboost": {{"max_depth": 3, "n_estimators": 200}}}}).manifest["version"]
bundle.set_current(store, spec.name, champion)
print(json.dumps({{"store": str(out / "store"), "model_name": spec.name, "champion": champion,
                  "challenger": challenger}}))
"""

# In a fresh interpreter with both loaded: the CPU time of the champion's decision for one
# request (Scorer.score) and of one shadow decision, in alternating blocks (the median block
# of each): the machine's other load moves these far less than a server's figures.
SHADOW_CPU = """
import json, statistics, time
from riskscore.model.challenger import Challenger
from riskscore.model.scorer import Scorer
from riskscore.settings import ScoreSettings
s = ScoreSettings.from_env()
scorer, c = Scorer(s), Challenger(s)
scorer.load(); c.load()
features = {good!r}
def per_call(fn, n=1000):
    t = time.process_time()
    for _ in range(n):
        fn(features)
    return (time.process_time() - t) * 1000 / n
per_call(scorer.score); per_call(c.shadow)
blocks = {{"champion": [], "shadow": []}}
for _ in range(15):
    blocks["champion"].append(per_call(scorer.score))
    blocks["shadow"].append(per_call(c.shadow))
print(json.dumps({{"champion_cpu_ms": statistics.median(blocks["champion"]),
                  "shadow_cpu_ms": statistics.median(blocks["shadow"])}}))
"""

KEYS = [  # key, label, format
    ("cold_start_s", "cold start: Popen to first 200 (s)", "{:.3f}"),
    ("unique_mib", "distinct resident pages after warm-up (MiB)", "{:.1f}"),
    ("seq_p50_ms", "sequential latency p50 (ms)", "{:.2f}"),
    ("load_rps", "throughput at concurrency 8 (req/s)", "{:.0f}"),
    ("load_server_cpu_ms", "server CPU time per request at concurrency 8 (ms)", "{:.3f}"),
]


def challenger_ready(port: int, timeout_s: float = 120.0) -> float:
    """Seconds until GET / reports the challenger ready (after the first 200)."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout_s:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as r:
            if (json.loads(r.read()).get("challenger") or {}).get("status") == "ready":
                return time.perf_counter() - started
        time.sleep(0.05)
    raise RuntimeError("the challenger did not load")


def measure(service: Service, args, log_dir: Path, label: str) -> dict:
    server = Running(service, log_dir / f"{service.key}-{label}.log")
    try:
        ready = server.wait_ready()
        shadow_ready_s = challenger_ready(server.port) if service.key == "challenger" else None
        warm = sequential(server.port, args.warmup)
        mem = tree_memory(server.proc.pid)
        seq = sequential(server.port, args.requests)
        conc = load(server.port, 8, args.load_requests, server.proc.pid)
    finally:
        server.stop()
    return {"cold_start_s": ready["cold_start_s"], "challenger_ready_after_first_200_s": shadow_ready_s,
            "unique_mib": mib(mem["unique_kib"]), "seq_p50_ms": seq["p50_ms"], "load_rps": conc["rps"],
            "load_server_cpu_ms": conc["server_cpu_ms"], "errors": warm["errors"] + seq["errors"] + conc["errors"]}


def ratios(a: list[dict], b: list[dict]) -> dict:
    """Median over rounds of a / b taken within each round."""
    return {key: statistics.median(x[key] / y[key] for x, y in zip(a, b)) for key, *_ in KEYS}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--load-requests", type=int, default=1200)
    parser.add_argument("--main-ref", default="main", help="git ref of the code measured as `main`")
    parser.add_argument("--functions-venv", type=Path, default=OUT / "venv-functions")
    parser.add_argument("--out", type=Path, default=OUT / "challenger.json")
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="bench-challenger-"))
    print(f"preparing data, champion and challenger in {work}", flush=True)
    prepared = json.loads(subprocess.run(
        [PYTHON, "-c", PREPARE.format(root=str(ROOT / "functions"), out=str(work), rows=args.rows, seed=args.seed,
                                      spec=str(ROOT / "training" / "specs" / "credit_default.yaml"))],
        cwd=ROOT, check=True, capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=f"{ROOT}:{ROOT}/functions"),
    ).stdout.strip().splitlines()[-1])
    venv = functions_venv(args.functions_venv.resolve())
    python = str(venv / "bin" / "python")
    main_src = work / "main-archive"
    main_src.mkdir()
    archive = subprocess.run(["git", "archive", args.main_ref, "functions"], cwd=ROOT, check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(main_src)], input=archive, check=True)
    base = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "MODEL_CHALLENGER_VERSION")}
    env = dict(base, MODEL_STORE=prepared["store"], MODEL_NAME=prepared["model_name"])
    argv_ = [str(venv / "bin" / "functions-framework"), "--target", "score", "--host", "127.0.0.1", "--port", "{port}"]
    ours = deployed_copy(ROOT / "functions", work / "src-ours", True, python)
    services = [
        Service("main", f"score function, {args.main_ref}'s code",
                deployed_copy(main_src / "functions", work / "src-main", True, python), env, argv_, python),
        Service("champion", "score function, this code, no challenger", ours, env, argv_, python),
        Service("challenger", "score function, this code, MODEL_CHALLENGER_VERSION set", ours,
                dict(env, MODEL_CHALLENGER_VERSION=prepared["challenger"]), argv_, python),
    ]
    for s in services:  # unmeasured first start: page cache
        server = Running(s, work / f"{s.key}-prime.log")
        try:
            server.wait_ready()
        finally:
            server.stop()
    runs: dict[str, list[dict]] = {s.key: [] for s in services}
    for i in range(args.rounds):
        for s in services[i % 3:] + services[:i % 3]:
            r = measure(s, args, work, f"round{i + 1}")
            runs[s.key].append(r)
            print(f"round {i + 1} {s.key:10s} cold {r['cold_start_s']:.3f}s  cpu/req {r['load_server_cpu_ms']:.3f} ms  "
                  f"{r['load_rps']:.0f} req/s  errors {r['errors']}", flush=True)
    shadow = json.loads(subprocess.run(
        [python, "-c", SHADOW_CPU.format(good=GOOD)], cwd=ours, check=True, capture_output=True, text=True,
        env=dict(env, MODEL_CHALLENGER_VERSION=prepared["challenger"])).stdout.strip().splitlines()[-1])
    medians = {k: {key: statistics.median(r[key] for r in v) for key, *_ in KEYS} for k, v in runs.items()}
    result = {"date": datetime.now(timezone.utc).date().isoformat(),
              "command": ".venv/bin/python bench/challenger.py" + "".join(f" {shlex.quote(a)}" for a in sys.argv[1:]),
              "machine": machine(), "prepared": prepared, "runs": runs, "medians": medians,
              "ratios": {"challenger_over_champion": ratios(runs["challenger"], runs["champion"]),
                         "champion_over_main": ratios(runs["champion"], runs["main"])},
              "shadow_cpu_ms": shadow["shadow_cpu_ms"], "champion_decision_cpu_ms": shadow["champion_cpu_ms"],
              "cpu_growth_ms": medians["challenger"]["load_server_cpu_ms"] - medians["champion"]["load_server_cpu_ms"]}
    lines = ["| figure (median of rounds) | main | champion only | with challenger | challenger / champion |"
             " champion / main |", "|---|---|---|---|---|---|"]
    for key, label, fmt in KEYS:
        lines.append(f"| {label} | {fmt.format(medians['main'][key])} | {fmt.format(medians['champion'][key])} | "
                     f"{fmt.format(medians['challenger'][key])} | "
                     f"{result['ratios']['challenger_over_champion'][key]:.3f} | "
                     f"{result['ratios']['champion_over_main'][key]:.3f} |")
    lines.append(f"\nserver CPU per request grows by {result['cpu_growth_ms']:.3f} ms (medians of the rounds); "
                 f"in one interpreter, the champion's decision costs {shadow['champion_cpu_ms']:.3f} ms of CPU "
                 f"and one shadow decision (the challenger's PD graph and decision columns) "
                 f"{shadow['shadow_cpu_ms']:.3f} ms")
    print("\n".join(lines))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    args.out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
