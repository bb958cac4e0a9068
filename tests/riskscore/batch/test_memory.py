"""A real `functions-framework` server running `batch_score`: a 1,000,000-row input is
scored with the same peak memory as a 100,000-row one (streamed in chunks)."""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from support.server import function_server

REPO = Path(__file__).resolve().parents[3]
pytestmark = pytest.mark.slow


def _tree(pid: int) -> list[int]:
    """`pid` and its descendants (gunicorn's master and its worker)."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += children.get(p, [])
    return out


def _peak_rss_mib(pid: int) -> float:
    """The largest peak resident set (VmHWM) among the server's processes."""
    peaks = []
    for p in _tree(pid):
        try:
            status = Path(f"/proc/{p}/status").read_text()
        except OSError:
            continue
        peaks += [int(line.split()[1]) / 1024 for line in status.splitlines() if line.startswith("VmHWM:")]
    return max(peaks)


@pytest.fixture(scope="module")
def big_inputs(tmp_path_factory, small_data):
    """100k and 1M rows: small_data repeated (ids made unique), written in 100k-row groups."""
    folder = tmp_path_factory.mktemp("big")
    base = small_data.drop(columns=["application_date"])
    block = pa.Table.from_pandas(base.loc[base.index.repeat(17)].head(100_000).reset_index(drop=True),
                                 preserve_index=False)
    paths = {}
    for rows in (100_000, 1_000_000):
        path = folder / f"rows{rows}.parquet"
        with pq.ParquetWriter(path, block.schema) as writer:
            for k in range(rows // 100_000):
                ids = pa.array([f"R{k:02d}{i:06d}" for i in range(block.num_rows)],
                               type=block.schema.field("applicant_id").type)  # large_string from pandas 3
                writer.write_table(block.set_column(block.schema.get_field_index("applicant_id"), "applicant_id", ids))
        paths[rows] = path
    return paths


@pytest.fixture(scope="module")
def batch_server(trained_store, tmp_path_factory):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODEL_", "BATCH_", "ORT_"))}
    # Local paths are confined to LOCAL_ROOT: the inputs and outputs live under pytest's temp root.
    env.update(MODEL_STORE=str(trained_store.path), PYTHONUNBUFFERED="1",
               LOCAL_ROOT=str(tmp_path_factory.getbasetemp()))
    log_path = tmp_path_factory.mktemp("batch_server") / "functions-framework.log"
    # Up when GET answers 405: batch_score takes POST only.
    with function_server("batch_score", env, log_path, timeout_s=60, ready_status=405) as srv:
        yield srv.session, srv.url, srv.proc.pid


def test_a_million_rows_stream_in_flat_memory(batch_server, big_inputs, tmp_path):
    session, url, pid = batch_server
    peaks = {}
    for rows, path in sorted(big_inputs.items()):
        reply = session.post(url, json={"input": str(path), "output": str(tmp_path / f"out{rows}"),
                                        "run_date": "2026-11-20"}, timeout=900)
        assert reply.status_code == 200, reply.text
        body = reply.json()
        assert body["rows_in"] == body["rows_scored"] == rows
        peaks[rows] = _peak_rss_mib(pid)
        assert pq.ParquetFile(tmp_path / f"out{rows}" / "run_date=2026-11-20" / "scores.parquet").metadata.num_rows == rows
    # Ten times the rows, the same memory: the 1M-row run may not raise the peak by more than
    # a chunk's worth of buffers.
    assert peaks[1_000_000] - peaks[100_000] < 96, peaks
    assert peaks[1_000_000] < 1024, peaks
