"""Small builders for ONNX graphs: the bundle's opsets, model assembly and XGBoost tree ensembles.

Converters of record produce most graph parts (training/onnx/converters.py: skl2onnx, onnxmltools);
this module holds what they do not: `make_model` (raw named inputs, IR 8, opset 17), the
preprocessed-matrix labels, and the PD tree ensemble, converted from the booster's own JSON
(exact float32 thresholds and leaf values) because it must also emit per-feature path
contributions, which no converter does (tests/training/onnx/test_converters.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

# BigQuery ML imports ONNX with onnxruntime 1.12: IR version <= 8, default opset <= 17,
# ai.onnx.ml <= 3. Every graph is built within those limits so one bundle serves both the
# Cloud Functions and `ML.PREDICT` (tests/test_ort112.py runs each graph under 1.12.1).
OPSET_VERSION, ML_OPSET_VERSION, IR_VERSION = 17, 3, 8
OPSET = [helper.make_opsetid("", OPSET_VERSION), helper.make_opsetid("ai.onnx.ml", ML_OPSET_VERSION)]
MATRIX = "features"  # name of the preprocessed float32 matrix inside every graph


@dataclass
class GraphParts:
    """Nodes, initializers and outputs to be assembled into one model."""

    nodes: list
    initializers: list
    outputs: list

    def extend(self, other: "GraphParts") -> "GraphParts":
        return GraphParts(self.nodes + other.nodes, self.initializers + other.initializers,
                          self.outputs + other.outputs)


def raw_inputs(features) -> list:
    """One [N, 1] input per feature: float for numeric, string for categorical."""
    return [helper.make_tensor_value_info(
        f.name, TensorProto.FLOAT if f.type == "numeric" else TensorProto.STRING, [None, 1])
        for f in features]


def const(name: str, value) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(value), name)


def matrix_columns(features, categories: dict[str, list[str]]) -> list[tuple[str, str]]:
    """(feature, column label) for each column of the preprocessed matrix."""
    cols = []
    for f in features:
        if f.type == "numeric":
            cols.append((f.name, f.name))
            if f.nullable:
                cols.append((f.name, f"{f.name}=missing"))
        else:
            cols += [(f.name, f"{f.name}={c}") for c in categories[f.name]]
            if f.nullable:
                cols.append((f.name, f"{f.name}=missing"))
    return cols


def make_model(features, parts: GraphParts, doc: str) -> onnx.ModelProto:
    graph = helper.make_graph(parts.nodes, "credit_risk", raw_inputs(features), parts.outputs,
                              initializer=parts.initializers)
    model = helper.make_model(graph, opset_imports=OPSET, producer_name="credit-risk-training")
    model.ir_version = IR_VERSION  # readable by onnxruntime >= 1.10, BigQuery ML included
    model.doc_string = doc
    onnx.checker.check_model(model, full_check=True)
    return model


# --- XGBoost trees ------------------------------------------------------------------------

def booster_trees(booster) -> tuple[list[dict], float, str]:
    """(trees, base margin, objective) from the booster's JSON, as XGBoost itself stores them."""
    model = json.loads(booster.save_raw("json"))
    learner = model["learner"]
    objective = learner["objective"]["name"]
    base_score = xgboost_base_score(booster)
    # XGBoost >= 2 stores base_score in probability space for logistic objectives.
    if objective in ("binary:logistic", "reg:logistic"):
        base_margin = float(np.log(base_score / (1.0 - base_score)))
    elif objective in ("reg:squarederror", "reg:absoluteerror", "reg:pseudohubererror"):
        base_margin = base_score
    else:
        raise ValueError(f"unsupported XGBoost objective {objective!r}")
    trees = model["learner"]["gradient_booster"]["model"]["trees"]
    for t in trees:
        if any(t["split_type"]):
            raise ValueError("categorical splits are not supported: one-hot encode in the graph")
    return trees, base_margin, objective


def xgboost_base_score(booster) -> float:
    """base_score from the booster's own configuration (XGBoost >= 3 stores it as a string
    holding a one-element array; logistic objectives store it as a probability)."""
    stored = json.loads(booster.save_config())["learner"]["learner_model_param"]["base_score"]
    value = json.loads(stored.replace("E", "e")) if stored.startswith("[") else float(stored)
    return float(np.ravel(value)[0])


