"""The drift check's closed-form statistics against scipy and scikit-learn (training-side
libraries the serving functions do not ship)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import roc_auc_score

from riskscore.drift.check import auc_ks, worst
from riskscore.drift.stats import DriftSpec, chi2_homogeneity, chi2_sf, ks_binned, ks_pvalue


@pytest.mark.parametrize("lam", [0.2, 0.35, 0.5, 0.8, 1.0, 1.36, 2.0, 3.0, 5.0])
def test_ks_pvalue_is_the_kolmogorov_survival_function(lam):
    n, m = 400, 900
    d = lam / np.sqrt(n * m / (n + m))
    assert ks_pvalue(d, n, m) == pytest.approx(stats.kstwobign.sf(lam), rel=1e-9, abs=1e-15)


@pytest.mark.parametrize("x, dof", [(0.5, 1), (3.84, 1), (1.0, 3), (7.81, 3), (11.07, 5), (2.0, 10), (30.0, 10),
                                    (150.0, 12), (0.01, 2), (60.0, 40), (500.0, 3)])
def test_chi2_sf_matches_scipy(x, dof):
    assert chi2_sf(x, dof) == pytest.approx(stats.chi2.sf(x, dof), rel=1e-9, abs=1e-300)


def test_chi2_homogeneity_matches_scipy_contingency():
    expected, actual = [120, 300, 80, 0, 500], [100, 350, 60, 0, 490]
    stat, dof = chi2_homogeneity(expected, actual)
    ref = stats.chi2_contingency(np.array([expected, actual])[:, [0, 1, 2, 4]], correction=False)
    assert stat == pytest.approx(ref.statistic) and dof == ref.dof


def test_ks_binned_is_the_largest_cdf_gap():
    assert ks_binned([0.25, 0.25, 0.5], [0.5, 0.25, 0.25]) == pytest.approx(0.25)
    assert ks_binned([0.2, 0.8], [0.2, 0.8]) == 0.0


def test_auc_and_ks_match_independent_computations():
    rng = np.random.default_rng(3)
    y = (rng.random(5000) < 0.1).astype(np.int8)
    p = np.round(np.clip(rng.normal(0.1 + 0.1 * y, 0.08), 0, 1), 2)  # rounded: many ties
    auc, ks = auc_ks(y, p)
    assert auc == pytest.approx(roc_auc_score(y, p), abs=1e-12)
    assert ks == pytest.approx(stats.ks_2samp(p[y == 1], p[y == 0]).statistic, abs=1e-12)


@pytest.mark.parametrize("value, status", [(None, "stable"), (0.0, "stable"), (0.099, "stable"), (0.1, "warning"),
                                           (0.25, "warning"), (0.2501, "alert"), (3.0, "alert")])
def test_thresholds(value, status):
    assert DriftSpec().status(value) == status


def test_thresholds_are_overridable_and_checked():
    assert DriftSpec(psi_warning=0.02, psi_alert=0.05).status(0.03) == "warning"
    with pytest.raises(ValueError, match="psi_alert"):
        DriftSpec(psi_warning=0.3, psi_alert=0.2)


@pytest.mark.parametrize("statuses, expected", [(["stable", "alert", "warning"], "alert"),
                                                (["insufficient_data", "stable"], "stable"),
                                                (["insufficient_data"], "insufficient_data"), ([], "insufficient_data")])
def test_worst_status(statuses, expected):
    assert worst(statuses) == expected
