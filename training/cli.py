"""Command line: `python -m training generate|proxy-target|train|promote|rollback|list|openapi|bigquery-model|table-schema`."""

from __future__ import annotations

import argparse
import json
import sys

from riskscore.contract import bundle
from riskscore.io.cli import expected_failure
from riskscore.io.store import open_store

from training.data.spec import SpecError, load_spec
from training.evaluation import tracking
from training.evaluation.master_scale import card_rows

DEFAULT_SPEC = "training/specs/credit_default.yaml"


def _table(rows: list[list], header: list[str]) -> str:
    cells = [header] + [["" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def cmd_generate(args) -> int:
    if args.tables:
        from training.data.synthetic_tables import generate_tables, write_tables

        frames = generate_tables(customers=args.customers, seed=args.seed)
        for path in write_tables(frames, args.tables, args.format):
            print(f"wrote {path}")
        print(f"{args.customers:,} customers, {len(frames['bureau']):,} bureau records "
              f"(default rate {frames['loans']['defaulted'].mean():.2%})")
        return 0
    if not args.out:
        raise ValueError("generate: give --out FILE (one applicant table) or --tables DIR (customers, loans, bureau)")
    from training.data.synthetic import generate
    from training.data.tables import write_table

    df = generate(rows=args.rows, seed=args.seed)
    write_table(df, args.out)
    print(f"wrote {len(df):,} rows to {args.out} (default rate {df['default'].mean():.2%})")
    return 0


def cmd_proxy_target(args) -> int:
    from training.data.proxy_target import proxy_target, write
    from training.data.tables import read_table

    table, report = proxy_target(read_table(args.transactions), args.customer_id, args.date, args.amount,
                                 args.as_of, k=args.clusters, seed=args.seed)
    path = write(table, report, args.out)
    print(f"wrote {len(table):,} customers to {args.out} ({report['label_rate']:.2%} labelled high risk, "
          f"column {report['label_column']!r}) and the rule to {path}")
    return 0


def _target_proxy(spec, data: str) -> dict | None:
    """The proxy-target JSON beside the table, when the spec trains on its label."""
    from training.data.proxy_target import read_report

    report = read_report(data)
    return report if report is not None and report.get("label_column") == spec.target else None


def cmd_train(args) -> int:
    import uuid
    from datetime import datetime, timezone

    from riskscore.contract.quality import check_allow
    from training.data.multi_table import read_tables
    from training.data.tables import read_table
    from training.evaluation.runs_log import append_run, run_record
    from training.train import train

    spec = load_spec(args.spec)
    check_allow(args.allow, "--allow")
    if args.data and spec.sql:
        raise SpecError(f"--data: spec {spec.name!r} declares tables and sql; use --tables DIR (or neither)")
    if not args.data and not spec.sql:
        raise SpecError(f"--data: spec {spec.name!r} declares no tables; give --data (one table)")
    store = open_store(args.store)
    started, run_id = datetime.now(timezone.utc), uuid.uuid4().hex
    # Before anything is read or trained: an unusable MLflow fails the run here (or warns).
    mlflow = tracking.RunMirror.open(tracking.resolve_uri(args.mlflow_uri), args.mlflow_experiment,
                                     f"{spec.name}-{run_id[:8]}", optional=args.mlflow_optional)
    params = {"force": args.force, "tune": args.tune, "allow": args.allow}
    data_uri = args.data or f"tables: {args.tables or 'as in the spec'}"
    result, error = None, None
    try:
        if spec.sql:
            print(f"running the spec's SQL over {', '.join(spec.tables)}")
            raw, source = read_tables(spec.tables, spec.sql, tables_dir=args.tables, order_by=spec.id)
        else:
            print(f"reading {args.data}")
            raw, source = read_table(args.data), {"engine": None, "uri": args.data}
        result = train(spec, raw, store, force=args.force, tune_trials=args.tune, allow=args.allow, source=source,
                       target_proxy=_target_proxy(spec, args.data) if args.data else None)
    except Exception as exc:
        error = exc
        mlflow.failed(exc)
        raise
    finally:
        append_run(store, run_record(run_id=run_id, started_at=started, model=spec.name, data_uri=data_uri,
                                     params={"spec": spec.model_dump(mode="json"), **params},
                                     result=result, error=error), bq_table=args.runs_table)
    mlflow.published(spec=spec.model_dump(mode="json"), params=params, result=result, store=store,
                     data_uri=args.data)
    print()
    print(summary(result, store.uri))
    return 0


def summary(result, store_uri: str) -> str:
    """The end-of-run tables: metrics, parity, timings, rating bands, version and promotion."""
    m = result.manifest
    test = m["metrics"]["test"]
    rows = [[f"PD {k}", f"{test[k]:.4f}"] for k in ("auc", "gini", "ks", "brier", "pr_auc", "default_rate", "mean_pd")]
    if "lgd" in m["metrics"]:
        lgd = m["metrics"]["lgd"]
        rows += [["LGD mae (baseline)", f"{lgd['mae']:.4f} ({lgd['baseline_mae']:.4f})"],
                 ["LGD rmse (baseline)", f"{lgd['rmse']:.4f} ({lgd['baseline_rmse']:.4f})"]]
    if "anomaly" in m["metrics"]:
        rows.append(["anomaly test flag rate", f"{m['metrics']['anomaly']['test_flag_rate']:.2%}"])
    rows += [[f"parity {name}", ", ".join(f"{k} {v:.3g}" for k, v in p.items()
                                          if k.endswith(("_diff", "mismatches")) and isinstance(v, (int, float)))]
             for name, p in m["parity"].items()]
    rows += [[f"time {k}", f"{v:.1f}s"] for k, v in result.timings_s.items()]
    rows.append(["time total", f"{sum(result.timings_s.values()):.1f}s"])
    headers, band_rows, _ = card_rows(m["rating_bands"])
    bands = _table(band_rows, [h.lower() for h in headers])
    verdict = (f"version {m['version']} published to {store_uri}/{m['name']}: "
               f"{'PROMOTED' if result.promoted else 'NOT promoted'} "
               f"({result.promotion_reason})")
    return "\n\n".join([_table(rows, ["result", "value"]), bands, verdict])


def cmd_promote(args) -> int:
    store = open_store(args.store)
    bundle.load(store, args.model, args.version)  # refuse to point at a corrupt or absent version
    bundle.set_current(store, args.model, args.version)
    print(f"{args.model}: current version is now {args.version}")
    _sync_champion(args, args.version)
    return 0


def _sync_champion(args, version: str) -> None:
    """With an MLflow URI, the registry alias `champion` follows current.json."""
    number = tracking.sync_champion(tracking.resolve_uri(args.mlflow_uri), args.model, version,
                                    optional=args.mlflow_optional)
    if number is not None:
        print(f"{args.model}: MLflow registry alias {tracking.CHAMPION_ALIAS!r} now names version {number}")


def cmd_rollback(args) -> int:
    store = open_store(args.store)
    current = bundle.read_current(store, args.model)
    target = args.to or (current or {}).get("previous")
    if not target:
        print(f"{args.model}: no previous version recorded; pass --to VERSION", file=sys.stderr)
        return 2
    bundle.load(store, args.model, target)
    bundle.set_current(store, args.model, target)
    print(f"{args.model}: rolled back from {(current or {}).get('version')} to {target}")
    _sync_champion(args, target)
    return 0


def cmd_list(args) -> int:
    store = open_store(args.store)
    models = [args.model] if args.model else store.list_dirs("")
    for model in models:
        current = (bundle.read_current(store, model) or {}).get("version")
        rows = []
        for v in bundle.list_versions(store, model):
            m = bundle.read_manifest(store, model, v)
            t = m["metrics"]["test"]
            rows.append(["*" if v == current else "", v, m["created_at"], f"{t['auc']:.4f}", f"{t['gini']:.4f}",
                         f"{t['ks']:.4f}", f"{t['brier']:.4f}", m["data"]["rows"]])
        print(f"model {model} (current: {current})")
        print(_table(rows, ["", "version", "created_at", "auc", "gini", "ks", "brier", "rows"]))
        print()
    if args.json:
        print(json.dumps({m: bundle.list_versions(store, m) for m in models}))
    return 0


def cmd_openapi(args) -> int:
    from riskscore.serving.openapi import openapi_document

    doc = openapi_document(load_spec(args.spec).features)
    text = json.dumps(doc, indent=2, sort_keys=True) + "\n"
    if args.out == "-":
        sys.stdout.write(text)
    else:
        with open(args.out, "w") as fh:
            fh.write(text)
        print(f"wrote {args.out}")
    return 0


def cmd_bigquery_model(args) -> int:
    from training import bigquery_ml

    store = open_store(args.store)
    manifest = bundle.load(store, args.model, args.version).manifest  # verified bytes only
    location = args.gcs_prefix or store.uri
    statements = bigquery_ml.model_ddl(args.dataset, manifest, location)
    if args.table:
        statements.append(bigquery_ml.scoring_view_sql(args.dataset, manifest, args.table, args.view,
                                                       args.passthrough or []))
    for statement in statements:
        print(statement + ";\n")
    if args.execute:
        from riskscore.io import bq

        client = bq.bigquery_client(project=args.dataset.split(".")[0])
        for statement in statements:
            client.query(statement).result()
        print(f"ran {len(statements)} statements in {args.dataset}")
    return 0


def cmd_table_schema(args) -> int:
    from .data.table_schema import TABLES, ddl, render, schema

    spec = load_spec(args.spec)
    tables = [args.table] if args.table else list(TABLES)
    if args.format == "json" and len(tables) == 1:  # a schema file: bq mk --table D.T schema.json
        print(json.dumps(schema(spec, tables[0]), indent=2))
    elif args.format == "ddl":
        print("\n\n".join(ddl(schema(spec, t), f"{args.dataset}.{spec.name}_{t}") for t in tables))
    else:
        print(render(spec, tables, args.dataset))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m training", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("generate", help="write a synthetic applicant table, or customers/loans/bureau tables")
    p.add_argument("--rows", type=int, default=200_000)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--out", help="output path, .parquet or .csv (one applicant table)")
    p.add_argument("--tables", metavar="DIR", help="write customers, loans and bureau tables into DIR instead")
    p.add_argument("--customers", type=int, default=20_000, help="with --tables: customers (one loan each)")
    p.add_argument("--format", choices=["csv", "parquet"], default="csv", help="with --tables: file format")
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser("proxy-target", help="label customers from behaviour (RFM + KMeans) when no default "
                                            "flag exists")
    p.add_argument("--transactions", required=True, help="transactions table (local file, gs://, bq:// or SQL)")
    p.add_argument("--customer-id", required=True)
    p.add_argument("--date", required=True)
    p.add_argument("--amount", required=True)
    p.add_argument("--as-of", required=True, help="reference date, YYYY-MM-DD: later transactions are ignored")
    p.add_argument("--clusters", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="output table, .parquet or .csv; the rule goes beside it")
    p.set_defaults(func=cmd_proxy_target)

    p = sub.add_parser("train", help="train, export, verify and publish a version")
    p.add_argument("--spec", default=DEFAULT_SPEC)
    p.add_argument("--data", help="one table: local file, gs://bucket/path, bq://project.dataset.table, "
                                   "snowflake://DB.SCHEMA.TABLE or SQL")
    p.add_argument("--tables", metavar="DIR", help="a spec with tables and sql: read its file tables from DIR "
                                                  "by name (<name>.parquet|.csv|.csv.gz or <name>/)")
    p.add_argument("--allow", nargs="+", default=[], metavar="GATE",
                   help="data-quality gates whose failure is recorded but does not stop training "
                        "(row_count, missing, duplicated_ids, target_rate, schema)")
    p.add_argument("--model-store", "--store", dest="store", default="models", help="local folder or gs://bucket/prefix")
    p.add_argument("--force", action="store_true", help="make the version current even if the gate fails")
    p.add_argument("--runs-table", help="also record the run in this BigQuery table (project.dataset.table)")
    p.add_argument("--tune", type=int, default=0, metavar="N",
                   help="run N seeded Optuna trials over the chosen PD family's parameters (cross-validated "
                        "on small tables); every trial goes to the training-runs log")
    tracking.add_arguments(p, experiment=True)
    p.set_defaults(func=cmd_train)

    for name, func, help_ in (("promote", cmd_promote, "make a version current"),
                              ("rollback", cmd_rollback, "make the previous (or a given) version current")):
        p = sub.add_parser(name, help=help_)
        p.add_argument("--model-store", "--store", dest="store", default="models")
        p.add_argument("--model-name", "--model", dest="model", default="credit_default")
        if name == "promote":
            p.add_argument("--version", required=True)
        else:
            p.add_argument("--to", help="version to roll back to (default: the one before current)")
        tracking.add_arguments(p, experiment=False)
        p.set_defaults(func=func)

    p = sub.add_parser("list", help="versions and their test metrics")
    p.add_argument("--model-store", "--store", dest="store", default="models")
    p.add_argument("--model-name", "--model", dest="model")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("bigquery-model", help="print (or --execute) the BigQuery ML statements for a version's "
                                              "graphs, and a scoring view")
    p.add_argument("--model-store", "--store", dest="store", required=True,
                   help="model store holding the version: gs://bucket/prefix, or a local folder (the SQL is "
                        "then printed offline, with --gcs-prefix)")
    p.add_argument("--gcs-prefix", help="gs://bucket/prefix where BigQuery ML will read the version's files "
                                        "(default: --store, when it is gs://)")
    p.add_argument("--model-name", "--model", dest="model", default="credit_default")
    p.add_argument("--version", help="default: the current version")
    p.add_argument("--dataset", required=True, help="project.dataset for the models and the view")
    p.add_argument("--table", help="project.dataset.table to score: also create a view over it")
    p.add_argument("--view", help="view name (default: DATASET.<model>_scores)")
    p.add_argument("--passthrough", nargs="*", help="input columns to carry into the view (e.g. the id)")
    p.add_argument("--execute", action="store_true", help="run the statements (needs credentials)")
    p.set_defaults(func=cmd_bigquery_model)

    p = sub.add_parser("table-schema", help="the BigQuery training and portfolio tables a spec expects")
    p.add_argument("--spec", default=DEFAULT_SPEC, help=f"model spec YAML (default: {DEFAULT_SPEC})")
    p.add_argument("--table", choices=["training", "portfolio"], help="one table (default: both)")
    p.add_argument("--format", choices=["json", "ddl", "both"], default="both",
                   help="schema JSON (one table: a file for bq mk), DDL, or both (default)")
    p.add_argument("--dataset", default="DATASET", help="project.dataset the DDL names")
    p.set_defaults(func=cmd_table_schema)

    p = sub.add_parser("openapi", help="write the score function's OpenAPI document for a spec (a served "
                                       "version's own: GET /?view=openapi)")
    p.add_argument("--spec", default=DEFAULT_SPEC, help=f"model spec YAML (default: {DEFAULT_SPEC})")
    p.add_argument("--out", default="functions/openapi.json",
                   help="output file, - for stdout (default: functions/openapi.json)")
    p.set_defaults(func=cmd_openapi)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except Exception as exc:  # an expected failure is one line (riskscore.io.cli); a bug its traceback
        message = str(exc) if isinstance(exc, tracking.MlflowUnavailable) else expected_failure(exc)
        if message is None:
            raise
        print(f"error: {message}", file=sys.stderr)
        return 1
