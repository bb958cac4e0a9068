"""Helpers shared by the tests of the exported models."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pandas as pd
from onnx import numpy_helper

from training.data.spec import load_spec
from training.data.synthetic import generate

FEATURES = load_spec(Path(__file__).resolve().parents[2] / "training/specs/credit_default.yaml").features

TYPICAL = {"revolving_utilization": 0.3, "age": 45.0, "late_30_59": 0.0, "late_60_89": 0.0,
           "late_90_plus": 0.0, "debt_ratio": 0.3, "monthly_income": 5500.0, "open_credit_lines": 8.0,
           "real_estate_loans": 1.0, "dependents": 1.0, "housing": "mortgage",
           "employment_type": "salaried", "loan_purpose": "debt_consolidation"}
EXTREME = dict(TYPICAL, revolving_utilization=40.0, late_30_59=60.0, late_60_89=60.0, late_90_plus=60.0,
               debt_ratio=90.0, monthly_income=9_000_000.0, open_credit_lines=150.0)


def applicants(*rows: dict) -> pd.DataFrame:
    return pd.DataFrame(list(rows))


def tampered(model: onnx.ModelProto, name: str, change) -> onnx.ModelProto:
    """A copy of `model` with initializer `name` replaced by change(its values); a name
    "node/attribute" changes that node's float-list attribute instead (converters such as
    skl2onnx's Imputer keep values in attributes)."""
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    if "/" in name:
        node_name, attr_name = name.split("/")
        (node,) = [n for n in copy.graph.node if n.name == node_name]
        (attr,) = [a for a in node.attribute if a.name == attr_name]
        attr.floats[:] = [float(v) for v in change(np.array(attr.floats, dtype=np.float32))]
        return copy
    (init,) = [i for i in copy.graph.initializer if i.name == name]
    init.CopyFrom(numpy_helper.from_array(change(numpy_helper.to_array(init).copy()), name))
    return copy


def assert_raw_column_inputs(graph: onnx.ModelProto, features) -> None:
    """`graph` takes the raw named columns in the spec's order: a float tensor for each numeric
    feature, a string one for each other, each of shape [rows, 1]."""
    inputs = [(i.name, i.type.tensor_type.elem_type) for i in graph.graph.input]
    assert inputs == [(f.name, onnx.TensorProto.FLOAT if f.type == "numeric" else onnx.TensorProto.STRING)
                      for f in features]
    for i in graph.graph.input:
        assert [d.dim_value for d in i.type.tensor_type.shape.dim][1:] == [1], i.name


def holdout(seed: int, rows: int = 8000, train_rows: int = 6000) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train, test) frames of synthetic applicants."""
    df = generate(rows, seed)
    return df.iloc[:train_rows].reset_index(drop=True), df.iloc[train_rows:].reset_index(drop=True)


def assert_served_like_each_graph(manifest: dict, files: dict[str, bytes], df: pd.DataFrame) -> None:
    """The score path's sessions (riskscore.model.sessions.Model: the per-request graphs combined into
    one session, one-row optimisation level for `score`, onnxruntime's default for batch) give
    exactly, bit for bit, what each graph of the bundle gives alone in a session with
    onnxruntime's default options on one thread, on the rows of `df`, as a batch and one row at
    a time."""
    import numpy as np
    import onnxruntime as ort

    from riskscore.contract.schema import FeatureSpec
    from riskscore.model.sessions import ON_DEMAND, Model
    from riskscore.settings import ScoreSettings
    from training.onnx.run import onnx_inputs

    features = [FeatureSpec.model_validate(f) for f in manifest["features"]]
    feeds = onnx_inputs(df, features)
    expected = {}
    opts = ort.SessionOptions()  # onnxruntime's defaults, on one thread as the functions run
    opts.intra_op_num_threads = opts.inter_op_num_threads = 1  # (tree sums are thread-order dependent)
    for meta in manifest["models"].values():
        session = ort.InferenceSession(files[meta["file"]], sess_options=opts, providers=["CPUExecutionProvider"])
        expected.update(zip([o.name for o in session.get_outputs()], session.run(None, feeds)))
    for optimization in ("basic", "all"):
        model = Model(manifest, files, ScoreSettings(), optimization=optimization)
        per_request = [name for name in manifest["models"] if name not in ON_DEMAND]
        assert len({id(model.sessions[name]) for name in per_request}) == 1, "one session per request"
        got = model.run_feeds(feeds)
        assert sorted(got) == sorted(expected)
        for name, value in expected.items():
            assert got[name].dtype == value.dtype and np.array_equal(got[name], value, equal_nan=True), name
        for i in range(0, len(df), max(1, len(df) // 25)):  # one applicant per call, as `score` runs
            one = model.run_feeds({k: v[i:i + 1] for k, v in feeds.items()})
            for name, value in expected.items():
                assert np.array_equal(one[name], value[i:i + 1], equal_nan=True), (name, i)
