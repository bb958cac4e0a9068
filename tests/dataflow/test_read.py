"""The pipeline's launch-time plan (dataflow.read.plan), in the project's own virtualenv: a
source Dataflow cannot read is refused before any job starts, naming the field."""

from __future__ import annotations

import pytest

from riskscore.batch.columns import InputColumns
from riskscore.errors import InvalidInput


def test_a_snowflake_input_is_refused_at_launch_without_quoting_the_query():
    from dataflow.read import plan

    with pytest.raises(InvalidInput, match=r"not Snowflake") as caught:
        plan("snowflake://SELECT * FROM loans WHERE income > 123456", InputColumns([]))
    assert caught.value.status == 422
    assert "123456" not in caught.value.message and "loans" not in caught.value.message
    assert caught.value.details == [{"field": "input", "problem": "Snowflake is not a Dataflow source"}]
