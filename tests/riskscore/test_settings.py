"""The score function's settings: exactly the environment variables Terraform sets."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from riskscore.settings import ScoreSettings


def test_defaults_without_environment():
    s = ScoreSettings.from_env({})
    assert (s.model_store, s.model_name, s.model_version) == ("models", "credit_default", None)
    assert s.ort_intra_op_threads == 1 and s.ort_inter_op_threads == 1


@pytest.mark.parametrize("var, value, field, expected", [
    ("MODEL_STORE", "gs://bucket/models", "model_store", "gs://bucket/models"),
    ("MODEL_VERSION", "v20261121-000000", "model_version", "v20261121-000000"),
    ("ORT_INTRA_OP_THREADS", "4", "ort_intra_op_threads", 4),
    ("MAX_BODY_BYTES", "1024", "max_body_bytes", 1024),
    ("LOAD_RETRY_S", "2.5", "load_retry_s", 2.5),
    ("PREDICTION_LOG", "/tmp/p.jsonl", "prediction_log", "/tmp/p.jsonl"),
    ("GOOGLE_CLOUD_PROJECT", "risk-prod", "google_cloud_project", "risk-prod"),
    ("MODEL_VERSION", "", "model_version", None),  # empty means unset
])
def test_each_variable_sets_its_field(var, value, field, expected):
    assert getattr(ScoreSettings.from_env({var: value}), field) == expected


@pytest.mark.parametrize("var, value", [("ORT_INTRA_OP_THREADS", "0"), ("MAX_BODY_BYTES", "lots"),
                                        ("LOAD_RETRY_S", "-1")])
def test_bad_values_fail_naming_the_setting(var, value):
    with pytest.raises(ValidationError, match=var.lower()):
        ScoreSettings.from_env({var: value})


def test_unrelated_environment_is_ignored():
    assert ScoreSettings.from_env({"PATH": "/bin", "THREADS": "8"}).model_store == "models"
