"""Fixtures shared by the models' tests: the small spec's checked splits and the raw-column
preprocessing fitted on its training rows; a module's synthetic holdout (seeded by its SEED)
and the preprocessing fitted on it."""

from __future__ import annotations

import pytest

from support.onnx_helpers import FEATURES, holdout
from training.data.spec import check_data
from training.data.split import split_frame
from training.onnx.preprocess import RawPreprocessor


@pytest.fixture(scope="module")
def parts(small_spec, small_data):
    df = check_data(small_spec, small_data)
    return split_frame(df, small_spec.target, small_spec.split.valid_fraction, small_spec.split.test_fraction,
                       date=small_spec.date)


@pytest.fixture(scope="module")
def pre(small_spec, parts):
    return RawPreprocessor(small_spec.features).fit(parts["train"])



@pytest.fixture(scope="module")
def data(request):
    """(train, test) synthetic applicants: holdout(SEED) of the module that asks."""
    return holdout(request.module.SEED)


@pytest.fixture(scope="module")
def preprocessor(data):
    return RawPreprocessor(FEATURES).fit(data[0])
