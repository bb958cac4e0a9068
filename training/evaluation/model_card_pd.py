"""Context of the model card's PD-family section, from the manifest's `models.pd` entry:
the regime, the champion candidates and the tests behind the choice, and for a scorecard its
information value per feature and its points table. Plain data; `card/pd_family.html` writes it."""

from __future__ import annotations

from training.evaluation.card_inputs import CardInputs, mapping, number_or_none, seq

__all__ = ["context"]


def context(card: CardInputs) -> dict:
    pd_entry = mapping(card.models.get("pd"))
    if not pd_entry.get("candidates"):
        return {"missing": "No PD family candidates in the manifest."}
    regime = mapping(pd_entry.get("regime"))
    points = [p for p in seq(pd_entry.get("points")) if isinstance(p, dict)]
    return {
        "regime": [("Family", str(pd_entry.get("family", "—"))),
                   ("Training regime", f"{regime.get('name', '—')}: {regime.get('reason', '')}"),
                   ("Champion selection", str(pd_entry.get("selection", "—")))]
                  + ([("Reported metrics", str(pd_entry["metrics_source"]))] if pd_entry.get("metrics_source") else []),
        "comparisons": [_comparison(c) for c in seq(pd_entry.get("comparisons")) if isinstance(c, dict)],
        "candidates": [{"family": str(c["family"]), "auc": number_or_none(c.get("selection_auc")),
                        "auc_std": number_or_none(c.get("auc_std")), "metric": str(c.get("metric", "")),
                        "rounds": number_or_none(c.get("n_estimators")), "chosen": bool(c.get("chosen"))}
                       for c in pd_entry["candidates"]],
        "information_value": [{"feature": str(r["feature"]), "iv": number_or_none(r["iv"]), "bins": str(r["bins"]),
                               "coefficient": number_or_none(r["coefficient"]), "used": bool(r["used"]),
                               "excluded_because": str(r.get("excluded_because") or "")}
                              for r in seq(pd_entry.get("information_value"))],
        "points": [{"feature": str(r["feature"]), "bin": str(r["bin"]), "count": number_or_none(r["count"]),
                    "defaults": number_or_none(r["defaults"]), "default_rate": number_or_none(r.get("default_rate")),
                    "woe": number_or_none(r["woe"]), "points": number_or_none(r["points"]),
                    "score_points": number_or_none(r.get("score_points"))} for r in points],
        "scaled": any("score_points" in r for r in points),
        "intercept": number_or_none(pd_entry.get("contribution_bias")),
    }


def _comparison(c: dict) -> dict:
    """One test behind the champion choice: a simpler family against the best one, DeLong on the
    validation rows (large tables) or one standard error over the folds (small tables)."""
    return {"family": str(c.get("family", "")), "versus": str(c.get("versus", "")),
            "test": str(c.get("test") or ("DeLong" if "p_value" in c else "one-standard-error rule")),
            "delong": "p_value" in c, "auc_difference": number_or_none(c.get("auc_difference")),
            "p_value": number_or_none(c.get("p_value")), "rows": number_or_none(c.get("rows")),
            "se": number_or_none(c.get("se")), "folds": number_or_none(c.get("folds")),
            "tie_tolerance": number_or_none(c.get("tie_tolerance")), "real": bool(c.get("shortfall_is_real"))}
