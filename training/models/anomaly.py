"""Unusual applicants: an IsolationForest on the preprocessed matrix, exported as one graph.

The exported graph takes the raw named columns and returns
  `anomaly_score` [N] float32: -decision_function of scikit-learn's IsolationForest, i.e.
                  2^(-mean path length / c(max_samples)) + offset_; above 0 is anomalous;
  `anomaly_flag`  [N] int64:   1 for an anomaly, 0 otherwise; identical to
                  `IsolationForest.predict(...) == -1`, and always equal to `anomaly_score > 0`.

The trees are converted here rather than by skl2onnx, so that the flag is exact, not merely
close. scikit-learn sends float32 rows through float64 thresholds, sums the per-tree path
lengths in float64, tree by tree, and flags a row when -2^(-depth / denominator) < offset_.
The graph reproduces each step that decides the flag bit for bit:
  * each threshold is rounded *down* to float32; for a float32 value x, x <= t exactly when
    x <= (largest float32 <= t), so every row reaches the same leaf as in scikit-learn;
  * one single-target ensemble sums each row's per-tree path lengths in float32 (fast: one
    pass over the trees, no per-tree outputs); that sum is within a proven bound
    (`depth_band`) of scikit-learn's float64 sum, so it decides the flag of every row farther
    than the bound from the threshold, and gives the score well within tolerance;
  * the few rows within the bound of the threshold go through a second ensemble that outputs
    leaf ids (small integers, exact in float32), which index a float64 table holding
    scikit-learn's own per-leaf path length (depth + c(leaf samples) - 1); those lengths are
    added in float64 in tree order, as scikit-learn's loop does, and replace the fast sum;
  * the flag compares the depth sum with a float64 threshold found by bisection on
    scikit-learn's own score arithmetic (numpy's vectorised `2 ** x` can differ from libm's
    `pow`, which onnxruntime uses, in the last bit, so comparing scores in the graph could flip
    a row lying exactly on the contamination quantile).
"""

from __future__ import annotations

import numpy as np
import onnx
import pandas as pd
from onnx import TensorProto, helper
from sklearn.base import BaseEstimator
from sklearn.ensemble import IsolationForest
from sklearn.ensemble._iforest import _average_path_length

from riskscore.errors import ExportVerificationError

from training.onnx.graph import MATRIX, GraphParts, const, expose_outputs, make_model
from training.onnx.preprocess import fitted_preprocessor
from training.onnx.run import run_onnx

PARITY_TOLERANCE = 1e-5
FILE = "anomaly.onnx"
OUTPUTS = ["anomaly_score", "anomaly_flag"]
# How many times the proven worst-case float32 error the band of rows summed exactly spans.
DEPTH_BAND_MARGIN = 4.0


def _floor_float32(values: np.ndarray) -> np.ndarray:
    """Largest float32 <= each float64 value."""
    f = values.astype(np.float32)
    up = f.astype(np.float64) > values
    f[up] = np.nextafter(f[up], np.float32(-np.inf))
    return f


