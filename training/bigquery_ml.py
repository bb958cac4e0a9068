"""Score a table inside BigQuery: BigQuery ML models over a version's ONNX graphs, and a view
that turns `ML.PREDICT`'s PD outputs into batch_score's columns.

Every graph is exported within BigQuery ML's ONNX limits (see training/onnx/graph.py), so
the same files the Cloud Functions serve are imported with `CREATE MODEL … MODEL_TYPE='ONNX'`.
The view reproduces `riskscore.model.decision.DecisionCore.decide` for the columns it covers:

- inputs: NULL numeric -> NaN, NULL or unknown categorical -> '' (riskscore.model.feeds);
- rating: the band of the score rounded to 0.1 (the band with the largest min_score <= it);
- reason_1..4: the features with the largest positive contributions, ties in feature order,
  contributions rounded to 4 places (riskscore.model.reasons.top_reasons).

Rows batch_score would reject (unparseable values) are not filtered here: BigQuery's own
column types are the contract of the input table.
"""

from __future__ import annotations

from riskscore.model.reasons import MAX_REASONS

# Graphs imported as BigQuery ML models, in the manifest's `models` section.
GRAPHS = ("pd", "lgd", "segment", "anomaly")


def _ident(name: str) -> str:
    """A back-quoted BigQuery path (project.dataset.name), refusing quotes inside it."""
    if "`" in name or not name.strip():
        raise ValueError(f"invalid BigQuery name {name!r}")
    return f"`{name}`"


def _string(value: str) -> str:
    """A BigQuery string literal."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def model_name(dataset: str, manifest: dict, graph: str) -> str:
    """`project.dataset.<model>_<graph>_<version>`: one BigQuery ML model per graph and version."""
    version = manifest["version"].replace("-", "_").replace(".", "_")
    return f"{dataset}.{manifest['name']}_{graph}_{version}"


def model_ddl(dataset: str, manifest: dict, store_uri: str) -> list[str]:
    """CREATE OR REPLACE MODEL statements for the version's PD, LGD, segment and anomaly graphs."""
    if not store_uri.startswith("gs://"):
        raise ValueError(f"BigQuery ML reads models from Cloud Storage: --store must be gs://…, got {store_uri!r}")
    statements = []
    for graph in GRAPHS:
        entry = manifest["models"].get(graph)
        if not entry:
            continue
        path = f"{store_uri.rstrip('/')}/{manifest['name']}/{manifest['version']}/{entry['file']}"
        statements.append(f"CREATE OR REPLACE MODEL {_ident(model_name(dataset, manifest, graph))}\n"
                          f"OPTIONS(MODEL_TYPE='ONNX', MODEL_PATH={_string(path)})")
    return statements


def input_sql(manifest: dict, table: str, passthrough: list[str] = ()) -> str:
    """SELECT of `table`'s columns as the graphs' inputs (the batch cast of missing values)."""
    cols = [_ident(c) for c in passthrough]
    for f in manifest["features"]:
        name = _ident(f["name"])
        if f["type"] == "numeric":
            cols.append(f"IFNULL(CAST({name} AS FLOAT64), CAST('NaN' AS FLOAT64)) AS {name}")
        else:
            known = ", ".join(_string(c) for c in f.get("categories") or [])
            value = f"IF(CAST({name} AS STRING) IN ({known}), CAST({name} AS STRING), '')" if known else "''"
            cols.append(f"IFNULL({value}, '') AS {name}")
    return "SELECT " + ",\n       ".join(cols) + f"\nFROM {_ident(table)}"


def decision_sql(manifest: dict, predicted: str, passthrough: list[str] = ()) -> str:
    """SELECT over `predicted` (ML.PREDICT's output, or a table shaped like it: columns pd,
    score, contributions ARRAY<FLOAT64>) -> passthrough, pd, score, rating, reason_1..4,
    reason_1..4_contribution, model_version."""
    bands = manifest["scaling"]["bands"]  # ascending; the first one's min_score may be null (-inf)
    # As ScalingSpec.rating_index: the first band catches everything below the second's min.
    rating = "CASE " + " ".join(f"WHEN ROUND(score, 1) >= {float(b['min_score'])!r} THEN {_string(b['name'])}"
                                for b in reversed(bands[1:])) + f" ELSE {_string(bands[0]['name'])} END"
    names = "[" + ", ".join(_string(f["name"]) for f in manifest["features"]) + "]"
    # Names joined by offset rather than `names[OFFSET(i)]`: same result in BigQuery, and the
    # emulator (zetasqlite) indexes array literals from 1 there.
    reasons = (f"ARRAY(SELECT AS STRUCT feature, ROUND(c, 4) AS contribution\n"
               f"        FROM UNNEST(contributions) AS c WITH OFFSET AS i\n"
               f"        JOIN UNNEST({names}) AS feature WITH OFFSET AS j ON i = j\n"
               f"        WHERE c > 0 ORDER BY c DESC, i LIMIT {MAX_REASONS})")
    out = [_ident(c) for c in passthrough]
    out += ["CAST(pd AS FLOAT64) AS pd", "ROUND(CAST(score AS FLOAT64), 1) AS score", f"{rating} AS rating"]
    out += [f"reasons[SAFE_OFFSET({k})].feature AS reason_{k + 1}" for k in range(MAX_REASONS)]
    out += [f"reasons[SAFE_OFFSET({k})].contribution AS reason_{k + 1}_contribution" for k in range(MAX_REASONS)]
    out.append(f"{_string(manifest['version'])} AS model_version")
    return (f"SELECT " + ",\n       ".join(out) + "\n"
            f"FROM (SELECT *, {reasons} AS reasons\n      FROM {predicted})")


def scoring_view_sql(dataset: str, manifest: dict, table: str, view: str | None = None,
                     passthrough: list[str] = ()) -> str:
    """CREATE OR REPLACE VIEW scoring `table` with the version's PD model (see `model_ddl`)."""
    view = view or f"{dataset}.{manifest['name']}_scores"
    predicted = (f"ML.PREDICT(MODEL {_ident(model_name(dataset, manifest, 'pd'))},\n"
                 f"  ({input_sql(manifest, table, passthrough)}))")
    return f"CREATE OR REPLACE VIEW {_ident(view)} AS\n{decision_sql(manifest, predicted, passthrough)}"
