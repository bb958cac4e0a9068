"""riskscore.drift.compare: champion vs challenger figures over a window."""

from __future__ import annotations

import numpy as np
import pytest

from riskscore.drift.compare import Comparison, default_cutoff
from riskscore.drift.stats import auc_ks
from riskscore.drift.stats import DriftSpec, psi

BANDS = ["Poor", "Average", "Good", "Excellent"]
EDGES = [400, 500, 600, 650, 700, 750, 800]


def rate(score):
    return np.array([BANDS[i] for i in np.searchsorted([500, 650, 750], score, side="right")], dtype=object)


def side(score, pd_):
    score = np.asarray(score, float)
    return {"pd": np.asarray(pd_, float), "score": score, "rating": rate(score)}


def comparison(cutoff=500.0, min_rows=2):
    return Comparison("v1", "v2", score_edges=EDGES, bands=BANDS, cutoff_score=cutoff,
                      spec=DriftSpec(min_rows=min_rows))


def test_identical_models_agree_everywhere():
    rng = np.random.default_rng(1)
    score = rng.uniform(300, 900, 400).round(1)
    pd_ = (900 - score) / 600
    c = comparison()
    c.add(side(score, pd_), side(score, pd_))
    r = c.result()
    assert r["rows"] == 400
    assert r["score_distribution"]["psi"] == pytest.approx(0.0)
    assert r["rating_agreement"]["agreement"] == 1.0
    assert r["decisions"]["changed"] == 0 and r["decisions"]["changed_share"] == 0.0
    assert r["means"]["mean_abs_pd_diff"] == 0.0


def test_a_shifted_challenger_is_counted_exactly_across_batches():
    champion = np.array([450.0, 490.0, 510.0, 520.0, 800.0, 660.0])
    challenger = np.array([510.0, 480.0, 495.0, 530.0, 700.0, 640.0])
    c = comparison()
    for part in (slice(0, 3), slice(3, 6)):  # two batches add up as one
        c.add(side(champion[part], 1 - champion[part] / 900), side(challenger[part], 1 - challenger[part] / 900))
    r = c.result()
    assert r["decisions"]["decline_to_approve"] == 1  # 450 -> 510
    assert r["decisions"]["approve_to_decline"] == 1  # 510 -> 495
    assert r["decisions"]["changed_share"] == pytest.approx(2 / 6)
    assert r["decisions"]["champion_approval_rate"] == pytest.approx(4 / 6)
    m = dict(zip(r["rating_agreement"]["bands"], r["rating_agreement"]["matrix"]))
    assert m["Poor"][r["rating_agreement"]["bands"].index("Average")] == 1  # 450 Poor -> 510 Average
    assert sum(map(sum, r["rating_agreement"]["matrix"])) == 6
    expected = [np.bincount(np.searchsorted(EDGES, s, side="right"), minlength=len(EDGES) + 1) / 6
                for s in (champion, challenger)]
    assert r["score_distribution"]["psi"] == pytest.approx(psi(*expected))


def test_rows_without_a_challenger_pd_are_left_out():
    c = comparison()
    c.add(side([600.0, 700.0], [0.1, 0.2]), side([600.0, np.nan], [0.1, np.nan]))
    assert c.result()["rows"] == 1


def test_backtest_of_both_models_on_the_same_labelled_rows():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 600).astype(float)
    good = np.clip(0.3 + 0.4 * y + rng.normal(0, 0.2, 600), 0.01, 0.99)
    noise = rng.uniform(0.01, 0.99, 600)
    y_with_unknown = y.copy()
    y_with_unknown[:100] = np.nan
    c = comparison()
    c.add(side(300 + (1 - noise) * 600, noise), side(300 + (1 - good) * 600, good), y_with_unknown)
    b = c.result()["backtest"]
    assert b["rows"] == 500
    assert b["challenger"]["auc"] == pytest.approx(auc_ks(y[100:].astype(np.int8), good[100:])[0])
    assert b["challenger"]["auc"] > b["champion"]["auc"] and b["auc_change"] > 0
    assert b["challenger"]["brier"] == pytest.approx(np.mean((good[100:] - y[100:]) ** 2))
    assert sum(band["rows"] for band in b["champion"]["bands"]) == 500


def test_no_outcomes_no_backtest_and_few_rows_are_insufficient():
    c = comparison(min_rows=500)
    c.add(side([600.0], [0.2]), side([610.0], [0.18]))
    r = c.result()
    assert r["backtest"] is None
    assert r["score_distribution"]["status"] == "insufficient_data"


@pytest.mark.parametrize("manifest, cutoff", [
    ({"scaling": {"bands": [{"name": "Poor", "min_score": None}, {"name": "Average", "min_score": 500}]}}, 500.0),
    ({"spec": {"drift": {"cutoff_score": 620}}, "scaling": {"bands": []}}, 620.0),
    ({"scaling": {"bands": [{"name": "All", "min_score": None}]}}, None),
])
def test_default_cutoff(manifest, cutoff):
    assert default_cutoff(manifest) == cutoff


def test_comparisons_group_record_batches_by_version_pair():
    import pyarrow as pa

    from riskscore.drift.compare import Comparisons

    class NoVersions:  # no manifest in the store: one score bin, no cut-off
        def get(self, version):
            return None

    batch = pa.RecordBatch.from_pydict({
        "model_version": ["v1", "v1", None, "v1"], "pd": [0.1, 0.2, 0.3, 0.4], "score": [840.0, 780.0, 720.0, 660.0],
        "rating": ["Excellent", "Excellent", "Good", "Good"],
        "challenger_version": ["v2", "v2", "v2", None], "challenger_pd": [0.1, 0.25, 0.3, None],
        "challenger_score": [840.0, 750.0, 720.0, None], "challenger_rating": ["Excellent", "Excellent", "Good", None],
        "default": [0.0, 1.0, None, 1.0]})
    c = Comparisons(NoVersions(), "default")
    c.add(batch, default_version="v1")
    (result,) = c.results()
    assert (result["champion_version"], result["challenger_version"], result["rows"]) == ("v1", "v2", 3)
    assert result["backtest"]["rows"] == 2
    assert result["decisions"] is None
    assert result["rating_agreement"]["agreement"] == 1.0
