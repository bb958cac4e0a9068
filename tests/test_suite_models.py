"""LGD and segment models, the ONNX pitfalls the parity check must catch, reason codes, and the
training-runs record."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from onnx import helper

from riskscore.errors import ExportVerificationError
from riskscore.model.reasons import MAX_REASONS
from training.lgd_model import LGDModel
from training.pd_model import run_onnx
from training.preprocess import RawPreprocessor
from training.runs_log import append_run, run_record
from training.segments import SegmentModel
from training.spec import check_data
from training.split import split_frame


@pytest.fixture(scope="module")
def parts(small_spec, small_data):
    df = check_data(small_spec, small_data)
    return split_frame(df, small_spec.target, small_spec.split.valid_fraction, small_spec.split.test_fraction,
                       date=small_spec.date)


@pytest.fixture(scope="module")
def pre(small_spec, parts):
    return RawPreprocessor(small_spec.features).fit(parts["train"])


@pytest.fixture(scope="module")
def lgd(pre, parts):
    d = {k: v[v["default"] == 1] for k, v in parts.items()}
    return LGDModel(pre, n_estimators=80).fit(d["train"], d["train"]["lgd"], d["valid"], d["valid"]["lgd"]), d


# --- LGD --------------------------------------------------------------------------------

def test_lgd_export_matches_xgboost_and_stays_in_unit_interval(lgd, parts):
    model, _ = lgd
    report = model.verify(model.to_onnx(), parts["test"])
    assert report["lgd_max_abs_diff"] <= 1e-5
    out = run_onnx(model.to_onnx(), model.preprocessor.features, parts["test"])["lgd"]
    assert out.min() >= 0 and out.max() <= 1
    assert out.std() > 0.01  # it learned something row-specific


def test_lgd_beats_the_mean_baseline(lgd):
    model, d = lgd
    m = model.metrics(d["test"], d["test"]["lgd"])
    assert m["mae"] < m["baseline_mae"] and m["rmse"] < m["baseline_rmse"]


def _drop_sigmoid(model: onnx.ModelProto) -> onnx.ModelProto:
    """What onnxmltools does to reg:logistic regressors (onnxmltools issue 646)."""
    g = model.graph
    sig = next(n for n in g.node if n.op_type == "Sigmoid")
    idx = list(g.node).index(sig)
    g.node.remove(sig)
    g.node.insert(idx, helper.make_node("Identity", list(sig.input), list(sig.output)))
    return model


def _base_score_as_margin(model: onnx.ModelProto) -> onnx.ModelProto:
    """Treat XGBoost 3's probability-space base_score as a margin (the 2.x/3.x confusion)."""
    node = next(n for n in model.graph.node if n.op_type == "TreeEnsembleRegressor")
    attr = next(a for a in node.attribute if a.name == "base_values")
    p = 1 / (1 + np.exp(-attr.floats[0]))
    attr.floats[0] = float(p)
    return model


@pytest.mark.parametrize("pitfall", [_drop_sigmoid, _base_score_as_margin], ids=["sigmoid dropped", "base_score"])
def test_parity_check_catches_known_export_pitfalls(lgd, parts, pitfall):
    model, _ = lgd
    broken = pitfall(model.to_onnx())
    with pytest.raises(ExportVerificationError, match="LGD ONNX export differs"):
        model.verify(broken, parts["test"])


# --- segments -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def segments(pre, parts):
    return SegmentModel(pre, k=4).fit(parts["train"], parts["train"]["default"])


def test_segments_match_kmeans_and_are_ordered_by_risk(segments, parts):
    onnx_model = segments.to_onnx()
    assert segments.verify(onnx_model, parts["test"])["segment_mismatches"] == 0
    seg = segments.predict(parts["train"])
    rates = [parts["train"]["default"].to_numpy()[seg == s].mean() for s in range(4)]
    assert rates == sorted(rates)


def test_segment_profiles(segments, parts):
    seg = segments.predict(parts["test"])
    pd_ = np.linspace(0, 1, len(seg))
    profiles = segments.profiles(seg, parts["test"]["default"], pd_, np.full(len(seg), 0.4))
    assert [p["id"] for p in profiles] == [0, 1, 2, 3]
    assert sum(p["size"] for p in profiles) == len(seg)
    for p in profiles:
        assert p["mean_pd"] == pytest.approx(pd_[seg == p["id"]].mean())
        assert p["name"] and ":" in p["name"]


def test_segment_distances_match_kmeans(segments, parts):
    report = segments.verify(segments.to_onnx(), parts["test"])
    assert report["distances_max_scaled_diff"] <= report["distance_tolerance"] == 1e-5
    out = run_onnx(segments.to_onnx(), segments.preprocessor.features, parts["test"])
    assert np.allclose(out["segment_distances"], segments.kmeans_.transform(segments._scaled(parts["test"])),
                       rtol=1e-5, atol=1e-5)


def test_segment_distance_tampering_is_caught(segments, parts):
    from onnx_helpers import tampered

    bad = tampered(segments.to_onnx(), "seg_Di_Divcst", lambda std: std * 1.001)  # the scaler's std
    with pytest.raises(ExportVerificationError, match="segment ONNX"):
        segments.verify(bad, parts["test"])


def test_segment_graph_tampering_is_caught(segments, parts):
    onnx_model = segments.to_onnx()
    init = next(i for i in onnx_model.graph.initializer if i.name == "seg_rank")
    init.CopyFrom(onnx.numpy_helper.from_array(np.roll(segments.rank_, 1), "seg_rank"))
    with pytest.raises(ExportVerificationError, match="different segment"):
        segments.verify(onnx_model, parts["test"])


