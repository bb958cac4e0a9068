"""The report layer's plotting module: numpy-only inline SVG."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

import numpy as np
import pytest
from markupsafe import Markup

from riskscore.report.plots import Chart, nice_ticks

ROOT = Path(__file__).resolve().parents[3]


def parse(svg: str) -> ElementTree.Element:
    return ElementTree.fromstring(str(svg))  # well-formed XML, or this raises


def test_text_is_escaped_and_the_svg_well_formed():
    chart = Chart(title="<b>PSI</b> & more", xlabel="x < 1")
    chart.hbars(["age", "<script>alert(1)</script>"], [0.1, 0.3], label="a \"quoted\" label")
    svg = chart.svg("alt & text")
    assert "<script>" not in svg and "&lt;script&gt;" in svg and "&lt;b&gt;PSI&lt;/b&gt; &amp; more" in svg
    root = parse(svg)
    assert root.find("title").text == "alt & text"
    assert isinstance(svg, Markup)


def test_bars_are_drawn_to_scale():
    chart = Chart(400, 300, xlim=(0, 1))
    chart.hbars(["a", "b"], [0.25, 0.5], ["#111111", "#222222"])
    rects = [r for r in parse(chart.svg()).iter("rect") if r.get("fill") in ("#111111", "#222222")]
    widths = {r.get("fill"): float(r.get("width")) for r in rects}
    assert widths["#222222"] == pytest.approx(2 * widths["#111111"], rel=0.02)


def test_non_finite_values_are_not_drawn():
    chart = Chart()
    chart.line([0, 1, 2, 3], [1.0, np.nan, np.inf, 2.0])
    points = parse(chart.svg()).find("polyline").get("points").split()
    assert len(points) == 2


def test_log_axis_ticks_are_powers_of_ten():
    chart = Chart(ylog=True)
    chart.stairs([0, 1, 2, 3], [1, 50, 2000])
    labels = [t.text for t in parse(chart.svg()).iter("text")]
    assert {"1", "10", "100", "1000"} <= set(labels)


@pytest.mark.parametrize("lo, hi", [(0, 1), (0.003, 0.31), (300, 900), (-2.5, 7.1)])
def test_nice_ticks_cover_the_range_with_round_steps(lo, hi):
    ticks = nice_ticks(lo, hi)
    step = ticks[1] - ticks[0]
    assert ticks[0] >= lo - 1e-12 and ticks[-1] <= hi + 1e-12 and 3 <= ticks.size <= 12
    assert re.fullmatch(r"(1|2|2\.5|5)(0*)", f"{step / 10 ** np.floor(np.log10(step)):g}".replace(".0", ""))


def test_the_report_layer_needs_no_matplotlib_or_pandas():
    code = ("import sys; from riskscore.report.plots import Chart; from riskscore.drift import report; "
            "c = Chart(); c.line([0, 1], [0, 1]); c.svg(); "
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('matplotlib', 'pandas', 'scipy', 'sklearn')); "
            "assert not bad, bad")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          cwd=ROOT / "functions")
    assert proc.returncode == 0, proc.stderr[-2000:]
