"""Discrimination and calibration metrics for a PD model, as risk teams read them."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score, roc_curve


def ks_statistic(y: np.ndarray, p: np.ndarray) -> float:
    fpr, tpr, _ = roc_curve(y, p)
    return float(np.max(tpr - fpr))


def calibration_table(y: np.ndarray, p: np.ndarray, bins: int = 10) -> list[dict]:
    """Rows sorted by PD cut into `bins` equal-count groups: predicted vs observed default rate."""
    order = np.argsort(p, kind="stable")
    rows = []
    for i, idx in enumerate(np.array_split(order, bins), start=1):
        if len(idx) == 0:
            continue
        rows.append({"decile": i, "count": int(len(idx)), "pd_min": float(p[idx].min()),
                     "pd_max": float(p[idx].max()), "mean_pd": float(p[idx].mean()),
                     "observed_rate": float(y[idx].mean()), "defaults": int(y[idx].sum())})
    return rows


def pd_metrics(y: np.ndarray, p: np.ndarray) -> dict:
    auc = float(roc_auc_score(y, p))
    return {"rows": int(len(y)), "default_rate": float(np.mean(y)), "mean_pd": float(np.mean(p)),
            "auc": auc, "gini": 2 * auc - 1, "ks": ks_statistic(y, p),
            "brier": float(brier_score_loss(y, p)), "pr_auc": float(average_precision_score(y, p)),
            "calibration": calibration_table(y, p)}
