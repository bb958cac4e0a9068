"""riskscore.model.graphs: the graphs a request runs, combined into one onnxruntime session, give
exactly the outputs of each graph alone; whatever cannot be combined safely is refused, and the
model then serves one session per graph."""

from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from support.onnx_helpers import assert_served_like_each_graph
from riskscore.contract import bundle
from riskscore.model import graphs
from riskscore.model.sessions import Model, build_session
from riskscore.settings import ScoreSettings

MODEL = "credit_default"


def tiny(output: str, factor: float, *, opset: int = 17, ir: int = 8, input_type=TensorProto.FLOAT,
         extra_nodes=(), domain_opsets=(), **model_fields) -> bytes:
    """y = x * factor + 1 through an internal tensor `t`, initializers `w`/`one` and node names
    `mul`/`add`: the same internal names in every graph built here."""
    nodes = [helper.make_node("Mul", ["x", "w"], ["t"], name="mul"),
             helper.make_node("Add", ["t", "one"], [output], name="add"), *extra_nodes]
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", input_type, [None, 1])],
        [helper.make_tensor_value_info(output, TensorProto.FLOAT, [None, 1])],
        initializer=[numpy_helper.from_array(np.array([factor], dtype=np.float32), "w"),
                     numpy_helper.from_array(np.array([1.0], dtype=np.float32), "one")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset), *domain_opsets], **model_fields)
    model.ir_version = ir
    return model.SerializeToString()


def run(data: bytes, x: np.ndarray) -> dict[str, np.ndarray]:
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    return dict(zip([o.name for o in session.get_outputs()], session.run(None, {"x": x})))


def test_graphs_with_the_same_internal_names_combine_and_keep_their_own_results():
    x = np.array([[0.5], [2.0], [np.nan]], dtype=np.float32)
    data, outputs = graphs.combine({"first": tiny("a", 2.0), "second": tiny("b", 3.0)})
    onnx.checker.check_model(onnx.load_from_string(data), full_check=True)
    assert outputs == {"first": ["a"], "second": ["b"]}
    got = run(data, x)
    np.testing.assert_array_equal(got["a"], x * 2 + 1)
    np.testing.assert_array_equal(got["b"], x * 3 + 1)
    names = {n.name for n in onnx.load_from_string(data).graph.node}
    assert names == {"first/mul", "first/add", "second/mul", "second/add"}


def _if_node():
    branch = helper.make_graph([helper.make_node("Identity", ["t"], ["u"])], "branch", [],
                               [helper.make_tensor_value_info("u", TensorProto.FLOAT, [None, 1])])
    cond = helper.make_node("Constant", [], ["c"], value=numpy_helper.from_array(np.array(True)))
    return [cond, helper.make_node("If", ["c"], ["v"], then_branch=branch, else_branch=branch)]


def _external():
    model = onnx.load_from_string(tiny("b", 3.0))
    w = model.graph.initializer[0]
    w.ClearField("raw_data")
    w.data_location = TensorProto.EXTERNAL
    w.external_data.add(key="location", value="w.bin")
    return model.SerializeToString()


def _sparse():
    model = onnx.load_from_string(tiny("b", 3.0))
    values = numpy_helper.from_array(np.array([1.0], dtype=np.float32), "s")
    indices = numpy_helper.from_array(np.array([0], dtype=np.int64), "s_indices")
    model.graph.sparse_initializer.append(helper.make_sparse_tensor(values, indices, [1]))
    return model.SerializeToString()


def _function():
    model = onnx.load_from_string(tiny("b", 3.0))
    model.functions.append(helper.make_function("local", "f", ["p"], ["q"], [helper.make_node("Identity", ["p"], ["q"])],
                                                [helper.make_opsetid("", 17)]))
    return model.SerializeToString()


@pytest.mark.parametrize("second, problem", [
    (tiny("a", 3.0), "output 'a' is also another graph's output"),
    (tiny("b", 3.0, opset=16), "opset ai.onnx 16 differs from 17"),
    (tiny("b", 3.0, ir=7), "IR versions differ"),
    (tiny("b", 3.0, input_type=TensorProto.DOUBLE), "input 'x' is declared differently"),
    (tiny("b", 3.0, extra_nodes=_if_node()), r"ai\.onnx\.If may hold a subgraph"),
    (tiny("b", 3.0, extra_nodes=[helper.make_node("Custom", ["t"], ["v"], domain="com.example")],
          domain_opsets=[helper.make_opsetid("com.example", 1)]), r"com\.example\.Custom may hold a subgraph"),
    (_external(), "external data"),
    (_sparse(), "graph field 15"),
    (_function(), "model field 25"),
    (b"\x0a\xff\xff", "truncated"),
    (b"", "not an ONNX model"),
])
def test_what_cannot_be_combined_safely_is_refused_naming_the_graph_and_the_reason(second, problem):
    with pytest.raises(graphs.CombineError, match=problem):
        graphs.combine({"first": tiny("a", 2.0), "second": second})


