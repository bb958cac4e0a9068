"""The model card's fairness section: its context, from the manifest.

Training computes the figures once, on the test rows, with the drift check's own computation
(`riskscore.drift.fairness.fairness_report`, called in `training.train`) and stores them as
`manifest["fairness"]`; the section (template `card/fairness.html`) shows them.
"""

from __future__ import annotations

from collections.abc import Mapping

from training.evaluation.card_inputs import CardInputs

__all__ = ["context"]


def context(card: CardInputs) -> dict:
    fairness = card.manifest.get("fairness")
    if not isinstance(fairness, Mapping) or fairness.get("columns") is None:
        return {"missing": "The spec declares no protected columns (protected:), so no fairness figures."}
    return {"fairness": fairness}
