"""Which finalized objects the `batch_score_gcs` function scores, and where the output goes."""

from __future__ import annotations

from datetime import date

import pytest

from riskscore.batch.gcs_event import Target, describe, target

CREATED = "2026-11-20T09:59:58.123Z"


@pytest.mark.parametrize("name, expected", [
    ("incoming/apps.parquet", Target("gs://b/incoming/apps.parquet", "gs://b/scored/apps", date(2026, 11, 20))),
    ("incoming/branch-7/apps.csv.gz", Target("gs://b/incoming/branch-7/apps.csv.gz", "gs://b/scored/branch-7/apps",
                                             date(2026, 11, 20))),
    ("incoming/APPS.CSV", Target("gs://b/incoming/APPS.CSV", "gs://b/scored/APPS", date(2026, 11, 20))),
    ("scored/apps/run_date=2026-11-20/scores.parquet", None),  # the function's own output
    ("incoming/_tmp/apps.parquet", None),
    ("incoming/.hidden.parquet", None),
    ("incoming/notes.txt", None),
    ("incoming/folder/", None),
])
def test_target_of_a_finalized_object(name, expected):
    assert target({"bucket": "b", "name": name, "timeCreated": CREATED}) == expected


def test_an_event_without_a_bucket_is_ignored():
    assert target({"name": "incoming/apps.parquet"}) is None


def test_describe_names_the_object_even_when_fields_are_missing():
    assert describe({"bucket": "b", "name": "incoming/x.parquet"}) == "gs://b/incoming/x.parquet"
    assert describe({}) == "gs://?/?"
