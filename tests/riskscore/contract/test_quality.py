"""Data-quality gates over Arrow batches (training and batch share them)."""

from __future__ import annotations

from types import SimpleNamespace

import re

import numpy as np
import pyarrow as pa
import pytest

from riskscore.contract.quality import (QualityGateFailed, QualitySpec, QualityStats, enforce, evaluate,
                                        id_fingerprints)

FEATURES = [SimpleNamespace(name="income", type="numeric"), SimpleNamespace(name="region", type="categorical")]


def _stats(table: pa.Table, chunk: int = 3) -> QualityStats:
    stats = QualityStats(["id", "target", "income", "region"], id_column="id", target="target")
    for batch in table.to_batches(max_chunksize=chunk):
        stats.update(batch)
    return stats


def _table(**overrides) -> pa.Table:
    data = {"id": [f"a{i}" for i in range(10)], "target": [0, 1] + [0] * 8,
            "income": [float(i) for i in range(10)], "region": ["n", "s"] * 5}
    data.update(overrides)
    return pa.table(data)


def _failing(report) -> dict:
    return {g["name"]: g["failures"] for g in report["gates"] if not g["passed"]}


def test_clean_table_passes_every_gate():
    report = evaluate(_stats(_table()), QualitySpec(min_rows=5), features=FEATURES, required=["id", "target"],
                      mode="training")
    assert report["passed"] and _failing(report) == {}
    assert {g["name"] for g in report["gates"]} == {"row_count", "schema", "missing", "duplicated_ids", "target_rate"}


@pytest.mark.parametrize("table, spec, gate, match", [
    (_table(), QualitySpec(min_rows=11), "row_count", r"10 rows, expected at least 11"),
    (_table(income=[None, float("nan"), None] + [1.0] * 7), QualitySpec(min_rows=1, max_missing=0.2), "missing",
     r"'income' is 30.0% missing, max_missing 20.0%"),
    (_table(region=[""] * 6 + ["n"] * 4), QualitySpec(min_rows=1, max_missing={"*": 1.0, "region": 0.5}),
     "missing", r"'region' is 60.0% missing"),
    (_table(id=["a", "a", "b", "c", "c", "c"] + [f"x{i}" for i in range(4)]), QualitySpec(min_rows=1),
     "duplicated_ids", r"2 'id' values occur on more than one row \(3 extra rows\)"),
    (_table(target=[0] * 10), QualitySpec(min_rows=1), "target_rate", r"rate is 0.00%, expected within"),
    (_table(income=[True, False] * 5), QualitySpec(min_rows=1), "schema", r"'income' is stored as bool"),
    (_table().drop_columns(["region"]), QualitySpec(min_rows=1), "schema", r"column 'region' named in the spec is missing from the data"),
])
def test_each_gate_fails_naming_the_problem(table, spec, gate, match):
    report = evaluate(_stats(table), spec, features=FEATURES, required=["id", "target"], mode="training")
    failing = _failing(report)
    assert list(failing) == [gate]
    assert any(re.search(match, f) for f in failing[gate]), failing
    with pytest.raises(QualityGateFailed, match=rf"training table: data-quality gate\(s\) failed: {gate}: ") as info:
        enforce(report, "training table")
    assert info.value.status == 422 and info.value.details[0]["gate"] == gate


def test_allowed_gate_is_recorded_not_enforced():
    report = evaluate(_stats(_table()), QualitySpec(min_rows=11), features=FEATURES, required=[],
                      mode="training", allow=["row_count"])
    assert report["passed"] and report["allowed"] == ["row_count"]
    assert enforce(report, "x") is report


def test_unknown_gate_in_allow_is_an_error():
    with pytest.raises(ValueError, match=r"allow: unknown gate\(s\) \['rows'\]"):
        evaluate(_stats(_table()), QualitySpec(), features=FEATURES, required=[], mode="training", allow=["rows"])
    with pytest.raises(ValueError, match=r"quality.allow: unknown gate"):
        QualitySpec(allow=["rows"])


def test_batch_compares_missing_rates_with_the_training_baseline():
    table = _table(income=[None] * 3 + [1.0] * 7)
    report = evaluate(_stats(table), QualitySpec(max_missing=0.5), features=FEATURES, required=["id"],
                      mode="batch", baseline_missing={"income": 0.05})
    assert _failing(report) == {"missing": ["column 'income' is 30.0% missing, training had 5.0% (margin 10%)"]}
    assert "target_rate" not in {g["name"] for g in report["gates"]}


def test_no_applicant_value_in_messages():
    table = _table(id=["SECRET-1", "SECRET-1"] + [f"x{i}" for i in range(8)])
    report = evaluate(_stats(table), QualitySpec(min_rows=1), features=FEATURES, required=[], mode="training")
    with pytest.raises(QualityGateFailed) as info:
        enforce(report, "t")
    assert "SECRET" not in str(info.value) and "SECRET" not in str(info.value.details)


def _thue_morse(order: int, zero: str, one: str) -> str:
    return "".join(one if bin(i).count("1") % 2 else zero for i in range(1 << order))


@pytest.mark.parametrize("ids, expected", [
    (["a", "b", "c"], (0, 0)),
    (["a", "b", "a", "a", "b", "c"], (3, 2)),
    (["", "x", "", None, None], (1, 1)),          # nulls are the missing gate's, not duplicates
    (["ab", "ba", "a", "b", "aa", "bb"], (0, 0)),  # same bytes, other order or length
    (["x" * (3 << 20), "y", "x" * (3 << 20)], (1, 1)),  # ids longer than a fingerprint piece
    # Thue-Morse strings of 2,048 bytes and their complements collide under every polynomial
    # hash modulo 2^64: long ids are fingerprinted by BLAKE2b instead.
    ([_thue_morse(11, "a", "b"), _thue_morse(11, "b", "a")], (0, 0)),
])
def test_duplicated_ids_count_repeats_of_equal_ids(ids, expected):
    stats = QualityStats(["id"], id_column="id")
    for k in range(0, len(ids), 2):
        stats.update(pa.record_batch({"id": pa.array(ids[k:k + 2], pa.string())}))
    assert stats.duplicated_ids() == expected


def test_id_fingerprints_are_distinct_for_a_million_ids_and_follow_slices():
    ids = pa.array([f"APP-{i:07d}" for i in range(1_000_000)], pa.large_string())
    prints = id_fingerprints(ids)
    assert prints.dtype == np.uint64 and len(np.unique(prints)) == 1_000_000
    # A slice (non-zero offset) and a chunked array fingerprint the same values alike.
    assert np.array_equal(id_fingerprints(ids.slice(123_456, 1000)), prints[123_456:124_456])
    assert np.array_equal(id_fingerprints(pa.chunked_array([ids.slice(0, 10), ids.slice(10, 5)])), prints[:15])
