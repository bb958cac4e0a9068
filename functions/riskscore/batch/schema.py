"""The batch outputs' columns, declared once: BigQuery REST form (Terraform and the table
writer) and Arrow (the Parquet writer). Readers of the outputs (drift, Dataflow) rely on them.

`scores`: one row per scored input row; `rejects`: one row per rejected input row. In Parquet
outputs (`DEST/run_date=YYYY-MM-DD/scores.parquet`), `run_date` is not stored in the file: the
Hive-style folder carries it, and readers (BigQuery external tables, DuckDB, pandas/pyarrow)
add it from the path; a file holding it too makes pandas refuse the folder.
"""

from __future__ import annotations

__all__ = ["FEW_VALUES", "FILE_EXCLUDED", "ID_COLUMN", "REASONS", "REJECTS_SCHEMA", "SCORES_SCHEMA",
           "arrow_schema", "schema_for"]

REASONS = 4
# The id column, named as in the default spec (training/specs/credit_default.yaml), which is
# what Terraform declares; `schema_for` renames it to another spec's id column.
ID_COLUMN = "applicant_id"


def _f(name: str, type_: str, mode: str = "NULLABLE", description: str = "") -> dict:
    field = {"name": name, "type": type_, "mode": mode}
    if description:
        field["description"] = description
    return field


SCORES_SCHEMA: list[dict] = [
    _f(ID_COLUMN, "STRING", description="the spec's id column (under its own name)"),
    _f("pd", "FLOAT", "REQUIRED", "probability of default within 12 months"),
    _f("score", "FLOAT", "REQUIRED", "credit score, rounded to 0.1"),
    _f("rating", "STRING", "REQUIRED", "rating band of the score"),
    _f("lgd", "FLOAT", description="loss given default in [0, 1]"),
    _f("exposure", "FLOAT", description="exposure at default, from the spec's exposure column"),
    _f("expected_loss", "FLOAT", description="pd x lgd x exposure, rounded to 0.01"),
    _f("segment", "INTEGER", description="segment id, 0 = lowest default rate"),
    _f("segment_name", "STRING"),
    _f("anomaly_score", "FLOAT", description="above 0 is unusual"),
    _f("anomaly_flag", "BOOLEAN"),
    *[_f(f"reason_{k}", "STRING", description=f"feature with the {k}. largest risk-raising contribution")
      for k in range(1, REASONS + 1)],
    *[_f(f"reason_{k}_contribution", "FLOAT", description="its log-odds contribution, rounded to 4 places")
      for k in range(1, REASONS + 1)],
    _f("model_version", "STRING", "REQUIRED"),
    _f("run_date", "DATE", "REQUIRED", "the run's date (partition)"),
    _f("scored_at", "TIMESTAMP", "REQUIRED"),
]

REJECTS_SCHEMA: list[dict] = [
    _f("row_number", "INTEGER", "REQUIRED", "1-based position in the input (files of a prefix in name order)"),
    _f(ID_COLUMN, "STRING", description="the spec's id column, as given"),
    _f("field", "STRING", "REQUIRED", "offending columns, comma-separated"),
    _f("reason", "STRING", "REQUIRED", "what is wrong with each, '; '-separated"),
    _f("raw", "STRING", "REQUIRED", "the row's input values as JSON text"),
    _f("run_date", "DATE", "REQUIRED", "the run's date (partition)"),
]

FILE_EXCLUDED = ("run_date",)  # carried by the Hive-style folder in Parquet outputs
# Columns with few distinct values in a run: dictionary-encoded in Parquet. The others (ids,
# floats, raw rows) are not: hashing every value costs CPU and, unique, they only grow the file.
FEW_VALUES = ("rating", "segment", "segment_name", *[f"reason_{k}" for k in range(1, REASONS + 1)],
              "model_version", "scored_at", "field", "reason")


def schema_for(schema: list[dict], id_column: str | None) -> list[dict]:
    """`schema` with the id column renamed to the spec's id column (dropped without one)."""
    out = []
    for field in schema:
        if field["name"] == ID_COLUMN:
            if id_column is None:
                continue
            field = dict(field, name=id_column)
        out.append(field)
    return out


def arrow_schema(schema: list[dict], *, for_files: bool):
    """The Arrow schema of `schema` (BigQuery form); `for_files` drops the Hive partition column."""
    import pyarrow as pa

    types = {"STRING": pa.string(), "FLOAT": pa.float64(), "INTEGER": pa.int64(), "BOOLEAN": pa.bool_(),
             "DATE": pa.date32(), "TIMESTAMP": pa.timestamp("us", tz="UTC")}
    return pa.schema([pa.field(f["name"], types[f["type"]], nullable=f["mode"] != "REQUIRED")
                      for f in schema if not (for_files and f["name"] in FILE_EXCLUDED)])
