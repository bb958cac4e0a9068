"""Several ONNX graphs of one bundle as one graph: shared raw inputs, every output of every
graph, and each piece of work common to several graphs (the preprocessing every graph
repeats) computed once.

`fuse(graphs)` merges graphs that read the same raw named columns. A node is kept once when
another node of the same operator, attributes and inputs has been kept already (inputs compared
through what produced them: a graph input, an initializer's bytes, or an earlier node), so the
fused graph computes exactly what the graphs compute on their own, with the same kernels on the
same values: its outputs equal theirs bit for bit (tests/test_fused.py). One `run` then feeds
the string columns once, not once per graph.

Imported lazily (it needs the `onnx` package), by batch scoring only; the score path does not
load it.
"""

from __future__ import annotations

import hashlib

import onnx
from onnx import helper


class FuseError(ValueError):
    """The graphs cannot be fused (their inputs or outputs clash)."""


def fuse(graphs: dict[str, bytes]) -> bytes:
    """{name: serialized ONNX model} -> one serialized model with every graph's outputs."""
    models = {name: onnx.load_model_from_string(data) for name, data in graphs.items()}
    inputs: dict[str, onnx.ValueInfoProto] = {}
    outputs: list[onnx.ValueInfoProto] = []
    nodes: list[onnx.NodeProto] = []
    initializers: dict[str, onnx.TensorProto] = {}
    seen_nodes: dict[tuple, list[str]] = {}
    opsets: dict[str, int] = {}
    for name, model in models.items():
        for op in model.opset_import:
            opsets[op.domain] = max(opsets.get(op.domain, 0), op.version)
        g = model.graph
        rename: dict[str, str] = {"": ""}  # optional inputs left empty stay empty
        for value in g.input:
            if value.name in inputs and inputs[value.name].type != value.type:
                raise FuseError(f"input {value.name!r} of graph {name!r} differs in type from another graph's")
            inputs.setdefault(value.name, value)
            rename[value.name] = value.name
        for init in g.initializer:
            copy = onnx.TensorProto()
            copy.CopyFrom(init)
            copy.name = ""
            copy.name = "c_" + hashlib.sha256(copy.SerializeToString(deterministic=True)).hexdigest()[:24]
            initializers.setdefault(copy.name, copy)  # equal bytes: one initializer
            rename[init.name] = copy.name
        for node in g.node:
            ins = [rename[i] for i in node.input]
            key = _node_key(node, ins)
            if key is not None and key in seen_nodes:
                for mine, kept in zip(node.output, seen_nodes[key]):
                    rename[mine] = kept
                continue
            outs = [f"{name}/{o}" if o else "" for o in node.output]
            for mine, new in zip(node.output, outs):
                rename[mine] = new
            fused = onnx.NodeProto()
            fused.CopyFrom(node)
            fused.name = f"{name}/{node.name or len(nodes)}"
            del fused.input[:]
            fused.input.extend(ins)
            del fused.output[:]
            fused.output.extend(outs)
            nodes.append(fused)
            if key is not None:
                seen_nodes[key] = outs
        for value in g.output:
            if any(o.name == value.name for o in outputs):
                raise FuseError(f"output {value.name!r} of graph {name!r} is also another graph's output")
            nodes.append(helper.make_node("Identity", [rename[value.name]], [value.name], name=f"{name}/out/{value.name}"))
            outputs.append(value)
    graph = helper.make_graph(nodes, "fused", list(inputs.values()), outputs, initializer=list(initializers.values()))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid(d, v) for d, v in sorted(opsets.items())],
                              producer_name="riskscore.fused")
    model.ir_version = max(m.ir_version for m in models.values())
    return model.SerializeToString()


def _node_key(node: onnx.NodeProto, inputs: list[str]) -> tuple | None:
    """What a node computes, or None for a node never shared (one holding a subgraph, whose
    inner names the key would not see)."""
    attrs = []
    for a in sorted(node.attribute, key=lambda a: a.name):
        if a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS):
            return None
        attrs.append(a.SerializeToString(deterministic=True))
    return (node.domain, node.op_type, tuple(attrs), tuple(inputs), len(node.output))
