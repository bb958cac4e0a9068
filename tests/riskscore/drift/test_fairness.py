"""The fairness figures (riskscore.drift.fairness) on small tables whose answers are known."""

from __future__ import annotations

import numpy as np
import pytest

from riskscore.contract.protected import MISSING_GROUP, DecisionRule, ProtectedColumn
from riskscore.contract.schema import ScalingSpec
from riskscore.drift.fairness import FairnessAccumulator, fairness_report, wilson

SCALING = ScalingSpec()


def test_groups_of_a_banded_and_a_categorical_column():
    age = ProtectedColumn(name="age", bands=[25, 40])
    assert age.groups([18, 25, 39.9, 40, np.nan]).tolist() == ["< 25", "25 to < 40", "25 to < 40", "≥ 40",
                                                               MISSING_GROUP]
    sex = ProtectedColumn(name="sex")
    assert sex.groups(["f", None, 2.0, ""]).tolist() == ["f", MISSING_GROUP, "2", MISSING_GROUP]


@pytest.mark.parametrize("rule, match", [
    ({}, "exactly one of approve_below_pd and approve_from_rating"),
    ({"approve_below_pd": 0.1, "approve_from_rating": "Good"}, "exactly one"),
    ({"approve_below_pd": 1.5}, "less than 1"),
])
def test_a_decision_rule_is_one_cut_off(rule, match):
    with pytest.raises(ValueError, match=match):
        DecisionRule.model_validate(rule)


def test_approval_by_rating_uses_the_score_as_shown():
    bands = SCALING.bands
    good = next(b for b in bands if b.min_score is not None)
    rule = DecisionRule(approve_from_rating=good.name)
    score = np.array([good.min_score - 0.06, good.min_score - 0.04, good.min_score + 10, np.nan])
    assert rule.approved(np.zeros(4), score, SCALING).tolist() == [False, True, True, False]
    with pytest.raises(ValueError, match="'Nope' is not a rating band"):
        DecisionRule(approve_from_rating="Nope").approved(np.zeros(1), np.zeros(1), SCALING)


def test_air_four_fifths_and_small_groups():
    # a: 100 rows, 90 approved; b: 100 rows, 60 approved (AIR 0.667, fails); c: 10 rows, all approved
    # (too few rows: never the reference, never flagged).
    groups = np.array(["a"] * 100 + ["b"] * 100 + ["c"] * 10)
    pd_ = np.concatenate([np.r_[np.full(90, 0.05), np.full(10, 0.5)], np.r_[np.full(60, 0.05), np.full(40, 0.5)],
                          np.full(10, 0.01)])
    report = fairness_report([ProtectedColumn(name="g")], {"g": groups}, DecisionRule(approve_below_pd=0.1),
                             SCALING, pd_, np.full(210, 700.0))
    [table] = report["columns"]
    rows = {r["group"]: r for r in table["groups"]}
    assert table["reference_group"] == "a"
    assert rows["a"]["air"] == 1.0 and rows["a"]["four_fifths"] == "passes"
    assert rows["b"]["air"] == pytest.approx(60 / 90) and rows["b"]["four_fifths"] == "fails"
    assert rows["c"]["air"] == pytest.approx(1 / 0.9) and rows["c"]["four_fifths"] == "too_few_rows"
    assert table["min_air"] == pytest.approx(60 / 90)
    assert report["flagged"] == [{"column": "g", "group": "b"}]
    assert not report["has_outcomes"] and "auc" not in rows["a"]


def test_outcomes_give_auc_calibration_and_interval():
    rng = np.random.default_rng(3)
    pd_ = rng.uniform(0.01, 0.6, 400)
    y = (rng.uniform(size=400) < pd_).astype(float)
    y[:5] = np.nan  # unknown outcomes are left out of the outcome figures only
    groups = np.where(np.arange(400) % 2 == 0, "even", "odd")
    report = fairness_report([ProtectedColumn(name="g")], {"g": groups}, DecisionRule(approve_below_pd=0.3),
                             SCALING, pd_, np.full(400, 700.0), y)
    from sklearn.metrics import roc_auc_score

    for row in report["columns"][0]["groups"]:
        m = (groups == row["group"]) & ~np.isnan(y)
        assert row["labelled"] == m.sum() and row["defaults"] == y[m].sum()
        assert row["auc"] == pytest.approx(roc_auc_score(y[m], pd_[m]), abs=1e-12)
        assert row["observed_default_rate"] == pytest.approx(y[m].mean())
        lo, hi = row["observed_interval"]
        assert lo < row["observed_default_rate"] < hi


def test_wilson_interval():
    assert wilson(0, 0) is None
    lo, hi = wilson(30, 100)
    assert (round(lo, 4), round(hi, 4)) == (0.2189, 0.3958)  # the textbook figures for 30/100


def test_the_accumulator_equals_one_report_over_all_rows():
    rng = np.random.default_rng(5)
    n = 300
    age = rng.uniform(18, 80, n)
    sex = rng.choice(["f", "m"], n).astype(object)
    pd_, score, y = rng.uniform(0, 0.5, n), rng.uniform(300, 900, n), (rng.uniform(size=n) < 0.2).astype(float)
    columns = [ProtectedColumn(name="age", bands=[30, 50]), ProtectedColumn(name="sex")]
    rule = DecisionRule(approve_below_pd=0.2)
    acc = FairnessAccumulator(columns, rule, SCALING)
    for lo, hi in ((0, 100), (100, 220), (220, n)):
        acc.add({"age": age[lo:hi], "sex": sex[lo:hi]}, pd_[lo:hi], score[lo:hi], y[lo:hi])
    whole = fairness_report(columns, {"age": age, "sex": sex}, rule, SCALING, pd_, score, y)
    assert acc.result() == whole
    assert FairnessAccumulator(columns, rule, SCALING).result() is None
