"""The converters of record: skl2onnx for scikit-learn estimators, onnxmltools for XGBoost.

Each converter's graph is spliced into a version's raw-column graph as `GraphParts`: it reads
a tensor of the preprocessing (the `features` matrix, or a float64 copy of it), every name
inside it is prefixed so that several converted pieces live in one graph, and its outputs
are renamed to the tensors the rest of the graph uses. Converters are asked for BigQuery ML's
opsets (onnxruntime 1.12: default opset <= 17, ai.onnx.ml <= 3); `make_model` sets IR 8.

Hand-built graph parts remain only where a converter falls short; each such shortfall is
shown by a test on the pinned converter version (tests/training/onnx/test_converters.py).
"""

from __future__ import annotations

import onnx
from onnx import TensorProto, helper

from training.onnx.graph import MATRIX, ML_OPSET_VERSION, OPSET_VERSION, GraphParts

TARGET_OPSET = {"": OPSET_VERSION, "ai.onnx.ml": ML_OPSET_VERSION}
# onnxmltools 1.16's XGBoost converter refuses a default opset above 15 (it emits ai.onnx.ml
# TreeEnsembleRegressor/Classifier only, which the version-17 graph runs unchanged).
XGBOOST_TARGET_OPSET = 15
MATRIX64 = "features64"


def matrix64_parts() -> GraphParts:
    """`features` (float32) -> `features64`: the float64 models read the matrix in double, as
    scikit-learn does once it is given float64 rows."""
    return GraphParts([helper.make_node("Cast", [MATRIX], [MATRIX64], to=TensorProto.DOUBLE)], [], [])


def splice(converted: onnx.ModelProto, prefix: str, outputs: dict[str, str], input_name: str) -> GraphParts:
    """A converter's one-input graph as parts reading `input_name`.

    `outputs` maps the converter's output names to the names the surrounding graph uses; every
    other tensor and node name gets `prefix`. Raises ValueError on an opset the bundle does
    not declare, so a converter upgrade cannot silently leave BigQuery ML's limits.
    """
    for op in converted.opset_import:
        if op.domain not in TARGET_OPSET or op.version > TARGET_OPSET[op.domain]:
            raise ValueError(f"converter emitted opset {op.domain or 'ai.onnx'} {op.version}; the bundle "
                             f"allows {TARGET_OPSET}")
    g = converted.graph
    if len(g.input) != 1:
        raise ValueError(f"expected a one-input converted graph, found inputs {[i.name for i in g.input]}")
    missing = set(outputs) - {o.name for o in g.output}
    if missing:
        raise ValueError(f"converter outputs {sorted(missing)} not found in {[o.name for o in g.output]}")
    names = {g.input[0].name: input_name, **outputs}

    def rename(name: str) -> str:
        return name if name == "" else names.get(name, prefix + name)

    nodes = []
    for node in g.node:
        copy = onnx.NodeProto()
        copy.CopyFrom(node)
        copy.name = prefix + node.name
        copy.input[:] = [rename(n) for n in node.input]
        copy.output[:] = [rename(n) for n in node.output]
        nodes.append(copy)
    inits = []
    for init in g.initializer:
        copy = onnx.TensorProto()
        copy.CopyFrom(init)
        copy.name = rename(init.name)
        inits.append(copy)
    return GraphParts(nodes, inits, [])


def _convert_sklearn(estimator, n_columns: int, element: str, options: dict | None = None) -> onnx.ModelProto:
    """skl2onnx's graph of a fitted estimator (or Pipeline) reading one [N, n_columns] input of
    `element` ("float", "double" or "string"), at the bundle's opsets."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType, StringTensorType

    tensor = {"float": FloatTensorType, "double": DoubleTensorType, "string": StringTensorType}[element]
    return convert_sklearn(estimator, initial_types=[("input", tensor([None, n_columns]))],
                           target_opset=TARGET_OPSET, options=options)


def sklearn_parts(estimator, n_columns: int, prefix: str, outputs: dict[str, str],
                  input_name: str = MATRIX, double: bool = False, options: dict | None = None) -> GraphParts:
    """skl2onnx's conversion of a fitted estimator (or Pipeline) reading `input_name`
    [N, n_columns] (float64 if `double`)."""
    converted = _convert_sklearn(estimator, n_columns, "double" if double else "float", options)
    return splice(converted, prefix, outputs, input_name)


def splice_sklearn(step, prefix: str, output: str, input_name: str, numeric: bool) -> GraphParts:
    """skl2onnx's conversion of a one-column step reading the raw [N, 1] input `input_name`
    (float if `numeric`, else string), its output renamed `output`."""
    converted = _convert_sklearn(step, 1, "float" if numeric else "string")
    (out,) = [o.name for o in converted.graph.output]
    return splice(converted, prefix, {out: output}, input_name)


def xgboost_parts(booster, n_columns: int, prefix: str, output: str) -> GraphParts:
    """onnxmltools' conversion of an XGBoost regressor's booster: `output` [N, 1] = the sum of
    the leaves plus base_score *as stored* (see `xgboost_base_score`), with no link applied."""
    from onnxmltools import convert_xgboost
    from onnxmltools.convert.common.data_types import FloatTensorType

    converted = convert_xgboost(booster, initial_types=[("input", FloatTensorType([None, n_columns]))],
                                target_opset=XGBOOST_TARGET_OPSET)
    (out,) = [o.name for o in converted.graph.output]
    return splice(converted, prefix, {out: output}, MATRIX)

