"""The scorecard PD family: optimal monotone binning, weight of evidence, logistic regression.

Each feature is binned by `optbinning.OptimalBinning` (monotone default rate for numeric
features: the spec's direction when it declares one, else whichever of ascending/descending
fits best), each bin is replaced by its weight of evidence (WoE = ln(share of goods / share
of bads): higher is safer), and a logistic regression on the WoE columns gives the log-odds.
A feature's points are coefficient x WoE of its bin, in log-odds, so

    logit = intercept + sum of the features' points      (exactly: this IS the model)

and the exported graph has the PD graph's contract: one [N, 1] input per raw column,
outputs `pd`, `logit`, `score`, `contributions` [N, F] (the points), with the intercept as
the contribution bias. Missing values get optbinning's Missing bin (its empirical WoE, 0 when
it had no rows) and categories never seen in training optbinning's unknown value (the WoE of
the overall default rate, i.e. 0).

Numeric inputs are read at float32 precision, as the graph and the score function read them;
each split is exported as the smallest float32 at or above it, so `x >= split` is decided
identically in float32 and float64, and the parity check can demand exact bin agreement.
"""

from __future__ import annotations

import warnings

import numpy as np
import onnx
import pandas as pd
from onnx import TensorProto, helper
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression

from riskscore.contract.schema import ScalingSpec

from training.onnx.graph import GraphParts, const, make_model

# WoE features whose coefficient comes out positive would make points rise with safety (the
# collinearity sign flip): they are dropped and the regression refitted.
MAX_SIGN_REFITS = 20


def _float32_ceiling(split: float) -> np.float32:
    """The smallest float32 >= split: for every float32 x, x >= split <=> x >= this."""
    f = np.float32(split)
    if float(f) < split:
        f = np.nextafter(f, np.float32(np.inf))
    return f


def _binning_table(optb) -> pd.DataFrame:
    """optbinning's binning table (bins, counts, events, WoE, IV; a last `Totals` row)."""
    with warnings.catch_warnings():
        # optbinning 1.0 writes the Totals row in a way pandas 3 deprecates; harmless here
        warnings.simplefilter("ignore")
        return optb.binning_table.build()


def _numeric_input(col: pd.Series) -> np.ndarray:
    """A numeric column as the graph sees it: float32 values (NaN for missing), held in float64."""
    return col.to_numpy(dtype=np.float32, na_value=np.nan).astype(np.float64)


def _categorical_input(col: pd.Series) -> np.ndarray:
    """A categorical column as the graph sees it: strings, None for missing ('' or None)."""
    return np.array([None if (v is None or v != v or v == "") else str(v) for v in col], dtype=object)


