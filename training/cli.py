"""Command line: `python -m training generate|proxy-target|train|promote|rollback|list|openapi|bigquery-model`."""

from __future__ import annotations

import argparse
import json
import sys

from riskscore.contract import bundle
from riskscore.errors import RiskScoreError
from riskscore.io.store import open_store

from training.data.spec import SpecError, load_spec

DEFAULT_SPEC = "training/specs/credit_default.yaml"


def _table(rows: list[list], header: list[str]) -> str:
    cells = [header] + [["" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def cmd_generate(args) -> int:
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

    from training.data.tables import read_table
    from training.evaluation.runs_log import append_run, run_record
    from training.train import train

    spec = load_spec(args.spec)
    store = open_store(args.store)
    started, run_id = datetime.now(timezone.utc), uuid.uuid4().hex
    result, error = None, None
    try:
        print(f"reading {args.data}")
        result = train(spec, read_table(args.data), store, force=args.force, tune_trials=args.tune,
                       target_proxy=_target_proxy(spec, args.data))
    except Exception as exc:
        error = exc
        raise
    finally:
        append_run(store, run_record(run_id=run_id, started_at=started, model=spec.name, data_uri=args.data,
                                     params={"spec": spec.model_dump(mode="json"), "force": args.force,
                                             "tune": args.tune},
                                     result=result, error=error), bq_table=args.runs_table)
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
    bands = _table([[b["name"], b["min_score"], b["test_count"],
                     None if b["observed_default_rate"] is None else f"{b['observed_default_rate']:.2%}"]
                    for b in m["rating_bands"]], ["rating", "min score", "test rows", "default rate"])
    verdict = (f"version {m['version']} published to {store_uri}/{m['name']}: "
               f"{'PROMOTED' if result.promoted else 'NOT promoted'} "
               f"({result.promotion_reason})")
    return "\n\n".join([_table(rows, ["result", "value"]), bands, verdict])


def cmd_promote(args) -> int:
    store = open_store(args.store)
    bundle.load(store, args.model, args.version)  # refuse to point at a corrupt or absent version
    bundle.set_current(store, args.model, args.version)
    print(f"{args.model}: current version is now {args.version}")
    return 0


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
    statements = bigquery_ml.model_ddl(args.dataset, manifest, store.uri)
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m training", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("generate", help="write a synthetic credit-bureau applicant table")
    p.add_argument("--rows", type=int, default=200_000)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--out", required=True, help="output path, .parquet or .csv")
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
    p.add_argument("--data", required=True, help="local file, gs://bucket/path, bq://project.dataset.table or SQL")
    p.add_argument("--store", default="models", help="local folder or gs://bucket/prefix")
    p.add_argument("--force", action="store_true", help="make the version current even if the gate fails")
    p.add_argument("--runs-table", help="also record the run in this BigQuery table (project.dataset.table)")
    p.add_argument("--tune", type=int, default=0, metavar="N",
                   help="run N seeded Optuna trials over the chosen PD family's parameters (cross-validated "
                        "on small tables); every trial goes to the training-runs log")
    p.set_defaults(func=cmd_train)

    for name, func, help_ in (("promote", cmd_promote, "make a version current"),
                              ("rollback", cmd_rollback, "make the previous (or a given) version current")):
        p = sub.add_parser(name, help=help_)
        p.add_argument("--store", default="models")
        p.add_argument("--model", default="credit_default")
        if name == "promote":
            p.add_argument("--version", required=True)
        else:
            p.add_argument("--to", help="version to roll back to (default: the one before current)")
        p.set_defaults(func=func)

    p = sub.add_parser("list", help="versions and their test metrics")
    p.add_argument("--store", default="models")
    p.add_argument("--model")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("bigquery-model", help="BigQuery ML models (and a scoring view) for a version's graphs")
    p.add_argument("--store", required=True, help="gs://bucket/prefix holding the model (BigQuery ML reads it)")
    p.add_argument("--model", default="credit_default")
    p.add_argument("--version", help="default: the current version")
    p.add_argument("--dataset", required=True, help="project.dataset for the models and the view")
    p.add_argument("--table", help="project.dataset.table to score: also create a view over it")
    p.add_argument("--view", help="view name (default: DATASET.<model>_scores)")
    p.add_argument("--passthrough", nargs="*", help="input columns to carry into the view (e.g. the id)")
    p.add_argument("--execute", action="store_true", help="run the statements (needs credentials)")
    p.set_defaults(func=cmd_bigquery_model)

    p = sub.add_parser("openapi", help="write the score function's OpenAPI document for a spec")
    p.add_argument("--spec", default=DEFAULT_SPEC)
    p.add_argument("--out", default="functions/openapi.json")
    p.set_defaults(func=cmd_openapi)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (SpecError, RiskScoreError, ValueError, FileExistsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
