"""RunInference's ModelHandler for a model bundle: loaded once per worker process from the model
store (every sha256 verified by `riskscore.contract.bundle.load`), the version pinned at launch, and
batches scored by `batch_score`'s own code (`riskscore.batch.run.BatchScorer`, which calls the
one vectorized scoring core).

Beam's stock `OnnxModelHandlerNumpy` feeds `numpy.stack(batch)` to a graph's first input only;
these graphs take one input per column, so the handler scores whole Arrow record batches
instead: an example is a record batch of cast rows (`InputColumns.output_schema`), its
inference the record batch of their SCORES rows, row for row.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Iterable, Optional, Sequence

import pyarrow as pa
from apache_beam.ml.inference.base import ModelHandler, PredictionResult

METRICS_NAMESPACE = "riskscore"


class BundleModelHandler(ModelHandler[pa.RecordBatch, PredictionResult, Any]):
    """Scores record batches of cast rows with one pinned, verified model version.

    `max_batch_chunks`: how many record batches RunInference hands to one call; they are
    concatenated, so onnxruntime runs once per graph for all of them."""

    def __init__(self, model_store: str, model_name: str, model_version: str, run_date: date,
                 scored_at: datetime, *, ort_intra_op_threads: int = 1, max_batch_chunks: int = 4):
        super().__init__(min_batch_size=1, max_batch_size=max_batch_chunks)
        if not model_version:
            raise ValueError("model_version must be pinned at launch (a run scores with one version)")
        self.model_store, self.model_name, self.model_version = model_store, model_name, model_version
        self.run_date, self.scored_at = run_date, scored_at
        self.ort_intra_op_threads = ort_intra_op_threads
        self.max_batch_chunks = max_batch_chunks

    def load_model(self):
        """The verified bundle as a BatchScorer; Beam calls this once per worker process."""
        from riskscore.batch.run import BatchScorer
        from riskscore.model.loader import load_model
        from riskscore.settings import BatchSettings

        settings = BatchSettings(model_store=self.model_store, model_name=self.model_name,
                                 model_version=self.model_version,
                                 ort_intra_op_threads=self.ort_intra_op_threads, ort_inter_op_threads=1)
        return BatchScorer(load_model(settings), self.run_date, self.scored_at)  # every sha256 verified

    def run_inference(self, batch: Sequence[pa.RecordBatch], model, inference_args: Optional[dict] = None
                      ) -> Iterable[PredictionResult]:
        """One SCORES record batch per example, in order."""
        if len(batch) == 1:
            return [PredictionResult(batch[0], model.scores(batch[0]))]
        merged = pa.Table.from_batches(list(batch)).combine_chunks().to_batches()
        rows = merged[0] if merged else batch[0]
        scores = model.scores(rows)
        out, start = [], 0
        for example in batch:
            out.append(PredictionResult(example, scores.slice(start, example.num_rows)))
            start += example.num_rows
        return out

    def get_num_bytes(self, batch: Sequence[pa.RecordBatch]) -> int:
        return sum(b.nbytes for b in batch)

    def get_metrics_namespace(self) -> str:
        return METRICS_NAMESPACE

    def share_model_across_processes(self) -> bool:
        return False  # one model per SDK process (one process per vCPU): no cross-process locking
