"""riskscore.fused: a bundle's graphs as one session, outputs bit for bit those of the separate
sessions; and batch scoring's model running it."""

from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from riskscore.batch.model import BatchModel
from riskscore.bundle import load
from riskscore.fused import FuseError, fuse
from riskscore.scorer import Model
from riskscore.settings import BatchSettings
from training.onnx_graph import GraphParts, make_model, raw_inputs
from training.pd_model import onnx_inputs
from training.synthetic import generate

GRAPHS = ("pd", "lgd", "segment", "anomaly")


@pytest.fixture(scope="module")
def bundle(trained_store):
    current = json.loads((trained_store.path / "credit_default" / "current.json").read_text())
    return load(trained_store.store, "credit_default", current["version"])


def _session(data: bytes):
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    return ort.InferenceSession(data, sess_options=opts, providers=["CPUExecutionProvider"])


def _run(session, feeds) -> dict:
    return dict(zip([o.name for o in session.get_outputs()], session.run(None, feeds)))


def _graphs(bundle) -> dict[str, bytes]:
    return {g: bundle.files[bundle.manifest["models"][g]["file"]] for g in GRAPHS}


def test_fused_outputs_equal_the_separate_graphs_bit_for_bit(bundle, small_spec):
    graphs = _graphs(bundle)
    fused = _session(fuse(graphs))
    rows = generate(rows=5000, seed=11)
    rows.loc[::7, "monthly_income"] = np.nan  # missing values take the imputation branches
    for chunk in (rows, rows.iloc[:1], rows.iloc[:0]):
        feeds = onnx_inputs(chunk, small_spec.features)
        together = _run(fused, feeds)
        expected = {}
        for data in graphs.values():
            expected.update(_run(_session(data), feeds))
        assert sorted(together) == sorted(expected)
        for name, value in expected.items():
            assert together[name].dtype == value.dtype and np.array_equal(together[name], value), name


def test_the_preprocessing_every_graph_repeats_runs_once(bundle, small_spec):
    graphs = _graphs(bundle)
    fused = onnx.load_model_from_string(fuse(graphs))
    separate = [onnx.load_model_from_string(g) for g in graphs.values()]
    categorical = sum(f.type == "categorical" for f in small_spec.features)
    assert sum(n.op_type == "OneHotEncoder" for m in separate for n in m.graph.node) == categorical * len(graphs)
    assert sum(n.op_type == "OneHotEncoder" for n in fused.graph.node) == categorical
    assert [i.name for i in fused.graph.input] == [f.name for f in small_spec.features]
    onnx.checker.check_model(fused, full_check=True)


def _tiny(features, output: str, node_op: str = "Identity", out_type=TensorProto.FLOAT):
    graph_in = raw_inputs(features)[0].name
    parts = GraphParts([helper.make_node(node_op, [graph_in], [output])], [],
                       [helper.make_tensor_value_info(output, out_type, [None, 1])])
    return make_model(features, parts, "tiny").SerializeToString()


def test_clashing_outputs_or_inputs_cannot_be_fused(small_spec):
    numeric = [f for f in small_spec.features if f.type == "numeric"][:1]
    with pytest.raises(FuseError, match="output 'y' of graph 'b' is also another graph's output"):
        fuse({"a": _tiny(numeric, "y"), "b": _tiny(numeric, "y")})
    as_text = [numeric[0].model_copy(update={"type": "categorical", "categories": ["x"]})]
    with pytest.raises(FuseError, match=f"input '{numeric[0].name}' of graph 'b' differs in type"):
        fuse({"a": _tiny(numeric, "y"), "b": _tiny(as_text, "z", out_type=TensorProto.STRING)})


def test_batch_model_runs_the_fused_session_and_decides_as_the_model(bundle, small_spec):
    settings = BatchSettings(model_store="unused")
    batch, plain = BatchModel(bundle.manifest, bundle.files, settings), Model(bundle.manifest, bundle.files, settings)
    feeds = onnx_inputs(generate(rows=2000, seed=12), small_spec.features)
    calls = []
    real = batch._fused.run
    batch._fused = type("Spy", (), {"run": lambda self, *a: calls.append(1) or real(*a)})()
    ours, theirs = batch.decide(feeds), plain.decide(feeds)
    assert calls == [1]
    assert sorted(ours) == sorted(theirs)
    for name in theirs:
        np.testing.assert_array_equal(ours[name], theirs[name], err_msg=name)  # NaN = NaN here
    # with the embedding asked for, the separate sessions run (the fused graph has none)
    assert "embedding" in batch.decide(feeds, include_embedding=True) and calls == [1]


def test_the_score_path_never_imports_onnx():
    # Only batch scoring fuses graphs; `score` instances never pay for the onnx package.
    import subprocess
    import sys
    from pathlib import Path

    code = "import sys; import main; assert 'onnx' not in sys.modules, 'onnx imported'"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[1] / "functions")
