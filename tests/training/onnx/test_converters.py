"""Where the pinned converters (skl2onnx, onnxmltools) fall short, one test per hand-built part.

Each test asserts the shortfall itself on the installed converter version. When a converter
release fixes one, its test fails: then the hand-built part it names can be replaced by the
converter (and the test removed).

Hand-built part (file): the tests that show why.
  missing indicators of nullable numerics (training/onnx/preprocess.py):
      test_skl2onnx_drops_simpleimputer_missing_indicator_columns,
      test_skl2onnx_has_no_missing_indicator_converter
  the [N, k] Reshape after each autoencoder half (training/models/embedding.py):
      test_skl2onnx_flattens_a_multi_output_mlp_regressor
  LGD's base-score fix and sigmoid (training/models/lgd.py):
      test_onnxmltools_drops_the_logistic_link_and_adds_base_score_as_a_probability
  PD trees with per-feature contributions (training/onnx/graph.py, models/pd/booster.py):
      test_no_converter_emits_per_feature_contributions
  IsolationForest with exact flags (training/models/anomaly.py):
      test_skl2onnx_isolation_forest_scores_are_not_exact_so_flags_can_flip
  the optbinning scorecard (training/models/pd/scorecard.py): test_optbinning_has_no_converter
"""

from __future__ import annotations

import importlib.metadata

import numpy as np
import onnxruntime as ort
import pytest
import xgboost as xgb
from onnxmltools import convert_xgboost
from skl2onnx import convert_sklearn, update_registered_converter
from skl2onnx.common.data_types import FloatTensorType
from skl2onnx.common.exceptions import MissingShapeCalculator
from sklearn.ensemble import IsolationForest
from sklearn.impute import MissingIndicator, SimpleImputer
from sklearn.neural_network import MLPRegressor
from sklearn.pipeline import Pipeline

from support.onnx_helpers import FEATURES, holdout
from training.models.pd.booster import PARITY_TOLERANCE
from training.onnx.converters import TARGET_OPSET, XGBOOST_TARGET_OPSET
from training.onnx.graph import xgboost_base_score
from training.onnx.preprocess import RawPreprocessor

PINNED = {"skl2onnx": "1.20.0", "onnxmltools": "1.16.0"}


