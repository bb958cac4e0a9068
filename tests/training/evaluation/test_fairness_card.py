"""The model card's fairness section on German credit (which carries age and personal status):
figures from the test rows, checked against a direct computation (pandas, scikit-learn and
fairlearn's MetricFrame), and the protected columns kept out of the model."""

from __future__ import annotations

import html
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import MetricFrame, selection_rate
from sklearn.metrics import roc_auc_score

from riskscore.io.store import open_store
from training.data.spec import check_data, load_spec
from training.data.split import split_frame
from training.train import train

REPO = Path(__file__).resolve().parents[3]
DATA = REPO / "tests" / "data" / "german_credit.csv.gz"
PROTECTED = {"age_in_years": [25.0], "personal_status_and_sex": None}
CUT_PD = 0.3


@pytest.fixture(scope="module")
def german(tmp_path_factory):
    """German credit trained with age and personal status as protected columns, not features."""
    spec = load_spec(REPO / "training" / "specs" / "german_credit.yaml")
    spec = spec.model_validate({
        **spec.model_dump(),
        "features": [f.model_dump() for f in spec.features if f.name not in PROTECTED],
        "protected": [{"name": n, **({"bands": b} if b else {})} for n, b in PROTECTED.items()],
        "decision": {"approve_below_pd": CUT_PD},
        # keep the held-out test split (small tables are otherwise fitted on every row, out of fold):
        # the card's figures are then those of the test rows this test recomputes
        "split": {**spec.split.model_dump(), "test_when_small": True},
        "pd_model": {**spec.pd_model.model_dump(), "family": "scorecard"}})
    raw = pd.read_csv(DATA)
    store = open_store(str(tmp_path_factory.mktemp("models")))
    result = train(spec, raw, store, log=lambda *a, **k: None)
    checked = check_data(spec, raw)
    parts = split_frame(checked, spec.target, spec.split.valid_fraction, spec.split.test_fraction,
                        date=spec.date, seed=spec.split.seed)
    card = store.read(f"{spec.name}/{result.manifest['version']}/model_card.html").decode()
    return spec, result, parts["test"], card


def direct(test: pd.DataFrame, pd_test: np.ndarray, column: str) -> pd.DataFrame:
    """Per group, computed here from the test rows with pandas, scikit-learn and fairlearn."""
    if PROTECTED[column]:
        cut = PROTECTED[column][0]
        groups = np.where(test[column] < cut, f"< {cut:g}", f"≥ {cut:g}")
    else:
        groups = test[column].astype(str).to_numpy()
    y = test["default"].to_numpy()
    approved = (pd_test < CUT_PD).astype(int)
    frame = MetricFrame(metrics={"approval_rate": selection_rate}, y_true=y, y_pred=approved,
                        sensitive_features=pd.Series(groups, name="group"))
    out = pd.DataFrame({"group": groups, "y": y, "pd": pd_test}).groupby("group").agg(
        rows=("y", "size"), observed_default_rate=("y", "mean"), mean_pd=("pd", "mean"))
    out["approval_rate"] = frame.by_group["approval_rate"]
    out["auc"] = [roc_auc_score(y[groups == g], pd_test[groups == g]) if 0 < y[groups == g].sum() < (groups == g).sum()
                  else np.nan for g in out.index]
    sized = out[out["rows"] >= 30]
    out["air"] = out["approval_rate"] / sized["approval_rate"].max()
    return out


@pytest.mark.slow
@pytest.mark.parametrize("column", sorted(PROTECTED))
def test_card_figures_match_a_direct_computation(german, column):
    spec, result, test, card = german
    assert (result.evaluation["y_test"] == test["default"].to_numpy()).all()  # the same rows, in order
    expected = direct(test, np.asarray(result.evaluation["pd_test"], dtype=np.float64), column)
    [table] = [t for t in result.manifest["fairness"]["columns"] if t["column"] == column]
    got = pd.DataFrame(table["groups"]).set_index("group")
    assert sorted(got.index) == sorted(expected.index)
    for name in ("rows", "approval_rate", "observed_default_rate", "mean_pd", "auc", "air"):
        np.testing.assert_allclose(got.loc[expected.index, name].astype(float), expected[name], rtol=1e-9,
                                   err_msg=f"{column}: {name}")
    # Four-fifths marks follow the ratios; the reference is the most favoured sized group.
    for g, row in got.iterrows():
        if row["rows"] >= 30:
            assert row["four_fifths"] == ("fails" if expected.loc[g, "air"] < 0.8 else "passes")
    assert table["reference_group"] == expected[expected["rows"] >= 30]["approval_rate"].idxmax()
    # The card shows every group's figures as formatted in the manifest.
    section = card[card.index('id="fairness"'):]
    section = section[:section.index("</section>")]
    for g, row in expected.iterrows():
        cells = re.search(re.escape(html.escape(g, quote=False)) + r"(?:\s*<span[^>]*>\(reference\)</span>)?</td>(.*?)</tr>",
                          section, re.S)
        assert cells, f"{column}: group {g} not in the card"
        text = cells.group(1)
        assert f"{100 * row['approval_rate']:.1f}%" in text and f"{row['air']:.2f}" in text


@pytest.mark.slow
def test_protected_columns_are_never_model_inputs(german):
    spec, result, _, card = german
    names = {f["name"] for f in result.manifest["features"]}
    assert not names & set(PROTECTED)
    assert {c["name"] for c in result.manifest["spec"]["protected"]} == set(PROTECTED)
    assert "What they do not show" in card


def test_a_protected_column_cannot_also_be_a_feature():
    from training.data.spec import ModelSpec

    with pytest.raises(ValueError, match="'age' is protected and cannot also be a feature"):
        ModelSpec.model_validate({"name": "m", "target": "y", "features": [{"name": "age", "type": "numeric"}],
                                  "protected": [{"name": "age", "bands": [25]}],
                                  "decision": {"approve_below_pd": 0.2}})
    with pytest.raises(ValueError, match="protected columns need a decision cut-off"):
        ModelSpec.model_validate({"name": "m", "target": "y", "features": [{"name": "x", "type": "numeric"}],
                                  "protected": [{"name": "age", "bands": [25]}]})
