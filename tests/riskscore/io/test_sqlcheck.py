"""The one SELECT-only check for user SQL."""

from __future__ import annotations

import pytest

from riskscore.io.sqlcheck import SqlRejected, check_select


@pytest.mark.parametrize("sql, tables", [
    ("SELECT a FROM loans", ("loans",)),
    ("WITH t AS (SELECT * FROM bureau) SELECT * FROM loans JOIN t USING (id)", ("bureau", "loans")),
    ("SELECT * FROM `p-1.ds.t` UNION ALL SELECT * FROM q", ("p-1.ds.t", "q")),
    ("SELECT COUNT(*) FROM UNNEST([1, 2])", ()),
])
def test_single_select_is_accepted_with_its_tables(sql, tables):
    assert set(check_select(sql).tables) == set(tables)


@pytest.mark.parametrize("sql, match", [
    ("", r"found no SQL"),
    ("-- only a comment", r"found no statement"),
    ("SELECT 1; DROP TABLE x", r"found 2 statements"),
    ("DELETE FROM x WHERE TRUE", r"found DELETE"),
    ("INSERT INTO x SELECT 1", r"found INSERT"),
    ("CREATE TABLE x AS SELECT 1", r"found CREATE"),
    ("MERGE t USING s ON t.id = s.id WHEN MATCHED THEN DELETE", r"found MERGE"),
    ("SELECT * INTO t FROM x", r"found INTO inside the query"),
    ("BEGIN TRANSACTION", r"found TRANSACTION"),
    ("SELECT * FROM", r"does not parse as bigquery SQL"),
])
def test_anything_else_is_rejected_naming_the_field(sql, match):
    with pytest.raises(SqlRejected, match=r"^query: expected a single SELECT statement; .*" + match) as info:
        check_select(sql, field="query")
    assert info.value.status == 400 and info.value.details[0]["field"] == "query"
