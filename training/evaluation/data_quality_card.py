"""Contexts of the model card's "Data quality" and "Multicollinearity" sections (templates
card/data_quality.html and card/collinearity.html): plain data from the manifest."""

from __future__ import annotations

from training.evaluation.card_inputs import CardInputs, mapping, seq


def data_quality(card: CardInputs) -> dict:
    """The gates' report (riskscore.contract.quality) as the manifest records it."""
    quality = mapping(card.manifest.get("data_quality"))
    if not quality:
        return {"missing": "This version was trained before the data-quality gates existed."}
    return {"rows": quality.get("rows"), "allowed": list(seq(quality.get("allowed"))),
            "gates": [{"name": str(g.get("name")), "passed": bool(g.get("passed")), "allowed": bool(g.get("allowed")),
                       "failures": [str(f) for f in seq(g.get("failures"))]} for g in seq(quality.get("gates"))],
            "missing_rates": sorted(mapping(quality.get("missing_rates")).items())}


def collinearity(card: CardInputs) -> dict:
    """VIFs of the numeric features, and the scorecard's `max_vif` drops with their reasons."""
    vif = [dict(r) for r in seq(mapping(card.manifest.get("collinearity")).get("vif"))]
    dropped = sorted((str(r.get("feature")), str(r.get("excluded_because")))
                     for r in seq(mapping(card.models.get("pd")).get("information_value"))
                     if str(r.get("excluded_because") or "").startswith("VIF "))
    if not vif and not dropped:
        return {"missing": "No numeric features, or a version trained before VIFs were recorded."}
    return {"vif": vif, "dropped": dropped}
