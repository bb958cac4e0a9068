"""Benchmark: batch scoring, Parquet to Parquet, our `python -m riskscore.batch` next to the
conventional pandas + joblib job (bench/alternative/batch_job.py), in one run; then the PD
graph alone against native XGBoost `inplace_predict` on the same trees; then BigQuery to
BigQuery against the emulator.

    .venv/bin/python bench/batch.py --dir /tmp/bench-batch [--rows 5000000] [--rounds 2] [--bq-rows 200000]
        [--before OLD/functions [--before-store OLD_STORE]]   # earlier code in every round too

Each job runs in its own process (peak RSS from wait4), alternating the order per round;
the 1-minute load average is recorded next to each run (the machine is shared).
Targets (batch issue): >= 150,000 rows/s end to end, peak RSS <= 1 GB, >= 2x the alternative.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable


def timed(cmd: list[str], cwd: Path = ROOT) -> dict:
    """Run `cmd`; wall seconds, peak RSS (MiB) from wait4, load average at the start."""
    load = os.getloadavg()[0]
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out = proc.stdout.read()
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"{cmd} failed ({proc.returncode}):\n{out}\n{err}")
    return {"wall_s": time.perf_counter() - started, "peak_rss_mib": usage.ru_maxrss / 1024,
            "cpu_s": usage.ru_utime + usage.ru_stime, "load_1m": load, "stdout": out}


def make_data(path: Path, rows: int) -> None:
    """`rows` synthetic applicants (1M per seed), unique ids, 250k-row row groups."""
    if path.exists() and __import__("pyarrow.parquet").parquet.ParquetFile(path).metadata.num_rows == rows:
        return
    code = f"""
import sys; sys.path.insert(0, {str(ROOT)!r})
import pyarrow as pa, pyarrow.parquet as pq
from training.data.synthetic import generate
writer, left, k = None, {rows}, 0
while left:
    n = min(left, 1_000_000)
    df = generate(n, 100 + k)
    df['applicant_id'] = [f'B{{k:02d}}{{i:07d}}' for i in range(n)]
    t = pa.Table.from_pandas(df, preserve_index=False)
    writer = writer or pq.ParquetWriter({str(path)!r}, t.schema)
    writer.write_table(t, row_group_size=250_000)
    left -= n; k += 1
