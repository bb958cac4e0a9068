#!/bin/sh
# Two checkouts side by side, in one run: the score function's cold start and throughput at
# concurrency 8, batch scoring rows/s and training time (the figures a refactor must not make
# worse). Prints new / base ratios, the median of pairs run back to back in alternating order.
#
#   bench/compare_commits.sh BASE_DIR NEW_DIR [WORK_DIR]
#   e.g.  git worktree add /work/wt/bench-base 0d8ead5
#         bench/compare_commits.sh /work/wt/bench-base "$PWD"
#
# The harness is BASE's bench/serving.py and bench/batch.py (frozen: the measuring code is the
# same for both sides); each side's code runs only through its entry points: functions-framework
# --target score, python -m riskscore.batch, and its own bench/training.py. One model bundle,
# trained once by BASE (bench/prepare_models.py), is served and batch-scored by both sides, so
# only the code differs. Sizes (environment): ROUNDS=5 REQUESTS=500 LOAD_REQUESTS=1200
# BATCH_ROWS=5000000 BATCH_ROUNDS=2 TRAIN_ROWS=200000 TRAIN_RUNS=3; 0 skips a part.
# PY is the development interpreter; FUNCTIONS_VENV a virtualenv of functions/requirements.txt
# alone (the score function runs in it, as deployed; created from BASE's when missing). Each
# side's server and training run once unmeasured first. Writes WORK_DIR/compare.json.
set -eu
[ $# -ge 2 ] || { sed -n '2,8p' "$0"; exit 2; }
BASE=$(cd "$1" && pwd)
NEW=$(cd "$2" && pwd)
WORK=${3:-/tmp/compare-commits}
PY=${PY:-/work/main/.venv/bin/python}
FUNCTIONS_VENV=${FUNCTIONS_VENV:-/work/wt/bench-venvs/functions}
cmp -s "$BASE/functions/requirements.txt" "$NEW/functions/requirements.txt" ||
    echo "note: functions/requirements.txt differs between the two; both run in $FUNCTIONS_VENV"
mkdir -p "$WORK"
[ -x "$FUNCTIONS_VENV/bin/functions-framework" ] || { "$PY" -m venv "$FUNCTIONS_VENV" &&
    "$FUNCTIONS_VENV/bin/python" -m pip install --quiet -r "$BASE/functions/requirements.txt"; }
# The editable install in .venv maps riskscore and training to /work/main: every process
# gets its own side's tree first on the path, or none (then it imports from its cwd).
[ -f "$WORK/prepared.json" ] ||
    PYTHONPATH="$BASE:$BASE/functions" "$PY" "$BASE/bench/prepare_models.py" --dir "$WORK" --rows 50000 >/dev/null
export BASE NEW WORK FUNCTIONS_VENV
exec env -u PYTHONPATH "$PY" - <<'EOF'
import json, os, re, shutil, statistics, sys
from pathlib import Path
from types import SimpleNamespace as NS

E = os.environ
BASE, NEW, WORK, VENV = Path(E["BASE"]), Path(E["NEW"]), Path(E["WORK"]), Path(E["FUNCTIONS_VENV"])
size = lambda name, default: int(E.get(name, default))
sys.path.insert(0, str(BASE / "bench"))
import batch, serving  # noqa: E402  (BASE's harness)

sides = {"base": BASE, "new": NEW}
prepared = json.loads((WORK / "prepared.json").read_text())
runs = {k: [] for k in sides}
env = {k: v for k, v in E.items() if k != "PYTHONPATH"}

def alternate(rounds, measure):
    for i in range(rounds):
        for key in (list(sides) if i % 2 == 0 else list(sides)[::-1]):
            runs[key].append(measure(key, sides[key], i))

rounds = size("ROUNDS", 5)
if rounds:
    python = str(VENV / "bin" / "python")
    for k in sides:
        shutil.rmtree(WORK / f"src-{k}", ignore_errors=True)
    svc = {k: serving.Service(k, f"score function, {d}",
                              serving.deployed_copy(d / "functions", WORK / f"src-{k}", True, python),
                              dict(env, MODEL_STORE=prepared["ours"]["store"],
                                   MODEL_NAME=prepared["ours"]["model_name"]),
                              [str(VENV / "bin" / "functions-framework"), "--target", "score",
                               "--host", "127.0.0.1", "--port", "{port}"], python)
           for k, d in sides.items()}
    args = NS(warmup=100, requests=size("REQUESTS", 500), concurrency=8, load_requests=size("LOAD_REQUESTS", 1200))
    for k, s in svc.items():  # unmeasured first start: page cache
        r = serving.Running(s, WORK / f"{k}-prime.log"); r.wait_ready(); r.stop()
    def serve(key, _dir, i):
        m = serving.measure(svc[key], args, WORK, f"round{i + 1}")
        print(f"serving round {i + 1} {key}: cold {m['cold_start_s']:.3f}s  {m['load_rps']:.0f} req/s  "
              f"errors {m['errors']}", flush=True)
        return m
    alternate(rounds, serve)

rows, batch_rounds = size("BATCH_ROWS", 5_000_000), size("BATCH_ROUNDS", 2)
if rows and batch_rounds:
    data = WORK / f"data{rows}.parquet"
    batch.make_data(data, rows)
    def score_rows(key, d, i):
        m = batch.timed([sys.executable, "-m", "riskscore.batch", "--input", str(data), "--output",
                         str(WORK / f"out-{key}"), "--run-date", "2026-11-22", "--model-store",
                         prepared["ours"]["store"], "--quiet"], cwd=d / "functions")
        m.pop("stdout")
        m.update(batch_rows_per_s=rows / m.pop("wall_s"), batch_rows_per_cpu_s=rows / m.pop("cpu_s"),
                 batch_peak_rss_mib=m.pop("peak_rss_mib"))
        print(f"batch round {i + 1} {key}: {m['batch_rows_per_s']:,.0f} rows/s", flush=True)
        return m
    alternate(batch_rounds, score_rows)

train_rows, train_runs = size("TRAIN_ROWS", 200_000), size("TRAIN_RUNS", 3)
if train_rows and train_runs:
    def run_training(d, rows):  # the side's own bench script, its own tree first on the path
        os.environ["PYTHONPATH"] = f"{d}:{d / 'functions'}"
        try:
            return batch.timed([sys.executable, str(d / "bench" / "training.py"), "--rows", str(rows)], cwd=d)
        finally:
            del os.environ["PYTHONPATH"]
    def train(key, d, i):
        m = run_training(d, train_rows)
        total = re.search(r"train\(\) total\*\* \| \*\*([\d.]+)", m["stdout"])  # its table's total row
        m = {"train_s": float(total.group(1)) if total else None, "train_process_s": m["wall_s"]}
        print(f"training run {i + 1} {key}: train() {m['train_s']}s, process {m['train_process_s']:.1f}s", flush=True)
        return m
    for d in sides.values():  # unmeasured first run of each, as the serving part primes
        run_training(d, min(train_rows, 20_000))
    alternate(train_runs, train)

# key, label, lower is better
FIGURES = [("cold_start_s", "cold start, Popen to first 200 (s)", True),
           ("cold_start_cpu_s", "CPU until the first 200 (s)", True),
           ("load_rps", "throughput at concurrency 8 (req/s)", False),
           ("load_server_cpu_ms", "server CPU per request at c=8 (ms)", True),
           ("unique_mib", "distinct resident pages after warm-up (MiB)", True),
           ("batch_rows_per_s", f"batch {rows:,} rows, rows/s (wall)", False),
           ("batch_rows_per_cpu_s", "batch rows per CPU-second", False),
           ("batch_peak_rss_mib", "batch peak RSS (MiB)", True),
           ("train_s", f"training {train_rows:,} rows, train() total (s)", True),
           ("train_process_s", "training, the whole bench/training.py process (s)", True)]
print(f"\nbase {BASE}\nnew  {NEW}\n\n| figure | base | new | new / base, median of pairs [min–max] | better is |\n"
      "|---|---:|---:|---:|---|")
summary = {}
for key, label, lower in FIGURES:
    pairs = [(b[key], n[key]) for b, n in zip(runs["base"], runs["new"]) if b.get(key) and n.get(key)]
    if not pairs:
        continue
    ratios = [n / b for b, n in pairs]
    med = statistics.median
    summary[key] = {"base": med(b for b, _ in pairs), "new": med(n for _, n in pairs), "ratio": med(ratios),
                    "min": min(ratios), "max": max(ratios), "pairs": len(pairs)}
    s = summary[key]
    print(f"| {label} | {s['base']:,.3f} | {s['new']:,.3f} | **{s['ratio']:.2f}** [{s['min']:.2f}–{s['max']:.2f}] "
          f"| {'lower' if lower else 'higher'} |")
errors = sum(r.get("errors", 0) for rs in runs.values() for r in rs)
print(f"\nfailed requests: {errors}; load average now {os.getloadavg()[0]:.1f}")
(WORK / "compare.json").write_text(json.dumps({"base": str(BASE), "new": str(NEW), "runs": runs,
                                               "summary": summary}, indent=2, default=str))
sys.exit(1 if errors else 0)
EOF
