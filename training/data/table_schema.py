"""The BigQuery tables a spec expects: the training table (`training_data_table`: what the weekly
job trains on) and the portfolio table (`batch_source_table`: what the nightly batch and the
monthly Dataflow run rescore), as BigQuery schema JSON (the `bq mk --schema` / REST form) and as
DDL (`CREATE TABLE`).

Types are the ones the readers accept without a cast: numeric features FLOAT64 (INT64 and NUMERIC
columns are read too), categorical features STRING (integer codes are read too), the id STRING,
exposure and LGD FLOAT64, the date DATE, the target INT64 (0/1). A feature the spec declares
`nullable: false` is REQUIRED in the training table; in the portfolio table every feature is
NULLABLE, because batch scoring rejects a row with a missing required value (with the reason)
instead of refusing the whole load.
"""

from __future__ import annotations

import json

from .spec import ModelSpec

TABLES = ("training", "portfolio")
_SQL_TYPE = {"FLOAT": "FLOAT64", "INTEGER": "INT64", "STRING": "STRING", "DATE": "DATE"}


def _field(name: str, kind: str, required: bool, description: str) -> dict:
    field = {"name": name, "type": kind, "mode": "REQUIRED" if required else "NULLABLE"}
    if description:
        field["description"] = description
    return field


def schema(spec: ModelSpec, table: str) -> list[dict]:
    """The table's columns in BigQuery's schema JSON form, in the order a reader expects them."""
    if table not in TABLES:
        raise ValueError(f"table {table!r}: expected one of {', '.join(TABLES)}")
    training = table == "training"
    fields = []
    if spec.id:
        fields.append(_field(spec.id, "STRING", training, "applicant id"))
    if spec.date and training:
        fields.append(_field(spec.date, "DATE", True, "application date: the out-of-time split"))
    for f in spec.features:
        kind = "FLOAT" if f.type == "numeric" else "STRING"
        fields.append(_field(f.name, kind, training and not f.nullable, f.description))
    if spec.exposure:
        fields.append(_field(spec.exposure, "FLOAT", False, "exposure at default"))
    if training:
        fields.append(_field(spec.target, "INTEGER", True, "1 = defaulted, 0 = did not"))
        if spec.lgd:
            fields.append(_field(spec.lgd, "FLOAT", False, "realized loss given default of a defaulted row, in [0, 1]"))
    return fields


def ddl(fields: list[dict], table_id: str) -> str:
    """`CREATE TABLE` for `table_id` (project.dataset.table or dataset.table)."""
    cols = []
    for f in fields:
        col = f"  `{f['name']}` {_SQL_TYPE[f['type']]}" + (" NOT NULL" if f["mode"] == "REQUIRED" else "")
        if f.get("description"):
            col += " OPTIONS(description=" + json.dumps(f["description"]) + ")"
        cols.append(col)
    return f"CREATE TABLE `{table_id}` (\n" + ",\n".join(cols) + "\n);"


def render(spec: ModelSpec, tables=TABLES, dataset: str = "DATASET") -> str:
    """What `python -m training table-schema` prints: per table its schema JSON, then its DDL."""
    out = []
    for table in tables:
        fields = schema(spec, table)
        name = f"{spec.name}_{table}"
        out += [f"-- {table} table ({'training_data_table' if table == 'training' else 'batch_source_table'}): "
                f"schema JSON (bq mk --table {dataset}.{name} schema.json)",
                json.dumps(fields, indent=2), "", f"-- {table} table: DDL", ddl(fields, f"{dataset}.{name}"), ""]
    return "\n".join(out)