def _node_means(tree: dict) -> np.ndarray:
    """Cover-weighted mean leaf value under each node (the Saabas / XGBoost approx-contribs
    expectation), so that root-to-leaf differences add up exactly to the leaf value."""
    left, right = tree["left_children"], tree["right_children"]
    cover, leaf_value = tree["sum_hessian"], tree["split_conditions"]
    means = np.zeros(len(left))

    def visit(i: int) -> float:
        if left[i] == -1:
            means[i] = leaf_value[i]
        else:
            l, r = visit(left[i]), visit(right[i])
            cl, cr = cover[left[i]], cover[right[i]]
            means[i] = (l * cl + r * cr) / (cl + cr) if cl + cr > 0 else (l + r) / 2
        return means[i]

    visit(0)
    return means


def tree_ensemble_parts(trees: list[dict], base_margin: float, output: str,
                        column_groups: list[int] | None = None, n_groups: int = 1,
                        with_margin: bool = False) -> tuple[GraphParts, float]:
    """A TreeEnsembleRegressor on `features`.

    With `column_groups` None: output [N, 1] = raw margin (sum of leaves + base margin).
    Otherwise: output [N, n_groups] = per-group path contributions (each split's change in
    expected value credited to the group of its feature), and the returned bias is the
    value that, added to the row sum, gives the raw margin exactly. `with_margin` appends
    the raw margin as one more column ([N, n_groups + 1]), summed leaf by leaf in tree order
    exactly as the margin-only ensemble sums it, so one pass over the trees gives both.
    """
    attrs = {k: [] for k in ("nodes_treeids", "nodes_nodeids", "nodes_featureids", "nodes_values",
                             "nodes_modes", "nodes_truenodeids", "nodes_falsenodeids",
                             "nodes_missing_value_tracks_true", "target_treeids", "target_nodeids",
                             "target_ids", "target_weights")}
    bias = base_margin
    for tid, t in enumerate(trees):
        left, right = t["left_children"], t["right_children"]
        feat, cond = t["split_indices"], t["split_conditions"]
        means = _node_means(t) if column_groups is not None else None
        if means is not None:
            bias += means[0]
        for nid in range(len(left)):
            is_leaf = left[nid] == -1
            attrs["nodes_treeids"].append(tid)
            attrs["nodes_nodeids"].append(nid)
            attrs["nodes_featureids"].append(0 if is_leaf else feat[nid])
            attrs["nodes_values"].append(0.0 if is_leaf else float(np.float32(cond[nid])))
            attrs["nodes_modes"].append("LEAF" if is_leaf else "BRANCH_LT")
            attrs["nodes_truenodeids"].append(0 if is_leaf else left[nid])
            attrs["nodes_falsenodeids"].append(0 if is_leaf else right[nid])
            attrs["nodes_missing_value_tracks_true"].append(0 if is_leaf else int(t["default_left"][nid]))
        for nid in range(len(left)):
            if left[nid] != -1:
                continue
            if column_groups is None:
                weights = {0: float(cond[nid])}
            else:
                weights = _path_contributions(t, nid, means, column_groups)
                if with_margin:
                    weights[n_groups] = float(cond[nid])
            for target, w in sorted(weights.items()):
                attrs["target_treeids"].append(tid)
                attrs["target_nodeids"].append(nid)
                attrs["target_ids"].append(target)
                attrs["target_weights"].append(w)
    if column_groups is None:
        base_values = [base_margin]
    else:
        base_values = [0.0] * n_groups + ([base_margin] if with_margin else [])
    node = helper.make_node(
        "TreeEnsembleRegressor", [MATRIX], [output], domain="ai.onnx.ml",
        n_targets=len(base_values), aggregate_function="SUM", post_transform="NONE",
        base_values=base_values, **attrs)
    return GraphParts([node], [], []), bias


def _path_contributions(tree: dict, leaf: int, means: np.ndarray, column_groups: list[int]) -> dict[int, float]:
    parents, feat = tree["parents"], tree["split_indices"]
    out: dict[int, float] = {}
    node = leaf
    while node != 0:
        parent = parents[node]
        group = column_groups[feat[parent]]
        out[group] = out.get(group, 0.0) + float(means[node] - means[parent])
        node = parent
    return out or {0: 0.0}


def expose_outputs(model: onnx.ModelProto, names: dict[str, int]) -> onnx.ModelProto:
    """A copy of `model` that also returns the named intermediate tensors ({name: elem type}),
    so a parity check can compare them with their native twins; the original is untouched."""
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    for name, elem_type in names.items():
        copy.graph.output.append(helper.make_tensor_value_info(name, elem_type, None))
    return copy
