"""Drift checks: `riskscore.drift.check` computes a window's report, `riskscore.drift.report`
writes and renders it, `riskscore.drift.sources` reads prediction logs and batch outputs,
`riskscore.drift.stats` holds the statistics training shares. `python -m riskscore.drift` runs one.
"""

from riskscore.drift.check import DRIFT_REPORTS_SCHEMA

__all__ = ["DRIFT_REPORTS_SCHEMA"]
