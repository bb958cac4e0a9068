"""Adverse-action reasons and the applicant-facing explanation, from the PD graph's exact
per-feature log-odds contributions (contribution_bias + sum = logit)."""

from __future__ import annotations

import numpy as np

from riskscore.contract.schema import FeatureSpec

__all__ = ["MAX_REASONS", "explanation", "reason_list", "reason_text", "top_reasons"]

MAX_REASONS = 4


def top_reasons(contributions, limit: int = MAX_REASONS) -> tuple[np.ndarray, np.ndarray]:
    """The features that raise the risk most, for every row at once.

    `contributions` [N, F] (per-feature log-odds) -> (`index` [N, limit] int64, the feature's
    position or -1 where there is no further reason; `value` [N, limit] float64, the
    contribution or NaN). Only positive contributions count; largest first; equal
    contributions in feature order (a stable sort), so every caller ranks ties alike.
    """
    c = np.asarray(contributions, dtype=np.float64)
    if c.ndim == 1:
        c = c.reshape(1, -1)
    n, f = c.shape
    if f < limit:  # fewer features than reasons: pad with columns that are never positive
        c = np.hstack([c, np.zeros((n, limit - f))])
    masked = np.where(c > 0, c, -np.inf)  # NaN > 0 is False: never a reason
    order = np.argsort(-masked, axis=1, kind="stable")[:, :limit]
    value = np.take_along_axis(masked, order, axis=1)
    keep = value > 0
    return np.where(keep, order, -1).astype(np.int64), np.where(keep, value, np.nan)


def _value_text(f: FeatureSpec, value) -> str:
    if value is None or value == "":
        return "not provided"
    if f.type == "categorical":
        return str(value).replace("_", " ")
    v = float(value)
    return f"{int(v):,}" if v.is_integer() else f"{v:,.2f}"


def reason_text(f: FeatureSpec, value, derived: bool = False) -> str:
    """A derived feature (computed in the graph, not sent) is named by its description alone."""
    subject = (f.description or f.name.replace("_", " ")).strip()
    subject = subject[:1].upper() + subject[1:]
    if derived:
        return f"{subject}, which raises the estimated risk of default"
    return f"{subject}: {_value_text(f, value)}, which raises the estimated risk of default"


def reason_list(features: list[FeatureSpec], values: dict, index, contribution,
                derived: frozenset = frozenset()) -> list[dict]:
    """One row's ranked reasons (from `top_reasons`, contributions already rounded) with texts;
    `derived` names the features computed in the graph (they have no value in the request)."""
    return [{"feature": features[i].name, "value": values.get(features[i].name), "contribution": float(c),
             "text": reason_text(features[i], values.get(features[i].name), features[i].name in derived)}
            for i, c in zip(index.tolist(), contribution.tolist()) if i >= 0]


def explanation(rating: str, pd_: float, reasons: list[dict], features: list[FeatureSpec]) -> str:
    """A short paragraph for the applicant, built from the rating and the reasons."""
    text = (f"Your application was rated {rating}, with an estimated {pd_:.1%} chance of "
            f"falling seriously behind on payments within a year.")
    if not reasons:
        return text + " None of the information provided raised this estimate."
    by_name = {f.name: f for f in features}
    parts = [(by_name[r["feature"]].description or r["feature"].replace("_", " ")) for r in reasons]
    listed = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    return text + f" The factors that raised it most were: {listed}."
