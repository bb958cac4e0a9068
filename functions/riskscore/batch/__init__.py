"""Batch scoring: tables and files of any size, streamed through the one scoring core.

Public API (imports pyarrow only when used; the schemas are plain lists):
  SCORES_SCHEMA, REJECTS_SCHEMA   the output columns in BigQuery REST form (riskscore.batch.schema)
  riskscore.batch.sources         open_source: inputs as Arrow
                                  record batches cast by the spec's declared types, with rejects
  riskscore.batch.columns         InputColumns (which columns, which types), Chunk
  riskscore.batch.run             run(source, destination, run_date, model, settings)
  python -m riskscore.batch       the command line
"""

from riskscore.batch.schema import REJECTS_SCHEMA, SCORES_SCHEMA

__all__ = ["SCORES_SCHEMA", "REJECTS_SCHEMA"]
