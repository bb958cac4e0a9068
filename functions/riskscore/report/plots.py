"""The one plotting module of every page: charts as inline SVG, drawn with numpy alone.

Why SVG from numpy rather than matplotlib PNGs: the drift check runs in a serving function
whose dependencies are onnxruntime, numpy and pydantic (matplotlib would add ~40 MB and about
a second of import to its cold start); inline SVG needs no data URI, stays sharp when zoomed
or printed, its text is searchable (a page test can read a chart's labels), and a chart of a
40,000-row histogram is a few kilobytes because data are binned with numpy before drawing.

A `Chart` collects primitives in data coordinates (lines, bands, stairs, bars, points,
reference lines), then `svg()` maps them to pixels with "nice" axis ticks and returns markup
safe to insert into an autoescaped template. Every text (title, labels, legend, category
names) is escaped here. Non-finite values are dropped, never drawn.

    chart = Chart(title="PSI per feature", xlabel="PSI", yfmt="pct")
    chart.hbars(["age", "income"], [0.02, 0.31], colors=[OK, ALERT])
    html = chart.figure("PSI of each feature", "Dotted lines: the warning and alert thresholds.")
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from markupsafe import Markup, escape

__all__ = ["ACCENT", "ALERT", "BAD", "Chart", "FONT", "GOOD", "LEGEND_ROW", "MARGIN", "OK", "REFERENCE",
           "STATUS_COLORS", "WARN", "nice_ticks"]

# Okabe-Ito colours (colour-blind safe), the same as style.css's variables.
GOOD = "#0072B2"
BAD = "#D55E00"
ACCENT = "#009E73"
REFERENCE = "#888888"
OK = "#1a7f37"
WARN = "#c08a00"
ALERT = "#b42318"
STATUS_COLORS = {"stable": OK, "warning": WARN, "alert": ALERT, "insufficient_data": REFERENCE}

FONT = 12
MARGIN = {"left": 64, "right": 16, "bottom": 48}
LEGEND_ROW = 18


def _fmt(value: float, kind: str | None, step: float) -> str:
    """A tick label: `kind` 'pct' shows a share as a percentage; decimals follow the tick step."""
    if kind == "pct":
        value, step = value * 100, step * 100
    decimals = max(0, -int(math.floor(math.log10(step)))) if step > 0 else 0
    text = f"{value:,.{min(decimals, 6)}f}"
    if text.startswith("-") and float(text.replace(",", "")) == 0:
        text = text[1:]
    return text + ("%" if kind == "pct" else "")


def nice_ticks(lo: float, hi: float, count: int = 6) -> np.ndarray:
    """Round tick values (1, 2, 2.5, 5 x 10^k steps) covering [lo, hi]."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return np.array([lo])
    raw = (hi - lo) / max(1, count - 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.ceil(lo / step - 1e-9) * step
    return np.arange(start, hi + step * 1e-9, step)


class Chart:
    """A 2-D chart: numeric axes, or a categorical x (`bars`) or y (`hbars`) axis."""

    def __init__(self, width: int = 640, height: int = 400, *, title: str = "", xlabel: str = "",
                 ylabel: str = "", xlim: tuple | None = None, ylim: tuple | None = None,
                 xfmt: str | None = None, yfmt: str | None = None, ylog: bool = False,
                 equal: bool = False):
        self.width, self.height = int(width), int(height)
        self.title, self.xlabel, self.ylabel = title, xlabel, ylabel
        self.xlim, self.ylim, self.xfmt, self.yfmt, self.ylog, self.equal = xlim, ylim, xfmt, yfmt, ylog, equal
        self.items: list[tuple] = []
        self.legend: list[tuple[str, str, str]] = []  # (label, colour, kind)
        self.xcats: list[str] | None = None
        self.ycats: list[str] | None = None
        self.xticklabels: tuple[Sequence[float], Sequence[str]] | None = None

    # ------------------------------------------------------------------ primitives

    def _label(self, label, color, kind):
        if label:
            self.legend.append((str(label), color, kind))

    def line(self, x, y, color=GOOD, *, width=1.8, dash=False, marker=False, label=None):
        self.items.append(("line", _f(x), _f(y), color, width, dash, marker))
        self._label(label, color, "dash" if dash else "line")

    def band(self, x, lo, hi, color=BAD, *, alpha=0.25, label=None):
        self.items.append(("band", _f(x), _f(lo), _f(hi), color, alpha))
        self._label(label, color, "box")

    def stairs(self, edges, heights, color=GOOD, *, fill=0.3, label=None):
        """A histogram: `heights[i]` over `[edges[i], edges[i+1])`."""
        self.items.append(("stairs", _f(edges), _f(heights), color, fill))
        self._label(label, color, "box")

    def scatter(self, x, y, color=REFERENCE, *, radius=1.6, alpha=0.35, label=None):
        self.items.append(("scatter", _f(x), _f(y), color, radius, alpha))
        self._label(label, color, "dot")

    def vline(self, x, color=REFERENCE, *, dash=True, text=None, label=None):
        self.items.append(("vline", float(x), color, dash, text))
        self._label(label, color, "dash" if dash else "line")

    def hline(self, y, color=REFERENCE, *, dash=True, text=None, label=None):
        self.items.append(("hline", float(y), color, dash, text))
        self._label(label, color, "dash" if dash else "line")

    def bars(self, categories: Sequence, series: Sequence[tuple], *, rotate: bool = False):
        """Grouped vertical bars: one group per category; `series` = [(values, colour, label)]."""
        self.xcats = [str(c) for c in categories]
        self.rotate = rotate
        for values, color, label in series:
            self._label(label, color, "box")
        self.items.append(("bars", [(_f(v), c) for v, c, _ in series]))

    def hbars(self, labels: Sequence, values, colors: Sequence[str] | str = GOOD, *, label=None):
        """Horizontal bars, first label at the top."""
        self.ycats = [str(c) for c in labels]
        colors = [colors] * len(self.ycats) if isinstance(colors, str) else list(colors)
        self.items.append(("hbars", _f(values), colors))
        self._label(label, colors[0] if colors else GOOD, "box")

    def set_xticklabels(self, positions, labels):
        self.xticklabels = (list(positions), [str(t) for t in labels])

    # ------------------------------------------------------------------ rendering

    def figure(self, alt: str, caption: str | Markup = "") -> Markup:
        """`<figure>` holding the chart; a plain-str caption is escaped, Markup kept."""
        return Markup('<figure class="chart">{}<figcaption>{}</figcaption></figure>').format(
            self.svg(alt), caption)

    def svg(self, alt: str = "") -> Markup:
        cols = self._legend_columns()
        legend_top = 40 if self.title else 18  # baseline of the first legend row
        top = legend_top - 12 + math.ceil(len(self.legend) / cols) * LEGEND_ROW + 10
        left = MARGIN["left"] + (max((len(c) for c in self.ycats), default=0) * 6.5 if self.ycats else 0)
        bottom = MARGIN["bottom"] + (40 if self.xcats and getattr(self, "rotate", False) else 0)
        pw, ph = self.width - left - MARGIN["right"], self.height - top - bottom
        x0, x1 = self._xrange()
        y0, y1 = self._yrange()
        if self.equal:  # same data units per pixel on both axes (ROC, calibration)
            side = min(pw, ph)
            pw = ph = side
        tx = _Scale(x0, x1, left, left + pw)
        ty = _Scale(y0, y1, top + ph, top, log=self.ylog)
        out = [f'<svg class="chart" viewBox="0 0 {self.width} {self.height}" width="{self.width}" '
               f'height="{self.height}" role="img" font-size="{FONT}" font-family="sans-serif">',
               f"<title>{escape(alt or self.title)}</title>"]
        if self.title:
            out.append(f'<text x="{left}" y="18" font-size="14" font-weight="600">{escape(self.title)}</text>')
        out += self._legend(left, legend_top, cols)
        out += self._axes(tx, ty, left, top, pw, ph)
        for item in self.items:
            out += getattr(self, "_draw_" + item[0])(tx, ty, *item[1:])
        out.append(f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="#b8bec6"/>')
        out.append("</svg>")
        return Markup("".join(out))

    def _xrange(self):
        if self.xcats is not None:
            return -0.5, len(self.xcats) - 0.5
        if self.xlim:
            return self.xlim
        vals = [v for item in self.items for v in _xs(item)]
        return _pad(vals, zero=False)

    def _yrange(self):
        if self.ycats is not None:
            return len(self.ycats) - 0.5, -0.5
        if self.ylim:
            return self.ylim
        vals = [v for item in self.items for v in _ys(item)]
        if self.ylog:
            pos = [v for v in vals if v > 0]
            return (min(pos), max(pos) * 1.5) if pos else (0.1, 1.0)
        zero = any(item[0] in ("stairs", "bars") for item in self.items)
        return _pad(vals, zero=zero)

    def _axes(self, tx, ty, left, top, pw, ph):
        out = []
        bottom_y = top + ph
        if self.xcats is not None:
            step = max(1, math.ceil(len(self.xcats) / max(1, pw / 40)))
            for i, name in enumerate(self.xcats):
                if i % step:
                    continue
                x = tx(i)
                if getattr(self, "rotate", False):
                    out.append(f'<text x="{x:.1f}" y="{bottom_y + 14}" text-anchor="end" '
                               f'transform="rotate(-35 {x:.1f} {bottom_y + 14})">{escape(_short(name))}</text>')
                else:
                    out.append(f'<text x="{x:.1f}" y="{bottom_y + 16}" text-anchor="middle">'
                               f'{escape(_short(name))}</text>')
        elif self.xticklabels is not None:
            pos, labels = self.xticklabels
            for p, name in zip(pos, labels):
                x = tx(p)
                out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{bottom_y}" stroke="#e3e6ea"/>')
                out.append(f'<text x="{x:.1f}" y="{bottom_y + 14}" text-anchor="end" font-size="10" '
                           f'transform="rotate(-40 {x:.1f} {bottom_y + 14})">{escape(name)}</text>')
        else:
            ticks = nice_ticks(tx.lo, tx.hi)
            step = float(ticks[1] - ticks[0]) if ticks.size > 1 else 1.0
            for t in ticks:
                x = tx(t)
                out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{bottom_y}" stroke="#e3e6ea"/>')
                out.append(f'<text x="{x:.1f}" y="{bottom_y + 16}" text-anchor="middle">'
                           f'{_fmt(t, self.xfmt, step)}</text>')
        if self.ycats is not None:
            for i, name in enumerate(self.ycats):
                out.append(f'<text x="{left - 6}" y="{ty(i) + 4:.1f}" text-anchor="end">{escape(name)}</text>')
        else:
            if self.ylog:
                lo, hi = math.floor(math.log10(ty.lo)), math.ceil(math.log10(ty.hi))
                ticks = [10.0 ** k for k in range(lo, hi + 1) if ty.lo <= 10.0 ** k <= ty.hi]
                labels = [f"{t:g}" for t in ticks]
            else:
                tk = nice_ticks(ty.lo, ty.hi)
                step = float(tk[1] - tk[0]) if tk.size > 1 else 1.0
                ticks, labels = list(tk), [_fmt(t, self.yfmt, step) for t in tk]
            for t, name in zip(ticks, labels):
                y = ty(t)
                out.append(f'<line x1="{left}" x2="{left + pw}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e3e6ea"/>')
                out.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{name}</text>')
        if self.xlabel:
            y = self.height - 8
            out.append(f'<text x="{left + pw / 2:.1f}" y="{y}" text-anchor="middle">{escape(self.xlabel)}</text>')
        if self.ylabel:
            cy = top + ph / 2
            out.append(f'<text x="14" y="{cy:.1f}" text-anchor="middle" transform="rotate(-90 14 {cy:.1f})">'
                       f"{escape(self.ylabel)}</text>")
        return out

    def _legend_columns(self) -> int:
        return max(1, min(3, self.width // 230))

    def _legend(self, left, y, cols):
        out = []
        col = (self.width - left - MARGIN["right"]) / cols
        for i, (label, color, kind) in enumerate(self.legend):
            x = left + (i % cols) * col
            yy = y + (i // cols) * LEGEND_ROW
            if kind == "box":
                out.append(f'<rect x="{x:.1f}" y="{yy - 9}" width="14" height="10" fill="{color}" '
                           f'fill-opacity="0.6" stroke="{color}"/>')
            elif kind == "dot":
                out.append(f'<circle cx="{x + 7:.1f}" cy="{yy - 4}" r="3.5" fill="{color}"/>')
            else:
                dash = ' stroke-dasharray="5 3"' if kind == "dash" else ""
                out.append(f'<line x1="{x:.1f}" x2="{x + 16:.1f}" y1="{yy - 4}" y2="{yy - 4}" '
                           f'stroke="{color}" stroke-width="2"{dash}/>')
            out.append(f'<text x="{x + 20:.1f}" y="{yy}">{escape(_short(label, 48))}</text>')
        return out

    # -- drawing each primitive ------------------------------------------------------

    @staticmethod
    def _draw_line(tx, ty, x, y, color, width, dash, marker):
        ok = np.isfinite(x) & np.isfinite(y)
        if ty.log:
            ok &= y > 0
        pts = " ".join(f"{tx(a):.1f},{ty(b):.1f}" for a, b in zip(x[ok], y[ok]))
        if not pts:
            return []
        d = ' stroke-dasharray="6 4"' if dash else ""
        out = [f'<polyline points="{pts}" fill="none" stroke="{color}" stroke-width="{width}"{d}/>']
        if marker:
            out += [f'<circle cx="{tx(a):.1f}" cy="{ty(b):.1f}" r="3" fill="{color}"/>'
                    for a, b in zip(x[ok], y[ok])]
        return out

    @staticmethod
    def _draw_band(tx, ty, x, lo, hi, color, alpha):
        ok = np.isfinite(x) & np.isfinite(lo) & np.isfinite(hi)
        if not ok.any():
            return []
        upper = [f"{tx(a):.1f},{ty(b):.1f}" for a, b in zip(x[ok], hi[ok])]
        lower = [f"{tx(a):.1f},{ty(b):.1f}" for a, b in zip(x[ok][::-1], lo[ok][::-1])]
        return [f'<polygon points="{" ".join(upper + lower)}" fill="{color}" fill-opacity="{alpha}"/>']

    @staticmethod
    def _draw_stairs(tx, ty, edges, heights, color, fill):
        base = ty.lo if ty.log else max(ty.lo, 0.0)
        h = np.where(np.isfinite(heights), heights, 0.0)
        if ty.log:
            h = np.where(h > 0, h, base)
        pts = [f"{tx(edges[0]):.1f},{ty(base):.1f}"]
        for i, v in enumerate(h):
            pts += [f"{tx(edges[i]):.1f},{ty(v):.1f}", f"{tx(edges[i + 1]):.1f},{ty(v):.1f}"]
        pts.append(f"{tx(edges[-1]):.1f},{ty(base):.1f}")
        return [f'<polygon points="{" ".join(pts)}" fill="{color}" fill-opacity="{fill}" stroke="{color}" '
                f'stroke-width="1.4"/>']

    @staticmethod
    def _draw_scatter(tx, ty, x, y, color, radius, alpha):
        ok = np.isfinite(x) & np.isfinite(y)
        dots = "".join(f'<circle cx="{tx(a):.1f}" cy="{ty(b):.1f}" r="{radius}"/>' for a, b in zip(x[ok], y[ok]))
        return [f'<g fill="{color}" fill-opacity="{alpha}">{dots}</g>']

    @staticmethod
    def _draw_vline(tx, ty, x, color, dash, text):
        d = ' stroke-dasharray="4 3"' if dash else ""
        px = tx(x)
        out = [f'<line x1="{px:.1f}" x2="{px:.1f}" y1="{ty.p0:.1f}" y2="{ty.p1:.1f}" stroke="{color}" '
               f'stroke-width="1.3"{d}/>']
        if text:
            out.append(f'<text x="{px + 3:.1f}" y="{ty.p1 + 12:.1f}" font-size="10" fill="#444">{escape(text)}</text>')
        return out

    @staticmethod
    def _draw_hline(tx, ty, y, color, dash, text):
        d = ' stroke-dasharray="4 3"' if dash else ""
        py = ty(y)
        out = [f'<line x1="{tx.p0:.1f}" x2="{tx.p1:.1f}" y1="{py:.1f}" y2="{py:.1f}" stroke="{color}" '
               f'stroke-width="1.3"{d}/>']
        if text:
            out.append(f'<text x="{tx.p1 - 3:.1f}" y="{py - 3:.1f}" text-anchor="end" font-size="10" '
                       f'fill="#444">{escape(text)}</text>')
        return out

    @staticmethod
    def _draw_bars(tx, ty, series):
        out = []
        k = len(series)
        width = 0.8 / max(1, k)
        base = ty(max(ty.lo, 0.0))
        for j, (values, color) in enumerate(series):
            for i, v in enumerate(values):
                if not np.isfinite(v):
                    continue
                x = tx(i - 0.4 + j * width)
                w = tx(i - 0.4 + (j + 1) * width) - x
                y = ty(v)
                out.append(f'<rect x="{x:.1f}" y="{min(y, base):.1f}" width="{max(w - 1, 1):.1f}" '
                           f'height="{abs(base - y):.1f}" fill="{color}" fill-opacity="0.75"/>')
        return out

    @staticmethod
    def _draw_hbars(tx, ty, values, colors):
        out = []
        base = tx(max(tx.lo, 0.0))
        for i, (v, color) in enumerate(zip(values, colors)):
            if not np.isfinite(v):
                continue
            x = tx(v)
            y0, y1 = ty(i - 0.38), ty(i + 0.38)
            out.append(f'<rect x="{min(x, base):.1f}" y="{min(y0, y1):.1f}" width="{abs(x - base):.1f}" '
                       f'height="{abs(y1 - y0):.1f}" fill="{color}"/>')
        return out


class _Scale:
    """Data value -> pixel, linear or log10; `p0`/`p1` are the pixel ends."""

    def __init__(self, lo, hi, p0, p1, log=False):
        self.lo, self.hi, self.p0, self.p1, self.log = float(lo), float(hi), float(p0), float(p1), log
        a, b = (math.log10(self.lo), math.log10(self.hi)) if log else (self.lo, self.hi)
        self.a, self.span = a, (b - a) or 1.0

    def __call__(self, v) -> float:
        v = float(v)
        if self.log:
            v = math.log10(max(v, self.lo))
        return self.p0 + (v - self.a) / self.span * (self.p1 - self.p0)


def _f(values) -> np.ndarray:
    return np.asarray(values, dtype=np.float64).ravel()


def _finite(values) -> list[float]:
    arr = _f(values)
    return arr[np.isfinite(arr)].tolist()


def _xs(item) -> list[float]:
    kind = item[0]
    if kind in ("line", "band", "scatter", "stairs"):
        return _finite(item[1])
    if kind == "vline":
        return _finite([item[1]])
    if kind == "hbars":
        return _finite(item[1]) + [0.0]
    return []


def _ys(item) -> list[float]:
    kind = item[0]
    if kind in ("line", "scatter"):
        return _finite(item[2])
    if kind == "band":
        return _finite(item[2]) + _finite(item[3])
    if kind == "stairs":
        return _finite(item[2])
    if kind == "hline":
        return _finite([item[1]])
    if kind == "bars":
        return [v for values, _ in item[1] for v in _finite(values)] + [0.0]
    return []


def _pad(values: list[float], zero: bool) -> tuple[float, float]:
    if not values:
        return 0.0, 1.0
    lo, hi = min(values), max(values)
    if zero:
        lo, hi = min(lo, 0.0), max(hi, 0.0)
    if hi <= lo:
        return lo - 0.5, hi + 0.5
    pad = (hi - lo) * 0.04
    return (lo if zero and lo == 0 else lo - pad), hi + pad


def _short(text: str, limit: int = 22) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