writer.close()
"""
    subprocess.run([PY, "-c", code], check=True)


def prepare(work: Path) -> dict:
    if not (work / "prepared.json").exists():
        subprocess.run([PY, str(ROOT / "bench" / "prepare_models.py"), "--dir", str(work), "--rows", "50000"], check=True)
    if not (work / "alternative_batch.joblib").exists():
        subprocess.run([PY, str(ROOT / "bench" / "alternative" / "batch_job.py"), "train", "--data", str(work / "data.parquet"),
                        "--pipeline", str(work / "alternative.joblib"), "--out", str(work / "alternative_batch.joblib")],
                       check=True)
    return json.loads((work / "prepared.json").read_text())


def end_to_end(work: Path, data: Path, rows: int, rounds: int, before: Path | None = None,
               before_store: Path | None = None) -> list[dict]:
    def batch_job(store: Path, out: str) -> list[str]:
        return [PY, "-m", "riskscore.batch", "--input", str(data), "--output", str(work / out),
                "--run-date", "2026-11-22", "--model-store", str(store), "--quiet"]

    jobs = [("ours", batch_job(work / "store", "out_ours"), ROOT / "functions"),
            ("alternative", [PY, str(ROOT / "bench" / "alternative" / "batch_job.py"), "run", "--models",
                             str(work / "alternative_batch.joblib"), "--input", str(data), "--output",
                             str(work / "out_alt")], ROOT / "functions")]
    if before:  # earlier code (a functions/ folder), with its own store if given
        jobs.append(("before", batch_job(before_store or work / "store", "out_before"), before))
    results = []
    for r in range(rounds):
        for name, cmd, cwd in (jobs if r % 2 == 0 else jobs[::-1]):
            m = timed(cmd, cwd=cwd)
            m.update(round=r + 1, job=name, rows=rows, rows_per_s=rows / m["wall_s"])
            m.pop("stdout")
            m["rows_per_cpu_s"] = rows / m["cpu_s"]
            print(f"  round {r + 1} {name:12s} {m['rows_per_s']:>10,.0f} rows/s  {m['rows_per_cpu_s']:>10,.0f} rows/CPU-s"
                  f"  CPU {m['cpu_s'] / m['wall_s']:.2f} cores  peak RSS {m['peak_rss_mib']:,.0f} MiB"
                  f"  load {m['load_1m']:.1f}", flush=True)
            results.append(m)
    return results


PD_ONLY = """
import json, sys, time
from concurrent.futures import ThreadPoolExecutor
sys.path.insert(0, {root!r}); sys.path.insert(0, {root!r} + '/functions')
import numpy as np, pandas as pd, onnxruntime as ort, pyarrow.parquet as pq, xgboost as xgb
from training.data.spec import load_spec, check_data
from training.data.split import split_frame
from training.models.pd.booster import PDModel
from training.models.pd.family import boosting_params
from training.onnx.run import onnx_inputs
spec = load_spec({root!r} + '/training/specs/credit_default.yaml')
df = check_data(spec, pd.read_parquet({train!r}))
parts = split_frame(df, spec.target, spec.split.valid_fraction, spec.split.test_fraction, date=spec.date, seed=spec.split.seed)
y = {{k: v[spec.target].to_numpy() for k, v in parts.items()}}
# The product's XGBoost candidate in the large regime, as training fits it.
model = PDModel(spec.features, boosting_params(spec, 'large'), seed=spec.split.seed).fit(parts['train'], y['train'], parts['valid'], y['valid'])
graph = model.to_onnx(spec.scaling)
X = pq.read_table({data!r}).slice(0, {rows}).to_pandas()
feeds = onnx_inputs(X, spec.features)
matrix = model.preprocessor_.transform(X)
booster = model._booster()
booster.set_param({{"nthread": 2}})
def session(threads):
    opts = ort.SessionOptions(); opts.intra_op_num_threads = threads; opts.inter_op_num_threads = 1
    return ort.InferenceSession(graph.SerializeToString(), sess_options=opts, providers=['CPUExecutionProvider'])
two, one = session(2), session(1)
half = len(X) // 2
halves = [{{k: v[:half] for k, v in feeds.items()}}, {{k: v[half:] for k, v in feeds.items()}}]
pool = ThreadPoolExecutor(2)
def two_chunks():  # as batch scoring runs it: one intra-op thread, two chunks at once
    list(pool.map(lambda f: one.run(None, f), halves))
runs = (('onnx_pd_graph_2_threads', lambda: two.run(None, feeds)),
        ('onnx_pd_graph_2_chunks', two_chunks),
        ('xgboost_inplace_predict', lambda: booster.inplace_predict(matrix)),
        ('xgboost_approx_contribs', lambda: booster.predict(xgb.DMatrix(matrix, nthread=2), pred_contribs=True, approx_contribs=True)))
out = {{}}
for r in range(3):
    for name, fn in runs:
        t = time.perf_counter(); fn(); out.setdefault(name, []).append(len(X) / (time.perf_counter() - t))
