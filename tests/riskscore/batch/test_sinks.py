"""Batch destinations as requests give them (`parse_destination`)."""

from __future__ import annotations

import pytest

from riskscore.batch.sinks import parse_destination
from riskscore.errors import InvalidRequest


@pytest.mark.parametrize("value, expected", [
    ("bq://p.d.batch_scores", ("bq", "p.d.batch_scores")),
    ("bq://`p.d.batch_scores`", ("bq", "p.d.batch_scores")),
    ("gs://bucket/out/", ("gcs", "gs://bucket/out")),
    (" out/scores ", ("local", "out/scores")),
])
def test_accepted_destinations(value, expected):
    assert parse_destination(value) == expected


@pytest.mark.parametrize("value, match", [
    (None, "output: expected bq://project.dataset.table"),
    ("  ", "output: expected bq://project.dataset.table"),
    ("bq://just_a_table", "expected bq://project.dataset.table"),
    ("gs:///prefix", "expected gs://bucket/prefix"),
    ("s3://bucket/out", "unsupported scheme"),
])
def test_refused_destinations_name_the_output_field(value, match):
    with pytest.raises(InvalidRequest, match=match) as info:
        parse_destination(value)
    assert info.value.details[0]["field"] == "output"
