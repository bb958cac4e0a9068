"""A `batch_score` body: a run (input, output, run_date) or inline records (`job.parse`)."""

from __future__ import annotations

import pytest

from riskscore.batch import job
from riskscore.errors import InvalidRequest
from riskscore.settings import BatchSettings

SETTINGS = BatchSettings(model_store="models", max_inline_records=3)


def test_a_run_body_is_a_job():
    parsed = job.parse({"input": "data/in.parquet", "output": "out/", "run_date": "2026-11-20"}, SETTINGS)
    assert (parsed.input, parsed.output, parsed.run_date.isoformat()) == ("data/in.parquet", "out/", "2026-11-20")


def test_a_query_input_is_a_query():
    parsed = job.parse({"input": {"query": "SELECT 1"}, "output": "bq://p.d.t"}, SETTINGS)
    assert isinstance(parsed.input, job.Query) and parsed.input.query == "SELECT 1"


def test_inline_records_are_returned_as_given():
    records = [{"features": {}}, {"features": {}}]
    assert job.parse({"records": records}, SETTINGS) == records


@pytest.mark.parametrize("body, field, match", [
    ({"records": [{}] * 4}, "records", "at most 3"),
    ({"records": []}, "records", "records"),
    ({"records": [{}], "extra": 1}, "extra", "extra"),
    ({"input": "in.parquet", "output": "s3://b/o"}, "output", "unsupported scheme"),
    ({"input": "bq://t", "output": "out/"}, "input", "bq://project.dataset.table"),
])
def test_bad_bodies_name_the_field(body, field, match):
    with pytest.raises(InvalidRequest, match=match) as info:
        job.parse(body, SETTINGS)
    assert info.value.details[0]["field"] == field
