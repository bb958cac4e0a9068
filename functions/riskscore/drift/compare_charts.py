"""The champion/challenger section of the monitoring page: charts of one comparison
(`riskscore.drift.compare.Comparison.result`), drawn with the one plotting module."""

from __future__ import annotations

from markupsafe import Markup

from riskscore.report.plots import ACCENT, BAD, GOOD, REFERENCE, Chart

__all__ = ["comparison_charts"]


def comparison_charts(c: dict) -> dict[str, Markup]:
    """{"scores": the two score distributions, "calibration": observed vs mean PD per band of
    both models (when the backtest exists)}."""
    charts: dict[str, Markup] = {}
    dist = c.get("score_distribution")
    if dist and dist.get("champion") and dist.get("challenger"):
        chart = Chart(720, 300, title="Score distribution: champion and challenger", yfmt="pct",
                      ylabel="Share of rows")
        chart.bars(dist["bins"], [(dist["champion"], GOOD, f"champion {c['champion_version']}"),
                                  (dist["challenger"], BAD, f"challenger {c['challenger_version']}")],
                   rotate=len(dist["bins"]) > 6)
        psi = "—" if dist.get("psi") is None else f"{dist['psi']:.3f}"
        charts["scores"] = chart.figure("Share of rows per score bin, champion and challenger",
                                        f"PSI of the challenger's scores against the champion's: {psi}; "
                                        "the champion's bins, frozen at its training.")
    bt = c.get("backtest")
    if bt:
        points = [(m, b) for m in ("champion", "challenger") for b in bt[m]["bands"]]
        top = max([max(b["mean_pd"], b["observed_rate"]) for _, b in points] + [0.01]) * 1.1
        chart = Chart(480, 400, title="Calibration per rating band", xlabel="Mean PD", ylabel="Observed default rate",
                      xlim=(0, top), ylim=(0, top), xfmt="pct", yfmt="pct", equal=True)
        chart.line([0, top], [0, top], REFERENCE, dash=True, label="perfect calibration")
        for model, color in (("champion", GOOD), ("challenger", ACCENT)):
            bands = bt[model]["bands"]
            chart.line([b["mean_pd"] for b in bands], [b["observed_rate"] for b in bands], color, marker=True,
                       label=model)
        charts["calibration"] = chart.figure("Observed default rate against mean PD per rating band, both models",
                                             "Each point is one rating band of that model.")
    return charts
