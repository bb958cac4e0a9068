"""Data-quality gates on a batch input (riskscore.contract.quality), measured while the run reads it.

The gates see every raw record batch as read (before casting), in the same single pass that
scores it; `report()` is evaluated before the run's output is committed, so a failing gate
leaves nothing written (the sink is aborted) and the run answers 422 naming the gate.

Thresholds come from the model's manifest: the spec's `quality` block (defaults for a model
trained before the gates existed) and the training table's null rate per column
(`data_quality.missing_rates`), which a batch column may exceed by `baseline_missing_margin`.
"""

from __future__ import annotations

from typing import Iterable, Iterator

from riskscore.contract.manifest import Manifest
from riskscore.contract.quality import QualitySpec, QualityStats, check_allow, enforce, evaluate
from riskscore.batch.columns import InputColumns


class BatchGates:
    def __init__(self, manifest: Manifest | dict, allow: Iterable[str] = ()):
        m = Manifest.of(manifest)
        self.columns = InputColumns.from_manifest(m)
        self.spec = QualitySpec.model_validate(m.spec.get("quality") or {})
        self.baseline = (m.raw.get("data_quality") or {}).get("missing_rates") or {}
        self.allow = check_allow(allow)
        self.stats = QualityStats(self.columns.names, id_column=self.columns.id)

    def observe(self, batches: Iterable) -> Iterator:
        """`batches`, unchanged, measured on their way through."""
        for batch in batches:
            self.stats.update(batch)
            yield batch

    def report(self) -> dict:
        required = [c for c in self.columns.required if c not in {f.name for f in self.columns.features}]
        return evaluate(self.stats, self.spec, features=self.columns.features, required=required, mode="batch",
                        allow=self.allow, baseline_missing=self.baseline)

    def enforce(self, where: str) -> dict:
        """The report, or QualityGateFailed (422) naming every failing gate not allowed."""
        return enforce(self.report(), where)