class AnomalyModel(BaseEstimator):
    """IsolationForest on the preprocessed features; `contamination` sets the threshold.

    fit(X) on raw columns; predict(X) gives the native flag as the graph does (1 = anomaly,
    0 = normal; not scikit-learn's -1/+1 outlier convention), predict_native(X) both outputs.
    Learned: preprocessor_, forest_, offset_ (scikit-learn's threshold on score_samples),
    depth_threshold_ (the same threshold on the summed path length: a row is an anomaly when
    its sum is below it), path_lengths_ (per tree and node id), denominator_,
    train_anomaly_rate_ and n_train_rows_.
    """

    key = "anomaly"

    def __init__(self, preprocessor=None, contamination: float = 0.01, n_estimators: int = 100,
                 max_samples: int = 256, seed: int = 0):
        self.preprocessor = preprocessor
        self.contamination = contamination
        self.n_estimators = n_estimators
        self.max_samples = max_samples
        self.seed = seed

    # --- fitting --------------------------------------------------------------------------

    def fit_version(self, data) -> "AnomalyModel":
        """The export protocol's fit (training/models/protocol.py): the training split."""
        return self.fit(data.parts["train"])

    def fit(self, X: pd.DataFrame, y=None):
        self.preprocessor_ = fitted_preprocessor(self.preprocessor, X)
        matrix = self.preprocessor_.transform(X)
        self.forest_ = IsolationForest(
            n_estimators=self.n_estimators, max_samples=min(self.max_samples, len(matrix)),
            contamination=self.contamination, max_features=1.0, bootstrap=False,
            random_state=self.seed, n_jobs=2).fit(matrix)
        if self.forest_._max_features != matrix.shape[1]:
            raise ValueError("the exported trees assume every tree sees every column")
        self.offset_ = float(self.forest_.offset_)
        self._build_tables()
        depth = self._depth_native(matrix)
        native_score = self.forest_.score_samples(matrix)
        # The reconstruction of scikit-learn's arithmetic must be exact, or the export is wrong.
        if not np.array_equal(self._score_from_depth(depth), native_score):
            raise ExportVerificationError("IsolationForest path lengths could not be reproduced exactly; "
                                          "scikit-learn's scoring has changed")
        self.depth_threshold_ = self._find_depth_threshold()
        native_flag = (native_score - self.offset_) < 0  # IsolationForest.predict == -1
        if not np.array_equal(depth < self.depth_threshold_, native_flag):
            raise ExportVerificationError("the depth threshold does not reproduce IsolationForest.predict "
                                          "on the training rows")
        self.train_anomaly_rate_ = float(native_flag.mean())
        self.n_train_rows_ = int(len(matrix))
        return self

    def _build_tables(self) -> None:
        """Per tree, scikit-learn's path length for each node id (meaningful at leaves)."""
        self.n_nodes_max_ = max(e.tree_.node_count for e in self.forest_.estimators_)
        table = np.zeros((len(self.forest_.estimators_), self.n_nodes_max_), dtype=np.float64)
        for t, (dpl, apl) in enumerate(zip(self.forest_._decision_path_lengths,
                                           self.forest_._average_path_length_per_tree)):
            idx = np.arange(len(dpl))
            table[t, : len(dpl)] = dpl[idx] + apl[idx] - 1.0  # the same float64 ops as scikit-learn
        self.path_lengths_ = table
        # scikit-learn: len(estimators_) * _average_path_length([self._max_samples]), shape (1,)
        self.denominator_ = len(self.forest_.estimators_) * _average_path_length([self.forest_._max_samples])

    def _depth_native(self, matrix: np.ndarray) -> np.ndarray:
        """Sum over trees (in tree order, float64) of each row's leaf path length."""
        m = np.asarray(matrix, dtype=np.float32)
        depth = np.zeros(len(m))
        for t, tree in enumerate(self.forest_.estimators_):
            depth += self.path_lengths_[t][tree.apply(m, check_input=False)]
        return depth

    def _score_from_depth(self, depth: np.ndarray) -> np.ndarray:
        """score_samples from depth sums, with scikit-learn's exact numpy expression."""
        denominator = self.denominator_
        scores = 2 ** (-np.divide(depth, denominator, out=np.ones_like(depth), where=denominator != 0))
        return -scores

    def _native_flag_from_depth(self, depth: np.ndarray) -> np.ndarray:
        return (self._score_from_depth(depth) - self.offset_) < 0

    def _find_depth_threshold(self) -> float:
        """Smallest float64 depth sum that scikit-learn would not flag (bisection over the
        bit patterns of non-negative doubles, which sort like the values)."""
        lo = np.float64(0.0)
        hi = np.float64(float(self.denominator_[0]) * 2048.0)  # 2^-2048 underflows: never flagged
        if not self._native_flag_from_depth(np.array([lo]))[0]:
            return 0.0  # nothing can be flagged
        lo_bits, hi_bits = int(np.array(lo).view(np.int64)), int(np.array(hi).view(np.int64))
        while hi_bits - lo_bits > 1:
            mid = (lo_bits + hi_bits) // 2
            value = np.array([mid], dtype=np.int64).view(np.float64)
            if self._native_flag_from_depth(value)[0]:
                lo_bits = mid
            else:
                hi_bits = mid
        return float(np.array([hi_bits], dtype=np.int64).view(np.float64)[0])

    # --- native predictions ---------------------------------------------------------------

    def predict_native(self, X: pd.DataFrame) -> dict[str, np.ndarray]:
        """anomaly_score = -IsolationForest.decision_function (float64, higher is more unusual)
        and anomaly_flag = (IsolationForest.predict == -1) as int64."""
        # decision_function = score_samples - offset_ and predict flags decision < 0, so one
        # pass over the trees gives both, exactly as the two scikit-learn calls would.
        decision = self.forest_.score_samples(self.preprocessor_.transform(X)) - self.forest_.offset_
        return {"anomaly_score": -decision, "anomaly_flag": (decision < 0).astype(np.int64)}

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """1 for an anomaly, 0 otherwise (IsolationForest.predict == -1)."""
        return (self.forest_.predict(self.preprocessor_.transform(X)) == -1).astype(np.int64)

    # --- export ---------------------------------------------------------------------------

    def _tree_attrs(self, leaf_targets) -> dict:
        """TreeEnsembleRegressor attributes of the forest; `leaf_targets(tree, node)` gives each
        leaf's (target id, weight)."""
        attrs = {k: [] for k in ("nodes_treeids", "nodes_nodeids", "nodes_featureids", "nodes_values",
                                 "nodes_modes", "nodes_truenodeids", "nodes_falsenodeids",
                                 "nodes_missing_value_tracks_true", "target_treeids", "target_nodeids",
                                 "target_ids", "target_weights")}
        for t, est in enumerate(self.forest_.estimators_):
            tree = est.tree_
            left, right = tree.children_left, tree.children_right
            thresholds = _floor_float32(tree.threshold)
            for nid in range(tree.node_count):
                leaf = left[nid] == -1
                attrs["nodes_treeids"].append(t)
                attrs["nodes_nodeids"].append(nid)
                attrs["nodes_featureids"].append(0 if leaf else int(tree.feature[nid]))
                attrs["nodes_values"].append(0.0 if leaf else float(thresholds[nid]))
                attrs["nodes_modes"].append("LEAF" if leaf else "BRANCH_LEQ")
                attrs["nodes_truenodeids"].append(0 if leaf else int(left[nid]))
                attrs["nodes_falsenodeids"].append(0 if leaf else int(right[nid]))
                attrs["nodes_missing_value_tracks_true"].append(0)
                if leaf:
                    target, weight = leaf_targets(t, nid)
                    attrs["target_treeids"].append(t)
                    attrs["target_nodeids"].append(nid)
                    attrs["target_ids"].append(target)
                    attrs["target_weights"].append(weight)
        return attrs

    def depth_band(self) -> float:
        """A bound, with a margin of DEPTH_BAND_MARGIN, on |float32 depth sum - scikit-learn's
        float64 sum| for any row and any summation order.

        Every path length is >= 0, so every partial sum is <= s_max (the sum of each tree's
        longest path length); rounding a leaf length to float32 and each float32 addition then
        err by at most ulp(s_max) / 2 each, 2 * n_trees roundings in all (scikit-learn's own
        float64 roundings are 2^29 times smaller)."""
        n_trees = len(self.forest_.estimators_)
        s_max = float(np.sum(np.max(self.path_lengths_, axis=1)))
        ulp = float(np.spacing(np.float32(s_max * (1.0 + 1e-6))))
        return DEPTH_BAND_MARGIN * n_trees * ulp

    def _tree_parts(self) -> GraphParts:
        """`features` -> `anom_depth` [N] float64: each row's path-length sum, exactly scikit-learn's
        wherever it decides the flag.

        Fast path, every row: one single-target ensemble sums the float32 path lengths
        (`anom_depth_approx`). Rows within `depth_band()` of the flag threshold (77 of 5 million
        synthetic applicants in the batch benchmark) are taken again through a leaf-id ensemble and summed in float64 in tree order,
        bit for bit as scikit-learn sums them; outside the band the approximate sum is on the
        same side of the threshold as the exact one, so every flag is exact.
        """
        n_trees, width = self.path_lengths_.shape
        lengths32 = self.path_lengths_.astype(np.float32)
        approx = helper.make_node(
            "TreeEnsembleRegressor", [MATRIX], ["anom_depth32"], domain="ai.onnx.ml", n_targets=1,
            aggregate_function="SUM", post_transform="NONE", base_values=[0.0],
            **self._tree_attrs(lambda t, nid: (0, float(lengths32[t, nid]))))
        leaf_ids = helper.make_node(
            "TreeEnsembleRegressor", ["anom_band_features"], ["anom_leaf"], domain="ai.onnx.ml",
            n_targets=n_trees, aggregate_function="SUM", post_transform="NONE", base_values=[0.0] * n_trees,
            **self._tree_attrs(lambda t, nid: (t, float(nid))))
        nodes = [approx,
                 helper.make_node("Cast", ["anom_depth32"], ["anom_depth64"], to=TensorProto.DOUBLE),
                 helper.make_node("Reshape", ["anom_depth64", "anom_flat"], ["anom_depth_approx"]),
                 helper.make_node("Sub", ["anom_depth_approx", "anom_depth_threshold"], ["anom_gap"]),
                 helper.make_node("Abs", ["anom_gap"], ["anom_gap_abs"]),
                 helper.make_node("Greater", ["anom_gap_abs", "anom_band"], ["anom_out_of_band"]),
                 helper.make_node("Not", ["anom_out_of_band"], ["anom_in_band"]),
                 helper.make_node("NonZero", ["anom_in_band"], ["anom_band_nz"]),
                 helper.make_node("Reshape", ["anom_band_nz", "anom_flat"], ["anom_band_rows"]),
                 helper.make_node("Gather", [MATRIX, "anom_band_rows"], ["anom_band_features"], axis=0),
                 leaf_ids,
                 # leaf ids (small integers, exact in float32) -> scikit-learn's float64 lengths
                 helper.make_node("Cast", ["anom_leaf"], ["anom_leaf_id"], to=TensorProto.INT64),
                 helper.make_node("Add", ["anom_leaf_id", "anom_tree_offsets"], ["anom_flat_id"]),
                 helper.make_node("Gather", ["anom_path_lengths", "anom_flat_id"], ["anom_lengths"], axis=0)]
        # One Gather per tree column: onnxruntime 1.12 (BigQuery ML) has no float64 Split.
        depth_terms = [f"anom_len_{t}" for t in range(n_trees)]
        nodes += [helper.make_node("Gather", ["anom_lengths", f"anom_tree_{t}"], [term], axis=1)
                  for t, term in enumerate(depth_terms)]
        running = depth_terms[0]
        for t in range(1, n_trees):  # left to right, as scikit-learn's `depths += ...` loop
            nodes.append(helper.make_node("Add", [running, depth_terms[t]], [f"anom_depth_{t}"]))
            running = f"anom_depth_{t}"
        nodes.append(helper.make_node("ScatterElements", ["anom_depth_approx", "anom_band_rows", running],
                                      ["anom_depth"], axis=0))
        inits = [const("anom_flat", np.array([-1], dtype=np.int64)),
                 const("anom_band", np.float64(self.depth_band())),
                 const("anom_tree_offsets", (np.arange(n_trees, dtype=np.int64) * width)),
                 const("anom_path_lengths", self.path_lengths_.reshape(-1)),
                 *[const(f"anom_tree_{t}", np.int64(t)) for t in range(n_trees)]]
        return GraphParts(nodes, inits, [])

    def _scoring_parts(self) -> GraphParts:
        """`anom_depth` -> anomaly_score, anomaly_flag."""
        nodes = [
            # flag: depth < threshold (exact, see module docstring)
            helper.make_node("Less", ["anom_depth", "anom_depth_threshold"], ["anom_is_anomaly"]),
            helper.make_node("Cast", ["anom_is_anomaly"], ["anomaly_flag"], to=TensorProto.INT64),
            # score: 2^(-depth / denominator) + offset_ == -(score_samples - offset_)
            helper.make_node("Div", ["anom_depth", "anom_denominator"], ["anom_ratio"]),
            helper.make_node("Neg", ["anom_ratio"], ["anom_neg_ratio"]),
            helper.make_node("Pow", ["anom_two", "anom_neg_ratio"], ["anom_paper_score"]),
            helper.make_node("Add", ["anom_paper_score", "anom_offset"], ["anom_score64"]),
            helper.make_node("Cast", ["anom_score64"], ["anom_score32"], to=TensorProto.FLOAT),
            # keep `anomaly_score > 0` == `anomaly_flag` even where pow differs in the last bit
            helper.make_node("Max", ["anom_score32", "anom_tiny"], ["anom_score_pos"]),
            helper.make_node("Min", ["anom_score32", "anom_zero"], ["anom_score_nonpos"]),
            helper.make_node("Where", ["anom_is_anomaly", "anom_score_pos", "anom_score_nonpos"],
                             ["anomaly_score"]),
        ]
        inits = [const("anom_depth_threshold", np.float64(self.depth_threshold_)),
                 const("anom_denominator", np.float64(self.denominator_[0])),
                 const("anom_two", np.float64(2.0)),
                 const("anom_offset", np.float64(self.offset_)),
                 const("anom_tiny", np.float32(np.finfo(np.float32).smallest_subnormal)),
                 const("anom_zero", np.float32(0.0))]
        outputs = [helper.make_tensor_value_info("anomaly_score", TensorProto.FLOAT, [None]),
                   helper.make_tensor_value_info("anomaly_flag", TensorProto.INT64, [None])]
        return GraphParts(nodes, inits, outputs)

    def to_onnx(self) -> onnx.ModelProto:
        parts = self.preprocessor_.graph_parts().extend(self._tree_parts()).extend(self._scoring_parts())
        return make_model(self.preprocessor_.features, parts,
                          f"anomaly detection: IsolationForest, contamination {self.contamination}")

    def verify(self, onnx_model: onnx.ModelProto, X: pd.DataFrame) -> dict:
        """Compare the graph with the native IsolationForest on real rows; raise on any mismatch.

        Raises when a flag differs, when a score differs by more than PARITY_TOLERANCE, or
        when `anomaly_score > 0` disagrees with `anomaly_flag`; also when a row near the threshold
        (in `depth_band()`) gets a path-length sum other than scikit-learn's float64 one, or any
        row's float32 sum strays beyond the proven bound.
        """
        if len(X) == 0:
            raise ValueError("verify needs at least one row")
        inspect = expose_outputs(onnx_model, {"anom_depth": TensorProto.DOUBLE,
                                              "anom_depth_approx": TensorProto.DOUBLE,
                                              "anom_in_band": TensorProto.BOOL})
        out = run_onnx(inspect, self.preprocessor_.features, X)
        score, flag = out["anomaly_score"], out["anomaly_flag"]
        native = self.predict_native(X)
        native_score, native_flag = native["anomaly_score"], native["anomaly_flag"]
        mismatches = int(np.sum(flag != native_flag))
        diff = float(np.max(np.abs(score.astype(np.float64) - native_score)))
        inconsistent = int(np.sum((score > 0) != (flag == 1)))
        depth = self._depth_native(self.preprocessor_.transform(X))
        in_band = out["anom_in_band"]
        band = self.depth_band()
        approx_diff = float(np.max(np.abs(out["anom_depth_approx"] - depth)))
        report = {"rows": int(len(X)), "flag_mismatches": mismatches, "score_max_abs_diff": diff,
                  "tolerance": PARITY_TOLERANCE, "flag_rate": float(flag.mean()),
                  "native_flag_rate": float(native_flag.mean()),
                  "depth_band": band, "depth_sum_max_abs_diff": approx_diff,
                  "depth_sum_tolerance": band / DEPTH_BAND_MARGIN,  # the proven bound
                  "band_rows": int(in_band.sum()),
                  "band_sum_mismatches": int(np.sum(out["anom_depth"][in_band] != depth[in_band])),
                  "closest_native_score_to_threshold": float(np.min(np.abs(native_score)))}
        expected_band = np.abs(out["anom_depth_approx"] - self.depth_threshold_) <= band
        if not np.array_equal(in_band, expected_band):
            raise ExportVerificationError(f"anomaly ONNX sums {int(in_band.sum())} rows exactly, but "
                                          f"{int(expected_band.sum())} lie within {band:.3g} of the threshold")
        if report["band_sum_mismatches"]:
            raise ExportVerificationError(f"anomaly ONNX path-length sums of {report['band_sum_mismatches']} rows "
                                          "near the threshold differ from scikit-learn's")
        if not approx_diff <= report["depth_sum_tolerance"]:
            raise ExportVerificationError(f"anomaly ONNX float32 path-length sums differ from scikit-learn's by "
                                          f"{approx_diff:.3g}, beyond the proven bound {report['depth_sum_tolerance']:.3g}")
        if mismatches:
            raise ExportVerificationError(f"anomaly ONNX export flags {mismatches} of {len(X)} rows "
                                          "differently from IsolationForest")
        if not diff <= PARITY_TOLERANCE:
            raise ExportVerificationError(f"anomaly ONNX score differs from IsolationForest by {diff:.3g} "
                                          f"(tolerance {PARITY_TOLERANCE})")
        if inconsistent:
            raise ExportVerificationError(f"anomaly ONNX score and flag disagree on {inconsistent} rows")
        return report

    def evaluate(self, onnx_model: onnx.ModelProto, ev) -> None:
        """The graph's flag rate on the test rows; their anomaly scores for the card."""
        out = run_onnx(onnx_model, self.preprocessor_.features, ev.data.parts["test"])
        ev.metrics["anomaly"] = {"test_flag_rate": float(np.mean(out["anomaly_flag"])),
                                 "contamination": ev.data.spec.contamination}
        ev.card["anomaly_score_test"] = out["anomaly_score"]

    def manifest_entry(self) -> dict:
        return {
            "file": FILE, "outputs": list(OUTPUTS),
            "method": "IsolationForest on the preprocessed feature matrix",
            "parameters": {"contamination": float(self.contamination), "n_estimators": int(self.n_estimators),
                           "max_samples": int(self.forest_.max_samples_), "seed": int(self.seed)},
            "threshold": {"anomaly_score": 0.0, "score_samples_offset": self.offset_,
                          "paper_score": -self.offset_, "depth_sum": self.depth_threshold_,
                          "rule": "anomaly_flag = 1 when anomaly_score > 0, i.e. when the paper score "
                                  "2^(-mean path length / c(max_samples)) exceeds -offset"},
            "score": "anomaly_score = -IsolationForest.decision_function: higher is more unusual, "
                     "above 0 is flagged; the threshold is the contamination quantile of the training rows",
            "contamination": float(self.contamination),
            "train_anomaly_rate": self.train_anomaly_rate_, "train_rows": self.n_train_rows_,
        }
