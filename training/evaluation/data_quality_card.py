"""Contexts of the model card's "Data quality" and "Multicollinearity" sections (templates
card/data_quality.html and card/collinearity.html): plain data taken from the manifest."""

from __future__ import annotations

from collections.abc import Mapping


def _mapping(value) -> Mapping:
    return value if isinstance(value, Mapping) else {}


def data_quality_context(manifest: Mapping) -> dict:
    """{"quality": the gates' report (riskscore.contract.quality) or None for older versions}."""
    return {"quality": manifest.get("data_quality")}


def collinearity_context(manifest: Mapping) -> dict:
    """{"vif": [{feature, vif, collinear}], "dropped": {feature: why}} (the scorecard's max_vif drops)."""
    pd_entry = _mapping(_mapping(manifest.get("models")).get("pd"))
    dropped = {r["feature"]: r["excluded_because"] for r in pd_entry.get("information_value") or []
               if str(r.get("excluded_because") or "").startswith("VIF ")}
    return {"vif": list(_mapping(manifest.get("collinearity")).get("vif") or []), "dropped": dropped}
