"""Train the conventional alternative of the score function: a scikit-learn Pipeline
(ColumnTransformer: median-imputed numeric, constant-imputed one-hot categorical) around a
native XGBClassifier, trained on the same data, spec and split as `training.train.train`,
and dumped with joblib.

    .venv/bin/python bench/alternative/train_alternative.py --data data/x.parquet --out build/alt.joblib \
        [--spec training/specs/credit_default.yaml] [--n-estimators N]

Without --n-estimators the number of trees comes from early stopping on the validation split
(as the spec's pd_model does); bench/serving.py passes the best iteration of our bundle instead.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import joblib
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder
from xgboost import XGBClassifier

sys.path.insert(0, str(Path(__file__).resolve().parent))
from columns import CATEGORICAL, NUMERIC, model_frame  # noqa: E402

from training.data.spec import ModelSpec, check_data, load_spec  # noqa: E402
from training.data.split import split_frame  # noqa: E402

DEFAULT_SPEC = Path(__file__).resolve().parents[2] / "training" / "specs" / "credit_default.yaml"


def preprocessor() -> ColumnTransformer:
    return ColumnTransformer([
        ("numeric", SimpleImputer(strategy="median"), NUMERIC),
        ("categorical", Pipeline([
            ("impute", SimpleImputer(strategy="constant", fill_value="missing")),
            ("onehot", OneHotEncoder(handle_unknown="ignore")),
        ]), CATEGORICAL),
    ])


def classifier(spec: ModelSpec, n_columns: int, n_estimators: int, early_stopping: int | None) -> XGBClassifier:
    p = spec.pd_model
    monotone = {f.name: {"increasing": 1, "decreasing": -1}.get(f.monotone, 0) for f in spec.features}
    # Numeric columns come first and in NUMERIC order; one-hot columns are unconstrained.
    constraints = tuple(monotone[c] for c in NUMERIC) + (0,) * (n_columns - len(NUMERIC))
    return XGBClassifier(
        objective="binary:logistic", tree_method="hist", eval_metric="logloss",
        n_estimators=n_estimators, learning_rate=p.learning_rate, max_depth=p.max_depth,
        min_child_weight=p.min_child_weight, subsample=p.subsample, colsample_bytree=p.colsample_bytree,
        reg_lambda=p.reg_lambda, max_bin=p.max_bin, scale_pos_weight=p.scale_pos_weight,
        monotone_constraints=constraints, early_stopping_rounds=early_stopping,
        random_state=spec.split.seed, n_jobs=1)


def train_alternative(spec: ModelSpec, raw: pd.DataFrame, out: str | Path,
                      n_estimators: int | None = None, log=print) -> dict:
    """Fit on the spec's train split, dump the Pipeline to `out`; returns a small report."""
    spec_features = {f.name: f.type for f in spec.features}
    expected = {**{c: "numeric" for c in NUMERIC}, **{c: "categorical" for c in CATEGORICAL}}
    if spec_features != expected:
        raise SystemExit(f"the spec's features {spec_features} differ from bench/alternative/columns.py")
    clock = time.perf_counter()
    df = check_data(spec, raw)
    parts = split_frame(df, spec.target, spec.split.valid_fraction, spec.split.test_fraction,
                        date=spec.date, seed=spec.split.seed)
    X = {k: model_frame(v) for k, v in parts.items()}
    y = {k: v[spec.target].to_numpy() for k, v in parts.items()}
    n_columns = preprocessor().fit(X["train"]).transform(X["train"][:1]).shape[1]
    if n_estimators is None:  # early stopping on the validation split, as the spec's pd_model
        prep = preprocessor().fit(X["train"])
        # The spec leaves them unset under `auto`: then what a team would write by hand.
        probe = classifier(spec, n_columns, spec.pd_model.n_estimators or 1000,
                           spec.pd_model.early_stopping_rounds or 50)
        probe.fit(prep.transform(X["train"]), y["train"],
                  eval_set=[(prep.transform(X["valid"]), y["valid"])], verbose=False)
        n_estimators = int(probe.best_iteration) + 1
    pipeline = Pipeline([("preprocess", preprocessor()),
                         ("model", classifier(spec, n_columns, n_estimators, None))])
    pipeline.fit(X["train"], y["train"])
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(pipeline, out)
    report = {"path": str(out), "bytes": out.stat().st_size, "n_estimators": n_estimators,
              "matrix_columns": int(n_columns),
              "test_auc": float(roc_auc_score(y["test"], pipeline.predict_proba(X["test"])[:, 1])),
              "train_s": round(time.perf_counter() - clock, 2)}
    log(f"alternative pipeline: {n_estimators} trees, test AUC {report['test_auc']:.4f}, "
        f"{report['bytes']:,} bytes -> {out}")
    return report


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help=".parquet or .csv applicant table")
    parser.add_argument("--out", required=True, help="where to write the joblib pipeline")
    parser.add_argument("--spec", default=str(DEFAULT_SPEC))
    parser.add_argument("--n-estimators", type=int, default=None)
    args = parser.parse_args(argv)
    raw = pd.read_parquet(args.data) if args.data.endswith(".parquet") else pd.read_csv(args.data)
    train_alternative(load_spec(args.spec), raw, args.out, args.n_estimators)
    return 0


if __name__ == "__main__":
    sys.exit(main())