# --- reason codes ---------------------------------------------------------------------------

def test_served_reasons_are_the_largest_contributions_of_the_pd_graph(trained_store, small_data, small_spec):
    from riskscore.model.feeds import dict_feeds
    from riskscore.model.sessions import Model
    from riskscore.settings import ScoreSettings
    from riskscore.contract.bundle import load

    b = load(trained_store.store, small_spec.name)
    model = Model(b.manifest, b.files, ScoreSettings.from_env({}))
    rows = small_data[[f.name for f in small_spec.features]].head(50)
    dicts = [{k: (None if v is None or v != v else v) for k, v in r.items()} for r in rows.to_dict("records")]
    contributions = model.run_feeds(dict_feeds(dicts, model.features, model.known))["contributions"]
    for row, contrib, result in zip(dicts, contributions, model.score_rows(dicts)):
        top = [small_spec.features[i].name for i in np.argsort(-contrib) if contrib[i] > 0][:MAX_REASONS]
        assert [r["feature"] for r in result["reasons"]] == top


# --- training-runs record --------------------------------------------------------------------

def test_runs_are_appended_as_jsonl(tmp_path, trained_store):
    from datetime import datetime, timezone

    from riskscore.io.store import LocalStore

    store = LocalStore(tmp_path)
    ok = run_record(run_id="r1", started_at=datetime.now(timezone.utc), model="m", data_uri="d.parquet",
                    params={"a": 1}, result=trained_store.result)
    failed = run_record(run_id="r2", started_at=datetime.now(timezone.utc), model="m", data_uri="d.parquet",
                        params={"a": 1}, error=ValueError("column 'x' is missing"))
    append_run(store, ok)
    append_run(store, failed)
    lines = [json.loads(line) for line in (tmp_path / "training_runs.jsonl").read_text().splitlines()]
    assert [r["outcome"] for r in lines] == ["published", "failed"]
    assert lines[0]["version"] == trained_store.result.manifest["version"]
    assert json.loads(lines[0]["metrics_json"])["test"]["auc"] == trained_store.result.manifest["metrics"]["test"]["auc"]
    assert "column 'x' is missing" in lines[1]["error"] and lines[1]["version"] is None


def test_runs_go_to_gcs_as_one_object_each(gcs_emulator, gcs_bucket):
    from datetime import datetime, timezone

    from riskscore.io.store import open_store

    store = open_store(f"gs://{gcs_bucket}/models")
    rec = run_record(run_id="r9", started_at=datetime.now(timezone.utc), model="m", data_uri="x", params={},
                     error=RuntimeError("boom"))
    append_run(store, rec)
    assert json.loads(store.read("_runs/r9.json"))["outcome"] == "failed"


def test_runs_are_recorded_in_bigquery_when_configured(tmp_path, bq_emulator, bq_dataset):
    from datetime import datetime, timezone

    from riskscore.io.store import LocalStore
    from training.runs_log import RUNS_SCHEMA

    client = bq_emulator.client()
    table = f"{bq_emulator.project}.{bq_dataset}.training_runs"
    started = datetime(2026, 11, 22, 8, 30, 15, 123456, tzinfo=timezone.utc)
    rec = run_record(run_id="r7", started_at=started, model="m", data_uri="x", params={"k": 2},
                     error=ValueError("bad"))
    append_run(LocalStore(tmp_path), rec, bq_table=table, bq_client=client)  # creates the table
    append_run(LocalStore(tmp_path), dict(rec, run_id="r8"), bq_table=table, bq_client=client)
    append_run(LocalStore(tmp_path), rec, bq_table=table, bq_client=client)  # a retry of r7

    assert [(f.name, f.field_type, f.mode) for f in client.get_table(table).schema] == [
        (f["name"], f["type"], f["mode"]) for f in RUNS_SCHEMA]
    rows = {r["run_id"]: r for r in client.list_rows(table)}
    assert sorted(rows) == ["r7", "r8"]  # the retry did not duplicate r7
    r7 = rows["r7"]
    assert r7["started_at"] == started and r7["outcome"] == "failed" and r7["promoted"] is False
    assert r7["version"] is None and r7["error"] == "ValueError: bad"
    assert json.loads(r7["params_json"]) == {"k": 2}
    assert len((tmp_path / "training_runs.jsonl").read_text().splitlines()) == 3  # the local log keeps every call


@pytest.mark.gcp
def test_runs_merge_is_valid_on_real_bigquery(tmp_path, gcp_bigquery):
    """The emulator translates SQL through DuckDB; only BigQuery itself can show the MERGE is valid."""
    import uuid
    from datetime import datetime, timezone

    from riskscore.io.store import LocalStore

    dataset = gcp_bigquery.create_dataset(f"riskscore_test_{uuid.uuid4().hex[:12]}")
    try:
        table = f"{dataset.project}.{dataset.dataset_id}.training_runs"
        rec = run_record(run_id="live", started_at=datetime.now(timezone.utc), model="m", data_uri="x",
                         params={}, error=ValueError("bad"))
        for _ in range(2):  # a retry must not duplicate the run
            append_run(LocalStore(tmp_path), rec, bq_table=table, bq_client=gcp_bigquery)
        assert [r["run_id"] for r in gcp_bigquery.list_rows(table)] == ["live"]
    finally:
        gcp_bigquery.delete_dataset(dataset, delete_contents=True, not_found_ok=True)
