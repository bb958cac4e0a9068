"""The scorecard PD family on a real table (Statlog German credit, tests/data): its ONNX graph
has the PD graph's contract and matches optbinning + scikit-learn exactly; missing and unseen
values take their bins; champion selection, the small-data regime, tuning, the manifest and
model-card tables; and integer-coded categories end to end through the `score` function."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import onnx
import pandas as pd
import pytest
from onnx import numpy_helper

from support.onnx_helpers import assert_raw_column_inputs
from riskscore.errors import ExportVerificationError
from riskscore.io.store import LocalStore
from training.data.spec import check_data, load_spec
from training.models.pd.booster import ADDITIVITY_TOLERANCE, PARITY_TOLERANCE, verify_export
from training.models.pd.family import choose_regime
from training.models.pd.scorecard import ScorecardModel, bin_label
from training.onnx.run import run_onnx

REPO = Path(__file__).resolve().parents[3]
DATA = REPO / "tests" / "data" / "german_credit.csv.gz"
SPEC = REPO / "training" / "specs" / "german_credit.yaml"
CODED = ["installment_rate_in_percentage_of_disposable_income", "present_residence_since",
         "number_of_existing_credits_at_this_bank", "number_of_people_being_liable_to_provide_maintenance_for"]


def quiet(*_a, **_k):
    pass


@pytest.fixture(scope="module")
def german():
    spec = load_spec(SPEC)
    raw = pd.read_csv(DATA)
    return spec, raw, check_data(spec, raw)


@pytest.fixture(scope="module")
def fitted(german):
    spec, _, df = german
    model = ScorecardModel(spec.features, spec.pd_model.scorecard.model_dump(), seed=1)
    model.fit(df, df[spec.target].to_numpy())
    return model, model.to_onnx(spec.scaling)


def test_the_csv_holds_integer_codes_and_the_spec_reads_them_as_categories(german):
    spec, raw, df = german
    for name in CODED:
        assert pd.api.types.is_integer_dtype(raw[name]), name  # what the CSV parser made of them
        assert {type(v) for v in df[name].dropna()} == {str}, name
        assert set(df[name].dropna()) <= {"1", "2", "3", "4"}, name


def test_graph_has_the_pd_contract_and_matches_the_native_model(german, fitted):
    spec, _, df = german
    model, graph = fitted
    assert_raw_column_inputs(graph, spec.features)
    assert [o.name for o in graph.graph.output] == ["pd", "logit", "score", "contributions"]
    report = verify_export(model, graph, df)
    assert report["pd_max_abs_diff"] <= PARITY_TOLERANCE
    assert report["additivity_max_abs_diff"] <= ADDITIVITY_TOLERANCE
    out = run_onnx(graph, spec.features, df)
    assert out["contributions"].shape == (len(df), len(spec.features))
    # features without points contribute exactly zero
    unused = [i for i, f in enumerate(spec.features) if model.coef_[i] == 0]
    assert unused and np.all(out["contributions"][:, unused] == 0)


def test_graph_uses_plain_onnx_ops(fitted):
    _, graph = fitted
    ops = {(n.domain or "", n.op_type) for n in graph.graph.node}
    assert {d for d, _ in ops} <= {"", "ai.onnx.ml"}
    assert {op for d, op in ops if d == "ai.onnx.ml"} == {"LabelEncoder"}


def test_split_boundaries_bin_the_same_in_the_graph(german, fitted):
    """Values exactly at each split, and the float32 just below it, land in the native bin."""
    spec, _, df = german
    model, graph = fitted
    rows = []
    for f in spec.numeric:
        for s in model.binnings_[f.name].splits:
            for v in (np.float32(s), np.nextafter(np.float32(s), np.float32(-np.inf)), s):
                row = df.iloc[0].copy()
                row[f.name] = float(v)
                rows.append(row)
    edge = pd.DataFrame(rows)
    report = verify_export(model, graph, edge)
    assert report["contributions_max_abs_diff"] <= 1e-6


def _points(model, feature: str, bin_label: str) -> float:
    return next(r["points"] for r in model.points_rows() if r["feature"] == feature and r["bin"] == bin_label)


def test_missing_and_unseen_values_get_their_own_bins(german, fitted):
    spec, _, df = german
    model, graph = fitted
    rows = df.iloc[:3].copy()
    rows["duration_in_month"] = np.nan          # missing numeric
    rows["purpose"] = [None, "spaceship", None]  # missing and unseen categorical
    out = run_onnx(graph, spec.features, rows)
    native = model.predict_native(rows)
    np.testing.assert_allclose(out["contributions"], native["contributions"], atol=1e-6)
    i_dur = [f.name for f in spec.features].index("duration_in_month")
    i_pur = [f.name for f in spec.features].index("purpose")
    # no missing values in training: the Missing bin is empty and worth 0 points, as optbinning defines
    assert _points(model, "duration_in_month", "Missing") == 0
    np.testing.assert_allclose(out["contributions"][:, i_dur], 0.0, atol=1e-7)
    # unseen category: optbinning's unknown value (WoE of the overall rate) x coefficient
    unknown = model.coef_[i_pur] * model.binnings_["purpose"].transform(np.array(["spaceship"], dtype=object),
                                                                        metric="woe")[0]
    assert out["contributions"][1, i_pur] == pytest.approx(unknown, abs=1e-6)


def test_a_tampered_points_table_fails_the_parity_check(german, fitted):
    spec, _, df = german
    model, graph = fitted
    broken = onnx.ModelProto()
    broken.CopyFrom(graph)
    table = next(t for t in broken.graph.initializer if t.name == "duration_in_month__table")
    values = numpy_helper.to_array(table).copy()
    values[1] += 0.01
    table.CopyFrom(numpy_helper.from_array(values, table.name))
    with pytest.raises(ExportVerificationError, match="differs from the native scorecard"):
        verify_export(model, broken, df)


def test_information_value_and_points_tables(german, fitted):
    spec, _, df = german
    model, _ = fitted
    iv = model.iv_rows()
    assert [r["iv"] for r in iv] == sorted((r["iv"] for r in iv), reverse=True)
    for r in iv:
        assert (r["coefficient"] != 0) == r["used"]
        assert r["used"] or r["excluded_because"]
        if r["iv"] < spec.pd_model.scorecard.min_iv:
            assert not r["used"] and "below" in r["excluded_because"]
    points = model.points_rows()
    used = {r["feature"] for r in iv if r["used"]}
    assert {r["feature"] for r in points} == used
    for feature in used:
        rows = [r for r in points if r["feature"] == feature]
        assert sum(r["count"] for r in rows) == len(df)
        coef = model.coef_[[f.name for f in spec.features].index(feature)]
        assert all(r["points"] == pytest.approx(coef * r["woe"]) for r in rows)
    # categorical bins are named by their categories (never a pandas type dump)
    checking = [r["bin"] for r in points if r["feature"] == "status_of_existing_checking_account"]
    assert checking and not any("Array" in b or "dtype" in b or "Length:" in b for b in checking), checking
    known = set(df["status_of_existing_checking_account"].dropna())
    assert {c for b in checking if b != "Missing" for c in b.split(", ")} <= known
    # duration is declared monotone increasing: the default rate never falls across its bins
    rates = [r["default_rate"] for r in points if r["feature"] == "duration_in_month"
             and r["bin"] not in ("Special", "Missing")]
    assert rates == sorted(rates) and len(rates) >= 2


@pytest.mark.parametrize("rows, small_data_rows, regime", [(800, 20_000, "small"), (19_999, 20_000, "small"),
                                                           (20_000, 20_000, "large"), (800, 0, "large")])
def test_regime_follows_the_row_count(german, rows, small_data_rows, regime):
    spec = german[0]
    spec = spec.model_copy(update={"pd_model": spec.pd_model.model_copy(update={"small_data_rows": small_data_rows})})
    got = choose_regime(spec, rows)
    assert got["name"] == regime and f"{rows:,}" in got["reason"]


# --- end to end: train from the spec, publish, serve ----------------------------------------

@pytest.fixture(scope="module")
def published(tmp_path_factory, german):
    from training.train import train

    spec, raw, _ = german
    path = tmp_path_factory.mktemp("german") / "models"
    result = train(spec, raw, LocalStore(path), log=quiet)
    return path, result


def test_auto_family_records_every_candidate_and_fits_every_row(published):
    _, result = published
    m = result.manifest
    entry = m["models"]["pd"]
    assert entry["regime"]["name"] == "small" and entry["regime"]["folds"] == 5 and entry["regime"]["repeats"] == 2
    assert [c["family"] for c in entry["candidates"]] == ["logistic", "scorecard", "xgboost", "lightgbm", "blend"]
    chosen = [c for c in entry["candidates"] if c["chosen"]]
    assert len(chosen) == 1 and chosen[0]["family"] == entry["family"]
    assert all(0.5 < c["selection_auc"] < 1 for c in entry["candidates"])
    # every family scored on the same 5 folds: the one-SE rule compares them fold by fold
    assert all(len(c["fold_aucs"]) == 5 and c["selection_auc"] == pytest.approx(np.mean(c["fold_aucs"]))
               for c in entry["candidates"])
    # the evidence behind the choice: every simpler family compared with the best
    assert [c["family"] for c in entry["comparisons"]] == [
        c["family"] for c in entry["candidates"]][:len(entry["comparisons"])]
    assert all(not c["shortfall_is_real"] for c in entry["comparisons"][-1:] if c["family"] == entry["family"])
    # every row fitted: the reported metrics are the champion's out-of-fold predictions on all 1,000
    assert m["metrics"]["test"]["out_of_fold"] and m["metrics"]["test"]["rows"] == 1000
    assert "valid" not in m["metrics"] and m["metrics"]["cv"]["auc"] == chosen[0]["selection_auc"]
    assert "out-of-fold" in entry["metrics_source"]
    boosted = next(c for c in entry["candidates"] if c["family"] == "xgboost")
    assert boosted["n_estimators"] >= 10 and boosted["params"]["max_depth"] in (1, 2)  # grid for ~300 positives
    assert len(boosted["search"]["grid"]) == 3
    if entry["family"] == "scorecard":
        assert entry["information_value"] and entry["points"]
    coded = {f["name"]: f for f in m["features"]}
    assert all(coded[n]["integer_codes"] for n in CODED)
    assert coded["housing"]["integer_codes"] is False


def test_model_card_shows_candidates_information_value_and_points(published):
    path, result = published
    m = result.manifest
    html = (path / m["name"] / m["version"] / "model_card.html").read_text()
    assert "PD model family and champion" in html and "This section could not be rendered" not in html
    for c in m["models"]["pd"]["candidates"]:
        assert f"{c['selection_auc']:.4f}" in html
    assert "Out-of-fold AUC" in html and "Reported metrics" in html
    if m["models"]["pd"]["family"] == "scorecard":
        assert "Information value" in html and "Points table" in html
        assert "status_of_existing_checking_account" in html


def test_served_sessions_give_each_graphs_outputs_bit_for_bit(published, german):
    from support.onnx_helpers import assert_served_like_each_graph
    from riskscore.contract import bundle

    path, result = published
    loaded = bundle.load(LocalStore(path), result.manifest["name"], result.manifest["version"])
    assert_served_like_each_graph(loaded.manifest, loaded.files, german[2])


@pytest.fixture
def score_client(published, monkeypatch):
    from support.client import function_client as score_client

    path, _ = published
    for var in ("MODEL_VERSION", "PREDICTION_LOG", "APPLICANT_ID_SALT"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("MODEL_STORE", str(path))
    monkeypatch.setenv("MODEL_NAME", "german_credit")
    return score_client()


def test_score_accepts_integer_codes_as_integers_or_strings(german, score_client):
    _, raw, _ = german
    applicant = {k: (v.item() if hasattr(v, "item") else v) for k, v in raw.iloc[0].drop("default").items()}
    as_int = dict(applicant)
    as_str = {k: (str(v) if k in CODED else v) for k, v in applicant.items()}
    replies = [score_client.post("/", json={"features": f}) for f in (as_int, as_str)]
    assert [r.status_code for r in replies] == [200, 200], [r.json() for r in replies]
    assert replies[0].json()["pd"] == replies[1].json()["pd"]
    # A code training never saw: scored as missing (the default policy), with a warning naming it.
    unseen = score_client.post("/", json={"features": {**as_int, "present_residence_since": 7}})
    assert unseen.status_code == 200
    assert [w["field"] for w in unseen.json()["warnings"]] == ["features.present_residence_since"]


@pytest.mark.slow
def test_tune_runs_seeded_trials_and_logs_them(tmp_path, german):
    """`train --tune 2` on a scorecard-only spec: two trials in the manifest and the runs log."""
    import yaml

    from training.cli import main

    spec = yaml.safe_load(SPEC.read_text())
    spec["pd_model"] = {"family": "scorecard", "cv_folds": 3}
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(yaml.safe_dump(spec))
    store = tmp_path / "models"
    assert main(["train", "--spec", str(spec_path), "--data", str(DATA), "--store", str(store), "--tune", "2"]) == 0
    record = json.loads((store / "training_runs.jsonl").read_text().splitlines()[-1])
    tuning = json.loads(record["tuning_json"])
    assert tuning["family"] == "scorecard" and len(tuning["trials"]) == 2
    assert all(set(t["params"]) == {"C", "min_bin_size", "min_iv", "max_n_prebins"} for t in tuning["trials"])
    assert json.loads(record["params_json"])["tune"] == 2
    version = record["version"]
    manifest = json.loads((store / "german_credit" / version / "manifest.json").read_text())
    assert manifest["models"]["pd"]["tuning"]["n_trials"] == 2
    assert os.path.exists(store / "german_credit" / version / "pd.onnx")


@pytest.mark.parametrize("label, text", [
    (pd.array(["OWN"], dtype="str"), "OWN"),
    (pd.array(["OWN", "RENT"], dtype="string"), "OWN, RENT"),
    (np.array(["A11", "A12"], dtype=object), "A11, A12"),
    (["2", "3"], "2, 3"),
    ("Missing", "Missing"),
    ("[-inf, 12.50)", "[-inf, 12.50)"),
])
def test_bin_labels_name_the_categories(label, text):
    assert bin_label(label) == text