print(json.dumps({{k: sorted(v)[1] for k, v in out.items()}} | {{"trees": int(model.best_iteration_ + 1), "rows": len(X)}}))
"""


def pd_only(work: Path, data: Path, rows: int) -> dict:
    code = PD_ONLY.format(root=str(ROOT), train=str(work / "data.parquet"), data=str(data), rows=rows)
    m = timed([PY, "-c", code])
    return json.loads(m["stdout"].strip().splitlines()[-1]) | {"load_1m": m["load_1m"]}


def bigquery(work: Path, data: Path, rows: int) -> dict:
    """BigQuery -> BigQuery through the emulator (started as tests/support/emulators.py starts it)."""
    sys.path.insert(0, str(ROOT / "tests"))
    sys.path.insert(0, str(ROOT / "functions"))
    import conftest  # the emulator's offline start lives there, once
    import pyarrow.parquet as pq
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import bigquery as bqlib

    import riskscore.io.bq
    from riskscore.batch.model import PinnedModels
    from riskscore.batch.run import run
    from riskscore.settings import BatchSettings

    home = Path(tempfile.mkdtemp(prefix="bench-bq-"))
    conftest._bq_emulator_home(home)
    process, rest, grpc_port = conftest._start_bq_emulator(home, home / "bqemulator.log")
    if process is None:
        return {"error": "the emulator did not start"}
    try:
        import grpc
        from google.cloud.bigquery_storage_v1 import BigQueryReadClient
        from google.cloud.bigquery_storage_v1.services.big_query_read.transports import BigQueryReadGrpcTransport

        def client():
            return bqlib.Client(project="test-project", credentials=AnonymousCredentials(),
                                client_options=ClientOptions(api_endpoint=f"http://127.0.0.1:{rest}"))

        riskscore.io.bq.bigquery_client = lambda project=None: client()
        # No 4 MiB cap on a message (the emulator sends large pages; Google's transport sets -1 too).
        channel = grpc.insecure_channel(f"127.0.0.1:{grpc_port}", options=[("grpc.max_receive_message_length", -1)])
        riskscore.io.bq.bigquery_read_client = lambda: BigQueryReadClient(
            transport=BigQueryReadGrpcTransport(channel=channel))
        client().create_dataset("test-project.bench")
        table = pq.read_table(data).slice(0, rows).drop_columns(["application_date"])
        buf = io.BytesIO()
        pq.write_table(table, buf)
        buf.seek(0)
        schema = [bqlib.SchemaField(f.name, "STRING" if str(f.type) in ("string", "large_string") else
                                    "INTEGER" if str(f.type) == "int64" else "FLOAT") for f in table.schema]
        client().load_table_from_file(buf, "test-project.bench.applicants",
                                      job_config=bqlib.LoadJobConfig(source_format="PARQUET", schema=schema)).result()
        settings = BatchSettings(model_store=str(work / "store"))
        model = PinnedModels(settings).pin()
        from datetime import date
        load = os.getloadavg()[0]
        summary = run("bq://test-project.bench.applicants", "bq://test-project.bench.batch_scores", date(2026, 11, 22),
                      model, settings)
        return summary | {"load_1m": load}
    finally:
        conftest._stop_process(process)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", type=Path, required=True)
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--pd-rows", type=int, default=1_000_000)
    parser.add_argument("--bq-rows", type=int, default=200_000)
    parser.add_argument("--before", type=Path, help="a functions/ folder of earlier code, run in every round too")
    parser.add_argument("--before-store", type=Path, help="the model store the earlier code runs (default: ours)")
    args = parser.parse_args(argv)
    args.dir.mkdir(parents=True, exist_ok=True)
    prepared = prepare(args.dir)
    data = args.dir / f"data{args.rows}.parquet"
    make_data(data, args.rows)
    print(f"## Batch scoring ({time.strftime('%Y-%m-%d %H:%M')} UTC, {os.cpu_count()} cores)", flush=True)
    out = ROOT / "bench" / "out"
    out.mkdir(exist_ok=True)
    report = {"prepared": prepared}

    def save():
        (out / "batch.json").write_text(json.dumps(report, indent=2, default=str))

    if args.rounds:
        report["end_to_end"] = end_to_end(args.dir, data, args.rows, args.rounds, args.before, args.before_store)
        save()
    if args.pd_rows:
        report["pd_only"] = pd_only(args.dir, data, args.pd_rows)
        print("  PD graph alone:", report["pd_only"], flush=True)
        save()
    if args.bq_rows:
        report["bigquery"] = bigquery(args.dir, data, args.bq_rows)
        print("  BigQuery -> BigQuery (emulator):", report["bigquery"], flush=True)
        save()
    return 0


if __name__ == "__main__":
    sys.exit(main())
