"""Rows of the model card's PD-family tables, built from the manifest's `models.pd` entry.

Plain data (headers and rows of display strings, no HTML), so any renderer (today's
model_card.py, a Jinja2 template later) can lay them out: champion candidates, information
value per feature, and the scorecard's points table.
"""

from __future__ import annotations

from collections.abc import Mapping

from riskscore.report.format import number, percent


def _num(value, digits: int = 4) -> str:
    return number(value, digits)


def _pct(value) -> str:
    return percent(value, 2)  # written as the rest of the card writes percentages


def candidate_table(pd_entry: Mapping) -> tuple[list[str], list[list[str]]]:
    """One row per PD family trained: its selection AUC, how it was measured, and the verdict."""
    headers = ["Family", "Selection AUC", "± (folds' SD)", "Measured by", "Boosting rounds", "Chosen"]
    rows = [[c["family"], _num(c.get("selection_auc")), _num(c.get("auc_std")), c.get("metric", ""),
             "—" if c.get("n_estimators") is None else str(c["n_estimators"]), "yes" if c.get("chosen") else "no"]
            for c in pd_entry.get("candidates", [])]
    return headers, rows


def regime_lines(pd_entry: Mapping) -> list[tuple[str, str]]:
    """Key/value lines: family, regime and why, selection rule."""
    regime = pd_entry.get("regime") or {}
    lines = [("Family", str(pd_entry.get("family", "—"))),
             ("Training regime", f"{regime.get('name', '—')}: {regime.get('reason', '')}"),
             ("Champion selection", str(pd_entry.get("selection", "—")))]
    for c in pd_entry.get("comparisons") or []:
        test = (f"DeLong p = {c['p_value']:.3f} on {c['rows']:,} validation rows" if "p_value" in c
                else f"one standard error {_num(c.get('se'))} over {c.get('folds')} folds")
        verdict = "a real shortfall" if c.get("shortfall_is_real") else "not a real shortfall: chosen"
        lines.append((f"{c['family']} vs {c['versus']}", f"{_num(c.get('auc_difference'))} AUC behind ({test}): "
                                                          f"{verdict}"))
    if pd_entry.get("metrics_source"):
        lines.append(("Reported metrics", str(pd_entry["metrics_source"])))
    return lines


def iv_table(pd_entry: Mapping) -> tuple[list[str], list[list[str]]]:
    """Scorecard: information value per feature, its bins, coefficient and use."""
    headers = ["Feature", "Information value", "Bins", "Coefficient", "Used", "Why not"]
    rows = [[r["feature"], _num(r["iv"]), str(r["bins"]), _num(r["coefficient"]), "yes" if r["used"] else "no",
             r.get("excluded_because") or ""]
            for r in pd_entry.get("information_value", [])]
    return headers, rows


def points_table(pd_entry: Mapping) -> tuple[list[str], list[list[str]]]:
    """Scorecard: every bin of every used feature with counts, default rate, WoE and points."""
    points = pd_entry.get("points", [])
    scaled = any("score_points" in r for r in points)
    headers = ["Feature", "Bin", "Count", "Defaults", "Default rate", "WoE", "Points (log-odds)"]
    headers += ["Score points"] if scaled else []
    rows = []
    for r in points:
        row = [r["feature"], r["bin"], str(r["count"]), str(r["defaults"]), _pct(r.get("default_rate")),
               _num(r["woe"]), _num(r["points"])]
        if scaled:
            row.append(_num(r.get("score_points"), 1))
        rows.append(row)
    return headers, rows
