"""Adverse-action reasons and the applicant-facing explanation, from the PD graph's exact
per-feature log-odds contributions (contribution_bias + sum = logit)."""

from __future__ import annotations

from .schema import FeatureSpec

MAX_REASONS = 4


def _value_text(f: FeatureSpec, value) -> str:
    if value is None or value == "":
        return "not provided"
    if f.type == "categorical":
        return str(value).replace("_", " ")
    v = float(value)
    return f"{int(v):,}" if v.is_integer() else f"{v:,.2f}"


def reason_text(f: FeatureSpec, value) -> str:
    subject = (f.description or f.name.replace("_", " ")).strip()
    subject = subject[:1].upper() + subject[1:]
    return f"{subject}: {_value_text(f, value)}, which raises the estimated risk of default"


def adverse_reasons(features: list[FeatureSpec], values: dict, contributions, limit: int = MAX_REASONS) -> list[dict]:
    """The features that raise the risk most (positive contributions), largest first, at most `limit`."""
    ranked = sorted(((float(c), f) for c, f in zip(contributions, features) if c > 0),
                    key=lambda cf: -cf[0])[:limit]
    return [{"feature": f.name, "value": values.get(f.name), "contribution": round(c, 4),
             "text": reason_text(f, values.get(f.name))} for c, f in ranked]


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
