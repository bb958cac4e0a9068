"""PD family selection end to end on the synthetic table: the large regime fits every candidate
on train, judges them on the validation slice and records DeLong's evidence for the champion."""

from __future__ import annotations

import numpy as np

from training.data.spec import check_data
from training.data.split import split_frame
from training.models.pd.family import SIMPLICITY, fit_pd


def quiet(*_a, **_k):
    pass


def test_large_regime_compares_every_candidate_by_delong(small_spec, small_data):
    spec = small_spec.model_copy(update={"pd_model": small_spec.pd_model.model_copy(
        update={"family": "auto", "small_data_rows": 0})})
    parts = split_frame(check_data(spec, small_data), spec.target, 0.15, 0.2, date=spec.date)
    fit = fit_pd(spec, parts["train"], parts["train"][spec.target], parts["valid"], parts["valid"][spec.target],
                 log=quiet)
    assert fit.regime["name"] == "large"
    assert [c["family"] for c in fit.candidates] == list(SIMPLICITY)
    chosen = next(c for c in fit.candidates if c["chosen"])
    assert chosen["family"] == fit.model.family
    # walking simplest first: each family before the champion was really behind the best; a
    # champion that is not the best is the first whose shortfall was not significant
    order = [c["family"] for c in fit.candidates]
    best = max(fit.candidates, key=lambda c: c["selection_auc"])["family"]
    k = order.index(fit.model.family)
    expected = order[:k] if fit.model.family == best else order[:k + 1]
    assert [c["family"] for c in fit.comparisons] == expected
    assert all(c["test"] == "DeLong paired, two-sided" and c["rows"] == len(parts["valid"])
               for c in fit.comparisons)
    assert [c["shortfall_is_real"] for c in fit.comparisons] == [True] * len(order[:k]) + (
        [] if fit.model.family == best else [False])
    assert fit.oof is None
    # the champion's validation PDs, kept for the version's metrics["valid"] (not predicted again)
    np.testing.assert_allclose(fit.valid_pd, fit.model.predict_native(parts["valid"])["pd"], rtol=1e-12, atol=0)
