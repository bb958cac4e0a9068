"""Benchmark: PD model quality on a real 1,000-row credit table, out of fold.

    .venv/bin/python bench/model_quality.py [--seeds 0 1 2] [--out bench/out/model_quality.json]

Table: Statlog German credit (tests/data/german_credit.csv.gz; spec
training/specs/german_credit.yaml). Folds: stratified 5-fold, shuffled with
`random_state=seed`, for each seed given. Each fold's 800 training rows are written to a CSV
and trained by the CLI (`training.cli.main(["train", ...])`, the code path of
`python -m training train`) from a spec; the published `pd.onnx` then scores the 200
held-out rows. Pooled out-of-fold AUC per seed, for:

- `auto`: the product default (`pd_model.family: auto`);
- `xgboost-current`: the XGBoost family as it trained before this change (three-way split,
  early stopping on the validation slice, no refit, deep-ish defaults), i.e. `family: xgboost`
  with `small_data_rows: 0` (the large regime);
- `xgboost-small`: `family: xgboost` in the small-data regime (CV rounds, refit);
- `logistic-onehot`: the anchor, scikit-learn LogisticRegression (defaults, max_iter 5000)
  on standardized numeric + one-hot categorical features, trained on all 800 rows of the fold.

Target (issue 11): `auto` >= `logistic-onehot` + 0.005 and > `xgboost-current`.
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

from riskscore import bundle  # noqa: E402
from riskscore.store import LocalStore  # noqa: E402
from sklearn.compose import ColumnTransformer  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402
from sklearn.model_selection import StratifiedKFold  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import OneHotEncoder, StandardScaler  # noqa: E402
from training.cli import main as cli_main  # noqa: E402
from training.pd_model import run_onnx  # noqa: E402
from training.spec import check_data, load_spec  # noqa: E402

DATA = ROOT / "tests/data/german_credit.csv.gz"
SPEC = ROOT / "training/specs/german_credit.yaml"
VARIANTS = {"auto": {}, "xgboost-current": {"family": "xgboost", "small_data_rows": 0},
            "xgboost-small": {"family": "xgboost"}}
MARGIN = 0.005


def logistic_onehot(spec, train: pd.DataFrame, test: pd.DataFrame) -> np.ndarray:
    num = [f.name for f in spec.numeric]
    cat = [f.name for f in spec.categorical]
    cols = ColumnTransformer([("num", StandardScaler(), num),
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


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", default=str(ROOT / "bench/out/model_quality.json"))
    args = parser.parse_args()
    import onnx

    base = yaml.safe_load(SPEC.read_text())
    spec = load_spec(SPEC)
    raw = pd.read_csv(DATA)
    checked = check_data(spec, raw)
    y = checked[spec.target].to_numpy()
    results = {"date": date.today().isoformat(), "table": str(DATA.relative_to(ROOT)), "rows": int(len(raw)),
               "folds": "StratifiedKFold(5, shuffle=True, random_state=seed)", "seeds": {}}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        specs = {}
        for variant, change in VARIANTS.items():
            d = dict(base, pd_model={**base.get("pd_model", {}), **change})
            specs[variant] = tmp / f"{variant}.yaml"
            specs[variant].write_text(yaml.safe_dump(d))
        for seed in args.seeds:
            oof = {v: np.zeros(len(raw)) for v in [*VARIANTS, "logistic-onehot"]}
            champions = []
            folds = StratifiedKFold(5, shuffle=True, random_state=seed).split(np.zeros(len(y)), y)
            for k, (tr, te) in enumerate(folds):
                held_out = checked.iloc[te]
                oof["logistic-onehot"][te] = logistic_onehot(spec, checked.iloc[tr], held_out)
                for variant in VARIANTS:
                    manifest, pd_onnx = train_fold(specs[variant], raw.iloc[tr], tmp, f"{variant}-{seed}-{k}")
                    oof[variant][te] = run_onnx(onnx.load_from_string(pd_onnx), spec.features, held_out)["pd"]
                    if variant == "auto":
                        champions.append(manifest["models"]["pd"]["family"])
                print(f"seed {seed} fold {k}: done ({time.perf_counter() - started:.0f}s)", flush=True)
            aucs = {v: float(roc_auc_score(y, p)) for v, p in oof.items()}
            results["seeds"][seed] = {"oof_auc": aucs, "auto_champions": champions}
            print(f"seed {seed}: " + ", ".join(f"{v} {a:.4f}" for v, a in aucs.items())
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
    print(json.dumps({"mean_oof_auc": mean, "targets": results["targets"]}, indent=2))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
