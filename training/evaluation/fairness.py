"""The model card's fairness section: its context, from the manifest.

Training computes the figures once, on the test rows, with the drift check's own computation
(`riskscore.drift.fairness.fairness_report`, in `training.train`) and stores them as
`manifest["fairness"]`; the section (template `card/fairness.html`) shows them.
"""

from __future__ import annotations

from collections.abc import Mapping

from riskscore.report import render

__all__ = ["fairness_context", "fairness_section"]


def fairness_context(manifest: Mapping, evaluation: Mapping | None = None) -> dict:
    """{"fairness": the manifest's figures, or None when the spec declares no protected columns}."""
    fairness = manifest.get("fairness")
    return {"fairness": fairness if isinstance(fairness, Mapping) and fairness.get("columns") is not None else None}


def fairness_section(manifest: Mapping, evaluation: Mapping | None = None) -> str:
    return render("card/fairness.html", **fairness_context(manifest, evaluation))
