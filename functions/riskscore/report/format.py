"""The one way every page and CLI writes numbers for people: percentages, points, counts.

A missing or non-finite value is written as an em dash, never as "nan" or "None".
"""

from __future__ import annotations

import math

__all__ = ["FILTERS", "MISSING", "count", "number", "percent", "points"]

MISSING = "—"


def _finite(value) -> bool:
    try:
        return value is not None and math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def percent(value, digits: int = 1) -> str:
    """A fraction as a percentage: 0.1234 -> "12.3%" (digits after the point)."""
    return f"{100 * float(value):.{digits}f}%" if _finite(value) else MISSING


def points(value, digits: int = 2) -> str:
    """A difference of two fractions in percentage points: 0.0123 -> "1.23 pp"."""
    return f"{100 * float(value):.{digits}f} pp" if _finite(value) else MISSING


def number(value, digits: int = 3) -> str:
    """A real number with fixed digits after the point."""
    return f"{float(value):.{digits}f}" if _finite(value) else MISSING


def count(value) -> str:
    """A whole number with thousands separators: 40086 -> "40,086"."""
    return f"{int(value):,}" if _finite(value) else MISSING


# Registered on the shared Jinja2 environment: {{ x | percent }}, {{ x | percent(2) }}.
FILTERS = {"percent": percent, "points": points, "number": number, "count": count}
