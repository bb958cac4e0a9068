"""The query gate against the BigQuery emulator: a dry run decides; nothing else runs."""

from __future__ import annotations

import pytest

from riskscore.batch.queryguard import check_query, judge
from riskscore.errors import InvalidRequest


@pytest.fixture
def tables(bq_emulator):
    client = bq_emulator.client()
    allowed, other = bq_emulator.new_dataset("allowed"), bq_emulator.new_dataset("other")
    for ds in (allowed, other):
        client.query(f"CREATE TABLE `{bq_emulator.project}.{ds}.t` AS SELECT 1 AS x").result()
    return client, f"{bq_emulator.project}.{allowed}", f"{bq_emulator.project}.{other}"


def test_a_select_over_an_allowed_dataset_passes(tables):
    client, allowed, _ = tables
    check_query(client, f"SELECT x FROM `{allowed}.t`", frozenset({allowed}))


@pytest.mark.parametrize("sql, problem", [
    ("DROP TABLE `{allowed}.t`", "not a single SELECT"),
    ("DELETE FROM `{allowed}.t` WHERE TRUE", "not a single SELECT"),
    ("SELEC x FROM", "not a valid query"),
])
def test_anything_else_is_a_400_naming_input_query_and_nothing_runs(tables, sql, problem):
    client, allowed, other = tables
    with pytest.raises(InvalidRequest, match="input.query") as caught:
        check_query(client, sql.format(allowed=allowed, other=other), frozenset({allowed}))
    assert caught.value.details[0]["field"] == "input.query"
    if problem:
        assert caught.value.details[0]["problem"] == problem
    assert [r.x for r in client.query(f"SELECT x FROM `{allowed}.t`").result()] == [1]  # still there


@pytest.mark.parametrize("statement, datasets, problem", [
    ("SELECT", ["p.portfolio", "p.other"], "dataset not allowed"),
    ("SELECT", ["q.portfolio"], "dataset not allowed"),
    ("SCRIPT", ["p.portfolio"], "not a single SELECT"),
    ("INSERT", ["p.portfolio"], "not a single SELECT"),
    (None, [], "not a single SELECT"),
])
def test_what_the_dry_run_reports_decides(statement, datasets, problem):
    """The emulator's dry run reports the statement type but no referenced tables (and runs a
    script's statements); BigQuery reports both (a script as SCRIPT), and this is the rule
    applied to them."""
    with pytest.raises(InvalidRequest, match="input.query") as caught:
        judge(statement, datasets, frozenset({"p.portfolio"}))
    assert caught.value.details == [{"field": "input.query", "problem": problem}]


def test_no_allowed_dataset_means_no_query(tables):
    client, allowed, _ = tables
    with pytest.raises(InvalidRequest, match="accepts no queries"):
        check_query(client, f"SELECT x FROM `{allowed}.t`", frozenset())
