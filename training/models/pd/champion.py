"""Choosing the PD champion among the candidate families, by evidence.

Candidates are ranked simplest first (`SIMPLICITY`). The best selection AUC is the reference;
walking from the simplest family up, the first candidate whose shortfall from the best is not
real wins:

- **large tables** (a validation window of thousands of rows): DeLong's paired test of the two
  AUCs on the validation rows (`delong.py`). A shortfall is real when the test rejects equal
  AUCs (two-sided p < `ALPHA`). Forty thousand rows make a 0.002 gap measurable; a few
  hundred do not, and the rule knows the difference where a fixed tolerance cannot.
- **small tables** (cross-validation on the same folds for every candidate): the one-standard-
  error rule. A shortfall is real when it exceeds both `tie_tolerance` and one standard error
  of the per-fold AUC differences. With repeated folds the differences of one row's repeats
  are not independent, so the standard error counts one repeat's folds, not all of them.
"""

from __future__ import annotations

import numpy as np

from training.evaluation.delong import delong_test

# Simplest first: linear models with tabulated contributions, boosted trees, then the blend of both.
SIMPLICITY = ("logistic", "scorecard", "xgboost", "lightgbm", "blend")
ALPHA = 0.05


def _simpler_first(families) -> list[str]:
    return sorted(families, key=SIMPLICITY.index)


def choose_large(aucs: dict[str, float], y_valid, valid_pd: dict[str, np.ndarray]) -> tuple[str, str, list[dict]]:
    """(champion, why, comparisons) from validation AUCs and each candidate's validation PDs."""
    best = max(_simpler_first(aucs), key=lambda f: aucs[f])
    comparisons = []
    for fam in _simpler_first(aucs):
        if fam == best:
            return fam, _why_best(fam, aucs, comparisons, "validation AUC"), comparisons
        t = delong_test(y_valid, valid_pd[best], valid_pd[fam])
        real = t["p_value"] < ALPHA and t["diff"] > 0
        comparisons.append({"family": fam, "versus": best, "auc_difference": t["diff"], "se": t["se"],
                            "p_value": t["p_value"], "test": "DeLong paired, two-sided",
                            "rows": int(len(y_valid)), "shortfall_is_real": bool(real)})
        if not real:
            return fam, (f"{fam} {aucs[fam]:.4f} vs best {best} {aucs[best]:.4f} on {len(y_valid):,} validation "
                         f"rows: DeLong p = {t['p_value']:.3f} >= {ALPHA}, not a significant difference, so the "
                         "simpler family wins"), comparisons
    raise AssertionError("unreachable: the best candidate is always reached")


def choose_small(aucs: dict[str, float], fold_aucs: dict[str, list[float]], folds_per_repeat: int,
                 tolerance: float) -> tuple[str, str, list[dict]]:
    """(champion, why, comparisons) from mean CV AUCs and per-fold AUCs on shared folds."""
    best = max(_simpler_first(aucs), key=lambda f: aucs[f])
    comparisons = []
    for fam in _simpler_first(aucs):
        if fam == best:
            return fam, _why_best(fam, aucs, comparisons, "cross-validated AUC"), comparisons
        diffs = np.subtract(fold_aucs[best], fold_aucs[fam])
        se = float(np.std(diffs, ddof=1) / np.sqrt(folds_per_repeat)) if len(diffs) > 1 else 0.0
        margin = max(se, tolerance)
        gap = aucs[best] - aucs[fam]
        real = gap > margin
        comparisons.append({"family": fam, "versus": best, "auc_difference": float(gap), "se": se,
                            "tie_tolerance": tolerance, "folds": int(len(diffs)),
                            "test": "one-standard-error rule", "shortfall_is_real": bool(real)})
        if not real:
            return fam, (f"{fam} {aucs[fam]:.4f} within max(one standard error {se:.4f} of the {len(diffs)} "
                         f"per-fold differences, tie tolerance {tolerance}) of best {best} {aucs[best]:.4f}: "
                         "the simpler family wins"), comparisons
    raise AssertionError("unreachable: the best candidate is always reached")


def _why_best(fam: str, aucs: dict[str, float], comparisons: list[dict], metric: str) -> str:
    if len(aucs) == 1:
        return f"family {fam} fixed by the spec"
    beaten = ", ".join(f"{c['family']} (by {c['auc_difference']:.4f}, a real difference)" for c in comparisons)
    return (f"{fam} has the best {metric} {aucs[fam]:.4f}"
            + (f" and beats every simpler family: {beaten}" if beaten else ", and it is the simplest family"))