def _run(onnx_model, feeds: dict) -> list[np.ndarray]:
    session = ort.InferenceSession(onnx_model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


def _convert(model, n_columns: int, options=None):
    return convert_sklearn(model, initial_types=[("x", FloatTensorType([None, n_columns]))],
                           target_opset=TARGET_OPSET, options=options)


@pytest.fixture(scope="module")
def matrices():
    train, test = holdout(5, rows=4000, train_rows=3000)
    pre = RawPreprocessor(FEATURES).fit(train)
    return pre.transform(train), pre.transform(test), train, test


def test_the_converters_are_the_pinned_versions():
    """The shortfalls below are those of these versions (requirements-train.txt)."""
    assert {name: importlib.metadata.version(name) for name in PINNED} == PINNED


# --- preprocessing: missing indicators ------------------------------------------------------

def test_skl2onnx_drops_simpleimputer_missing_indicator_columns():
    x = np.array([[1.0], [np.nan], [3.0]], dtype=np.float32)
    imputer = SimpleImputer(strategy="median", add_indicator=True).fit(x)
    native = imputer.transform(x)
    assert native.shape == (3, 2)  # imputed value, then the indicator
    (converted,) = _run(_convert(imputer, 1), {"x": x})
    assert converted.shape == (3, 1), "skl2onnx now keeps add_indicator: the graph's IsNaN/Cast can go"
    assert np.array_equal(converted, native[:, :1])


def test_skl2onnx_has_no_missing_indicator_converter():
    indicator = MissingIndicator(features="all").fit(np.array([[1.0], [np.nan]], dtype=np.float32))
    with pytest.raises(MissingShapeCalculator, match="MissingIndicator"):
        _convert(indicator, 1)


# --- embedding: multi-output MLPRegressor -----------------------------------------------------

@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_skl2onnx_flattens_a_multi_output_mlp_regressor(matrices):
    train, test, _, _ = matrices
    net = MLPRegressor(hidden_layer_sizes=(6,), activation="tanh", max_iter=30, random_state=0)
    net.fit(train, train[:, :3])
    native = net.predict(test)
    (converted,) = _run(_convert(net, train.shape[1]), {"x": test})
    assert native.shape == (len(test), 3)
    assert converted.shape == (3 * len(test), 1), "skl2onnx now keeps [N, outputs]: drop _mlp_parts' Reshape"
    # the flattening is row by row: reshaping back is exact up to float32 rounding
    assert np.max(np.abs(converted.reshape(-1, 3) - native)) < 1e-5


# --- LGD: reg:logistic ------------------------------------------------------------------------

def test_onnxmltools_drops_the_logistic_link_and_adds_base_score_as_a_probability(matrices):
    train, test, _, _ = matrices
    rng = np.random.default_rng(0)
    target = np.clip(0.3 + 0.1 * train[:, 0] + rng.normal(0, 0.1, len(train)), 0, 1)
    model = xgb.XGBRegressor(objective="reg:logistic", n_estimators=30, max_depth=3, random_state=0)
    model.fit(train, target)
    native = model.predict(test)
    booster = model.get_booster()
    converted = convert_xgboost(booster, initial_types=[("x", FloatTensorType([None, train.shape[1]]))],
                                target_opset=XGBOOST_TARGET_OPSET)
    (raw,) = _run(converted, {"x": test})
    raw = raw.ravel().astype(np.float64)
    base = xgboost_base_score(booster)
    sigmoid = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    assert np.max(np.abs(raw - native)) > 0.05, "onnxmltools now applies the link (issue 646)"
    assert np.max(np.abs(sigmoid(raw) - native)) > 1e-3, "onnxmltools now adds base_score as a margin"
    # what lgd_model.to_onnx adds, and it is exact
    fixed = sigmoid(raw - base + np.log(base / (1 - base)))
    assert np.max(np.abs(fixed - native)) <= PARITY_TOLERANCE


# --- PD: per-feature contributions -----------------------------------------------------------

def test_no_converter_emits_per_feature_contributions(matrices):
    """skl2onnx with onnxmltools' XGBoost converter registered (the documented way to convert
    a pipeline holding XGBoost) gives the right probabilities, but only labels and
    probabilities: reason codes need per-feature log-odds contributions, which the PD graph's
    own tree ensemble emits (with the margin from the same pass over the trees)."""
    from onnxmltools.convert.xgboost.operator_converters.XGBoost import convert_xgboost as xgboost_converter
    from skl2onnx.common.shape_calculator import calculate_linear_classifier_output_shapes

    train, test, raw_train, _ = matrices
    update_registered_converter(xgb.XGBClassifier, "XGBoostXGBClassifier",
                                calculate_linear_classifier_output_shapes, xgboost_converter,
                                options={"nocl": [True, False], "zipmap": [True, False, "columns"]})
    pipe = Pipeline([("xgb", xgb.XGBClassifier(n_estimators=20, max_depth=3, random_state=0))])
    pipe.fit(train, raw_train["default"].to_numpy())
    converted = _convert(pipe, train.shape[1], options={id(pipe.steps[-1][1]): {"zipmap": False}})
    outputs = _run(converted, {"x": test})
    assert [o.name for o in converted.graph.output] == ["label", "probabilities"]
    assert [o.shape[1:] for o in outputs] == [(), (2,)]  # nothing per feature
    assert np.max(np.abs(outputs[1][:, 1] - pipe.predict_proba(test)[:, 1])) <= PARITY_TOLERANCE


# --- anomaly: exact flags ---------------------------------------------------------------------

def test_skl2onnx_isolation_forest_scores_are_not_exact_so_flags_can_flip(matrices):
    """The converter computes path lengths and scores in float32: its score differs from
    scikit-learn's float64 one, so a row whose score lies that close to the threshold is flagged
    differently. The hand-built graph sums scikit-learn's float64 path lengths in its order and
    compares them with an exact threshold (tests/test_anomaly.py); it is also 2.4-2.8x faster
    (bench/converters.py, docs/benchmarks.md "Converters of record")."""
    train, test, _, _ = matrices
    forest = IsolationForest(n_estimators=50, contamination=0.01, random_state=0).fit(train)
    _, scores = _run(_convert(forest, train.shape[1]), {"x": test})
    native = forest.decision_function(test)
    gap = np.abs(scores.ravel().astype(np.float64) - native)
    assert gap.max() > 0, "skl2onnx's IsolationForest now scores exactly: compare it with anomaly.py"
    # A threshold between the two scores of the row they disagree on most: a contamination
    # quantile may fall anywhere, there included.
    row = int(np.argmax(gap))
    forest.offset_ += (native[row] + float(scores.ravel()[row])) / 2
    labels, _ = _run(_convert(forest, train.shape[1]), {"x": test[row:row + 1]})
    assert (labels.ravel()[0] == -1) != (forest.predict(test[row:row + 1])[0] == -1)


# --- scorecard --------------------------------------------------------------------------------

def test_optbinning_has_no_converter(matrices):
    from optbinning import OptimalBinning

    train, _, raw_train, _ = matrices
    binning = OptimalBinning(name="age", dtype="numerical", solver="cp")
    binning.fit(raw_train["age"].to_numpy(), raw_train["default"].to_numpy())
    with pytest.raises(MissingShapeCalculator, match="OptimalBinning"):
        convert_sklearn(binning, initial_types=[("x", FloatTensorType([None, 1]))], target_opset=TARGET_OPSET)
