"""DeLong's paired AUC test against its definition (the O(m·n) placement values) and its
behaviour on identical, clearly different and nearly equal models."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from training.evaluation.delong import delong_covariance, delong_test


def _definition(y, scores):
    """The DeLong covariance straight from its definition: psi over every positive-negative pair."""
    y = np.asarray(y).astype(bool)
    v01, v10 = [], []
    for s in scores:
        p, q = s[y], s[~y]
        psi = (p[:, None] > q[None, :]) + 0.5 * (p[:, None] == q[None, :])
        v01.append(psi.mean(axis=1))
        v10.append(psi.mean(axis=0))
    return np.cov(np.array(v01)) / y.sum() + np.cov(np.array(v10)) / (~y).sum()


@pytest.fixture
def data():
    rng = np.random.default_rng(3)
    y = rng.random(400) < 0.3
    signal = y + rng.normal(size=400)
    a = np.round(signal + rng.normal(scale=0.5, size=400), 1)  # ties on purpose
    b = signal + rng.normal(scale=1.5, size=400)
    return y, a, b, signal


def test_matches_definition_and_sklearn(data):
    y, a, b, _ = data
    aucs, cov = delong_covariance(y, [a, b])
    np.testing.assert_allclose(aucs, [roc_auc_score(y, a), roc_auc_score(y, b)], atol=1e-12)
    np.testing.assert_allclose(cov, _definition(y, [a, b]), rtol=1e-10)


def test_identical_scores_never_differ(data):
    y, a, _, _ = data
    assert delong_test(y, a, a)["p_value"] == 1.0


@pytest.mark.parametrize("noise_b, significant", [(1.5, True), (0.5, False)])
def test_significance(data, noise_b, significant):
    y, a, _, signal = data
    b = signal + np.random.default_rng(5).normal(scale=noise_b, size=len(y))
    result = delong_test(y, a, b)
    assert (result["p_value"] < 0.05) is significant, result


def test_needs_both_classes():
    with pytest.raises(ValueError, match="at least two rows of each class; found 1 positive"):
        delong_test([1, 0, 0], [0.1, 0.2, 0.3], [0.3, 0.2, 0.1])