class ScorecardModel(ClassifierMixin, BaseEstimator):
    """fit(X, y) on checked raw columns; predict_native through optbinning and scikit-learn."""

    family = "scorecard"
    native_name = "the native scorecard (optbinning WoE + scikit-learn regression)"

    def __init__(self, features=(), params=None, seed: int = 0, log=None):
        self.features = features
        self.params = params
        self.seed = seed
        self.log = log

    # --- fitting ------------------------------------------------------------------------

    def fit(self, X: pd.DataFrame, y) -> "ScorecardModel":
        """Bin every feature (on at most `binning_sample` rows), keep those with IV >=
        `min_iv`, fit the regression on all rows (no early stopping, so no validation rows)."""
        from optbinning import OptimalBinning

        p = dict(self.params or {})
        y = np.asarray(y).astype(int)
        sample = np.arange(len(X))
        if len(X) > p["binning_sample"]:
            sample = np.sort(np.random.default_rng(self.seed).choice(len(X), p["binning_sample"], replace=False))
        self.binnings_ = {}
        self.iv_ = {}
        for f in self.features:
            numeric = f.type == "numeric"
            trend = ({"increasing": "ascending", "decreasing": "descending"}.get(f.monotone, "auto_asc_desc")
                     if numeric else "auto")
            optb = OptimalBinning(name=f.name, dtype="numerical" if numeric else "categorical",
                                  solver="cp", max_n_prebins=p["max_n_prebins"],
                                  min_prebin_size=p["min_bin_size"], min_bin_size=p["min_bin_size"],
                                  monotonic_trend=trend)
            x = self._input(X[f.name], f)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                optb.fit(x[sample], y[sample])
            self.binnings_[f.name] = optb
            self.iv_[f.name] = float(_binning_table(optb)["IV"].iloc[-1])
        self.n_binning_rows_ = int(len(sample))
        self.excluded_ = {f.name: f"IV {self.iv_[f.name]:.4f} below {p['min_iv']}"
                          for f in self.features if self.iv_[f.name] < p["min_iv"]}
        woe = self.woe(X)
        self._fit_regression(woe, y)
        self.classes_ = np.array([0, 1])
        return self

    def _fit_regression(self, woe: np.ndarray, y: np.ndarray) -> None:
        names = [f.name for f in self.features]
        for _ in range(MAX_SIGN_REFITS):
            keep = [i for i, n in enumerate(names) if n not in self.excluded_]
            coef = np.zeros(len(names))
            if not keep:
                self.intercept_ = float(np.log(y.mean() / (1 - y.mean())))
                break
            lr = LogisticRegression(C=self.params["C"], max_iter=2000).fit(woe[:, keep], y)
            coef[keep] = lr.coef_[0]
            self.intercept_ = float(lr.intercept_[0])
            wrong = [i for i in keep if coef[i] > 0]
            if not wrong:
                break
            for i in wrong:
                self.excluded_[names[i]] = "positive coefficient on WoE (sign flipped by correlated features)"
        self.coef_ = coef

    @staticmethod
    def _input(col: pd.Series, f) -> np.ndarray:
        return _numeric_input(col) if f.type == "numeric" else _categorical_input(col)

    # --- the native model ---------------------------------------------------------------

    def woe(self, X: pd.DataFrame) -> np.ndarray:
        """[N, F] weight of evidence of each row's bin, by optbinning itself."""
        cols = [self.binnings_[f.name].transform(self._input(X[f.name], f), metric="woe",
                                                 metric_missing="empirical")
                for f in self.features]
        return np.column_stack(cols).astype(np.float64)

    def predict_native(self, X: pd.DataFrame) -> dict[str, np.ndarray]:
        points = self.woe(X) * self.coef_
        logit = self.intercept_ + points.sum(axis=1)
        return {"pd": 1 / (1 + np.exp(-logit)), "logit": logit, "contributions": points}

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        p = self.predict_native(X)["pd"]
        return np.column_stack([1 - p, p])

    # --- export -------------------------------------------------------------------------

    def _lookup(self, f) -> dict:
        """The feature's bins as the graph needs them, each WoE read back from optbinning."""
        optb = self.binnings_[f.name]
        coef = self.coef_[[g.name for g in self.features].index(f.name)]

        def woe_of(values) -> np.ndarray:
            return optb.transform(np.array(values, dtype=np.float64 if f.type == "numeric" else object),
                                  metric="woe", metric_missing="empirical")

        if f.type == "numeric":
            splits = [float(s) for s in optb.splits]
            # bin i holds [split[i-1], split[i]): its lowest value represents it exactly
            woe = woe_of([-np.inf] + splits + [np.nan])
            return {"splits": [_float32_ceiling(s) for s in splits], "points": coef * woe}
        cats = sorted({c for group in optb.splits for c in group} | set(f.categories or []))
        woe = woe_of(cats + [None, "\x00unseen"]) if cats else woe_of([None, "\x00unseen"])
        return {"categories": cats, "points": coef * woe}

    def to_onnx(self, scaling: ScalingSpec) -> onnx.ModelProto:
        """The scorecard as one ONNX graph (plain ONNX and ai.onnx.ml LabelEncoder); sets
        `contribution_bias_` (the intercept)."""
        from training.models.pd.booster import scoring_parts

        nodes, inits, pieces = [], [], []
        for f in self.features:
            n, t = f.name, self._lookup(f)
            out = f"{n}__points"
            if f.type == "numeric":
                points = np.asarray(t["points"], dtype=np.float32)  # bins 0..k, then Missing
                k = len(t["splits"])
                inits += [const(f"{n}__splits", np.array(t["splits"] or [np.inf], dtype=np.float32)),
                          const(f"{n}__table", points if k else np.concatenate([points[:1], points])),
                          const(f"{n}__missing_bin", np.array([[k + 1 if k else 2]], dtype=np.int64))]
                # bin index = number of splits at or below x (np.digitize, right=False);
                # NaN compares false everywhere, then takes the Missing bin.
                nodes += [helper.make_node("GreaterOrEqual", [n, f"{n}__splits"], [f"{n}__ge"]),
                          helper.make_node("Cast", [f"{n}__ge"], [f"{n}__ge64"], to=TensorProto.INT64),
                          helper.make_node("ReduceSum", [f"{n}__ge64", "axis1"], [f"{n}__bin"], keepdims=1),
                          helper.make_node("IsNaN", [n], [f"{n}__isnan"]),
                          helper.make_node("Where", [f"{n}__isnan", f"{n}__missing_bin", f"{n}__bin"],
                                           [f"{n}__bin_or_missing"]),
                          helper.make_node("Gather", [f"{n}__table", f"{n}__bin_or_missing"], [out], axis=0)]
            else:
                cats, points = t["categories"], [float(v) for v in t["points"]]
                # keys: each category's points, "" (missing) the Missing bin's; anything else unseen
                nodes.append(helper.make_node(
                    "LabelEncoder", [n], [out], domain="ai.onnx.ml", keys_strings=cats + [""],
                    values_floats=points[:len(cats)] + [points[len(cats)]], default_float=points[-1]))
            pieces.append(out)
        inits += [const("axis1", np.array([1], dtype=np.int64)),
                  const("intercept", np.array([[self.intercept_]], dtype=np.float32))]
        nodes.append(helper.make_node("Concat", pieces, ["contributions"], axis=1))
        # The sum as a chain of element-wise Adds, not ReduceSum: onnxruntime reduces a 1-row
        # batch in another order than a many-row one, and `score` (one row) must give exactly
        # the PD `batch_score` gives the same row (tests/test_batch_function.py).
        total = pieces[0]
        for i, piece in enumerate(pieces[1:], 1):
            nodes.append(helper.make_node("Add", [total, piece], [f"points_sum_{i}"]))
            total = f"points_sum_{i}"
        nodes.append(helper.make_node("Add", [total, "intercept"], ["logit_2d"]))
        scoring = scoring_parts(scaling)
        # scoring_parts declares its own `axis1`; one initializer per name in a graph
        scoring.initializers = [i for i in scoring.initializers if i.name != "axis1"]
        parts = GraphParts(nodes, inits, []).extend(scoring)
        parts.outputs += [helper.make_tensor_value_info("pd", TensorProto.FLOAT, [None]),
                          helper.make_tensor_value_info("logit", TensorProto.FLOAT, [None]),
                          helper.make_tensor_value_info("score", TensorProto.FLOAT, [None]),
                          helper.make_tensor_value_info("contributions", TensorProto.FLOAT,
                                                        [None, len(self.features)])]
        self.contribution_bias_ = float(self.intercept_)
        return make_model(self.features, parts, "probability of default (scorecard)")

    # --- tables for risk committees -----------------------------------------------------

    def iv_rows(self) -> list[dict]:
        """One row per feature: information value, bins, coefficient, used or why not."""
        rows = []
        for i, f in enumerate(self.features):
            rows.append({"feature": f.name, "iv": self.iv_[f.name],
                         "bins": int(len(self.binnings_[f.name].splits) + (1 if f.type == "numeric" else 0)),
                         "coefficient": float(self.coef_[i]), "used": bool(self.coef_[i] != 0),
                         "excluded_because": self.excluded_.get(f.name)})
        return sorted(rows, key=lambda r: -r["iv"])

    def points_rows(self, scaling: ScalingSpec | None = None) -> list[dict]:
        """The points table: every bin of every used feature with its count, defaults, default
        rate, WoE and points (log-odds added to the intercept; with `pdo` scaling also score points)."""
        rows = []
        for i, f in enumerate(self.features):
            if self.coef_[i] == 0:
                continue
            table = _binning_table(self.binnings_[f.name])
            table = table[table.index != "Totals"]
            for _, r in table.iterrows():
                label = r["Bin"]
                label = ", ".join(map(str, label)) if isinstance(label, (list, np.ndarray)) else str(label)
                if label == "Special" and int(r["Count"]) == 0:
                    continue  # no special codes are declared; the bin is always empty
                woe = float(r["WoE"])
                points = float(self.coef_[i] * woe)
                row = {"feature": f.name, "bin": label, "count": int(r["Count"]),
                       "defaults": int(r["Event"]), "default_rate": float(r["Event rate"]) if r["Count"] else None,
                       "woe": woe, "points": points}
                if scaling is not None and scaling.method == "pdo":
                    row["score_points"] = -scaling.factor * points
                rows.append(row)
        return rows