def _bundle(trained_store, serving_graph: bool = True):
    """The trained version's manifest and files; without its serving graph (training/onnx/serving_graph.py)
    as a version published before it was made: serving then combines the graphs at load."""
    version = trained_store.result.manifest["version"]
    loaded = bundle.load(trained_store.store, MODEL, version)
    manifest = dict(loaded.manifest)
    if not serving_graph:
        del manifest["serving_graph"]
    return manifest, loaded.files


@pytest.mark.parametrize("serving_graph", [True, False], ids=["trained serving graph", "combined at load"])
def test_the_served_sessions_give_each_graphs_outputs_bit_for_bit(trained_store, small_data, serving_graph):
    manifest, files = _bundle(trained_store, serving_graph)
    assert_served_like_each_graph(manifest, files, small_data.head(3000))


def test_a_version_whose_graphs_cannot_be_combined_is_served_one_session_per_graph(trained_store, small_data,
                                                                                  monkeypatch, capsys):
    manifest, files = _bundle(trained_store, serving_graph=False)
    combined = Model(manifest, files, ScoreSettings())

    def refuse(_graphs):
        raise graphs.CombineError("pd: a node with a subgraph")

    monkeypatch.setattr(graphs, "combine", refuse)
    separate = Model(manifest, files, ScoreSettings())
    warning = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert warning["severity"] == "WARNING" and "not combined" in warning["message"]
    assert "subgraph" in warning["reason"] and warning["model_version"] == manifest["version"]
    assert len({id(s) for s in separate.sessions.values()}) == len(manifest["models"])
    rows = [{k: (None if v != v else v) for k, v in r.items()} for r in
            small_data.head(50)[[f["name"] for f in manifest["features"]]].to_dict("records")]
    a, b = combined.score_rows(rows, include_embedding=True), separate.score_rows(rows, include_embedding=True)
    assert a == b


def test_the_preprocessing_every_graph_repeats_runs_once(trained_store, small_spec):
    manifest, files = _bundle(trained_store)
    per_request = {name: files[meta["file"]] for name, meta in manifest["models"].items() if name != "embedding"}
    data, _ = graphs.combine(per_request)
    combined = onnx.load_from_string(data)
    onnx.checker.check_model(combined, full_check=True)
    separate = [onnx.load_from_string(g) for g in per_request.values()]
    categorical = sum(f.type == "categorical" for f in small_spec.features)
    assert sum(n.op_type == "OneHotEncoder" for m in separate for n in m.graph.node) == categorical * len(per_request)
    assert sum(n.op_type == "OneHotEncoder" for n in combined.graph.node) == categorical
    assert len(combined.graph.node) < sum(len(m.graph.node) for m in separate)
    assert [i.name for i in combined.graph.input] == [f.name for f in small_spec.features]


def test_equal_nodes_are_kept_once_but_a_graph_output_is_always_produced():
    # Both graphs compute t = x * 2 (equal bytes in `w`, equal node): kept once; each Add stays
    # (its output is a graph output), and each reads the shared t.
    data, outputs = graphs.combine({"first": tiny("a", 2.0), "second": tiny("b", 2.0)})
    model = onnx.load_from_string(data)
    onnx.checker.check_model(model, full_check=True)
    assert sorted(n.name for n in model.graph.node) == ["first/add", "first/mul", "second/add"]
    assert sorted(t.name for t in model.graph.initializer) == ["first/one", "first/w"]
    x = np.array([[0.5], [np.nan], [-3.0]], dtype=np.float32)
    got = run(data, x)
    np.testing.assert_array_equal(got["a"], x * 2 + 1)
    np.testing.assert_array_equal(got["b"], x * 2 + 1)


def test_batch_runs_the_combined_session_once_per_chunk_and_decides_as_each_graph(trained_store, small_spec):
    from riskscore.settings import BatchSettings
    from training.data.synthetic import generate
    from training.onnx.run import onnx_inputs

    manifest, files = _bundle(trained_store)
    settings = BatchSettings(model_store="unused")
    model = Model(manifest, files, settings)
    per_request = {name: s for name, s in model.sessions.items() if name != "embedding"}
    assert len({id(s) for s in per_request.values()}) == 1  # one session for the four graphs
    feeds = onnx_inputs(generate(rows=2000, seed=12), small_spec.features)
    expected = {}
    for name, meta in manifest["models"].items():
        if name != "embedding":
            session = build_session(files[meta["file"]], settings)  # same threads: same float32 sums
            expected.update(zip([o.name for o in session.get_outputs()], session.run(None, feeds)))
    got = model.run_feeds(feeds, skip=frozenset({"embedding"}))
    assert sorted(got) == sorted(expected)
    for name, value in expected.items():
        assert got[name].dtype == value.dtype and np.array_equal(got[name], value, equal_nan=value.dtype.kind == "f"), name


def test_the_score_path_never_imports_onnx():
    # The graphs are combined on the wire format: `score` instances never pay for the onnx package.
    import subprocess
    import sys
    from pathlib import Path

    code = "import sys; import main; assert 'onnx' not in sys.modules, 'onnx imported'"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[3] / "functions")
