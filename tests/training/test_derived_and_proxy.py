"""Derived features and proxy targets through `train` and the score function: graphs take raw
columns only, reason codes name a derived feature by its description, a proxy label is recorded
as one in the manifest and the model card."""

from __future__ import annotations

import json

import onnx
import pytest
import yaml

from riskscore.io.store import LocalStore
from training.cli import main
from training.data.spec import ModelSpec
from training.data.synthetic import generate
from training.onnx.run import run_onnx

DERIVED = [{"name": "debt_to_income", "expression": "debt_ratio * 1000 / monthly_income",
            "description": "debt relative to monthly income", "monotone": "increasing"},
           {"name": "log_lines", "expression": "log1p(open_credit_lines)"}]


def quiet(*_a, **_k):
    pass


@pytest.fixture(scope="module")
def published(tmp_path_factory, small_spec, small_data):
    from training.train import train

    spec = ModelSpec.model_validate({**small_spec.model_dump(), "derived": DERIVED})
    path = tmp_path_factory.mktemp("derived") / "models"
    result = train(spec, small_data, LocalStore(path), log=quiet)
    return spec, path, result


def test_graphs_take_raw_columns_and_compute_the_derived_ones(published, small_data):
    spec, path, result = published
    m = result.manifest
    assert [d["name"] for d in m["derived"]] == ["debt_to_income", "log_lines"]
    assert [f["name"] for f in m["features"]] == [f.name for f in spec.features]
    for entry in m["models"].values():
        graph = onnx.load(str(path / m["name"] / m["version"] / entry["file"]))
        assert [i.name for i in graph.graph.input] == [f.name for f in spec.features]
    pd_graph = onnx.load(str(path / m["name"] / m["version"] / "pd.onnx"))
    out = run_onnx(pd_graph, spec.features, small_data.head(50))
    assert out["contributions"].shape == (50, len(spec.features) + 2)


def test_reason_codes_name_the_derived_feature(published, small_data, monkeypatch):
    from support.client import function_client as score_client

    spec, path, result = published
    monkeypatch.setenv("MODEL_STORE", str(path))
    monkeypatch.setenv("MODEL_NAME", spec.name)
    for var in ("MODEL_VERSION", "PREDICTION_LOG", "APPLICANT_ID_SALT"):
        monkeypatch.delenv(var, raising=False)
    client = score_client()
    # the applicant whose largest reason is the derived ratio, by the published graph itself
    graph = onnx.load(str(path / spec.name / result.manifest["version"] / "pd.onnx"))
    contributions = run_onnx(graph, spec.features, small_data)["contributions"]
    position = len(spec.features)  # the first derived feature's column
    row = small_data.iloc[int(contributions[:, position].argmax())]
    assert contributions[:, position].max() > 0
    applicant = {f.name: (None if row[f.name] != row[f.name] else
                          (row[f.name].item() if hasattr(row[f.name], "item") else row[f.name]))
                 for f in spec.features}
    reply = client.post("/", json={"features": applicant})
    assert reply.status_code == 200, reply.json()
    reasons = {r["feature"]: r for r in reply.json()["reasons"]}
    assert "debt_to_income" in reasons, reply.json()["reasons"]
    assert reasons["debt_to_income"]["text"].startswith("Debt relative to monthly income, which raises")
    assert "debt relative to monthly income" in reply.json()["explanation"]


def test_proxy_target_cli_and_training_on_it(tmp_path, small_data):
    import pandas as pd

    import numpy as np

    rng = np.random.default_rng(0)
    rows = []
    for c in range(300):
        kind = c % 3
        n = (1, 8, 30)[kind]
        for i in range(n):
            rows.append({"customer": f"C{c}", "day": pd.Timestamp("2026-06-30") - pd.Timedelta(
                days=int((200, 40, 2)[kind] + 3 * i)), "value": float(rng.gamma(2, (10, 30, 50)[kind]))})
    tx = tmp_path / "tx.csv"
    pd.DataFrame(rows).to_csv(tx, index=False)
    out = tmp_path / "labels.csv"
    assert main(["proxy-target", "--transactions", str(tx), "--customer-id", "customer", "--date", "day",
                 "--amount", "value", "--as-of", "2026-06-30", "--out", str(out)]) == 0
    assert (tmp_path / "labels.proxy_target.json").is_file()
    labels = pd.read_csv(out)
    assert labels["proxy_default"].mean() == pytest.approx(1 / 3)
    spec = {"name": "proxy_demo", "target": "proxy_default", "id": "customer",
            "features": [{"name": "frequency", "type": "numeric"}, {"name": "monetary", "type": "numeric"}],
            "pd_model": {"family": "logistic"}}
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(yaml.safe_dump(spec))
    store = tmp_path / "models"
    assert main(["train", "--spec", str(spec_path), "--data", str(out), "--store", str(store)]) == 0
    version = next(p for p in (store / "proxy_demo").iterdir() if p.is_dir())
    manifest = json.loads((version / "manifest.json").read_text())
    assert manifest["target_proxy"]["label_column"] == "proxy_default"
    assert "The target is a proxy, not an observed default." in (version / "model_card.html").read_text()


def test_proxy_target_errors_name_the_column(tmp_path, capsys):
    tx = tmp_path / "tx.csv"
    tx.write_text("customer,day\nA,2026-01-01\n")
    code = main(["proxy-target", "--transactions", str(tx), "--customer-id", "customer", "--date", "day",
                 "--amount", "value", "--as-of", "2026-06-30", "--out", str(tmp_path / "o.csv")])
    assert code != 0 and "column 'value' is not in the transactions table" in capsys.readouterr().err
