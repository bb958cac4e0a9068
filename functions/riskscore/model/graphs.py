"""Several ONNX graphs that read the same raw columns, combined into one model, so a request
runs one onnxruntime session instead of one per graph.

Why: every `InferenceSession.run` converts all feeds (13 columns, strings copied one by one)
and sets up its execution frame again; for one applicant that fixed cost is most of a small
graph's time (see docs/benchmarks.md). One combined run does it once.

How: directly on the protobuf wire format, because importing the `onnx` package costs about
0.5 s at cold start. Each graph's nodes, initializers and value infos are copied into one
graph, every internal tensor and node name prefixed with `<model>/` so that graphs exported
independently cannot collide; graph inputs (the shared raw columns) and graph outputs keep
their names, so the combined session answers with exactly the outputs the graphs have one by
one. Work the graphs share is kept once: an initializer with the same bytes as an earlier
one, and a node with the same operator, attributes and (resolved) inputs as an earlier node,
are replaced by the earlier one, so the preprocessing every graph repeats (imputation, one-hot
encoding of the raw columns) runs once, with the same kernels on the same values.

Anything this copy cannot prove safe raises `CombineError` and the caller keeps separate
sessions: differing IR versions or versions of one operator domain, an input declared
differently, an output name in two graphs, subgraphs (If/Loop/Scan), operators of unknown
domains, local functions, sparse or external initializers, fields this module does not know.
"""

from __future__ import annotations

__all__ = ["CombineError", "combine"]

# Field numbers from onnx.proto (ModelProto, GraphProto, NodeProto, ...).
_MODEL_IR_VERSION, _MODEL_GRAPH, _MODEL_OPSET = 1, 7, 8
_MODEL_IGNORED = {2, 3, 4, 5, 6, 14}  # producer name/version, domain, model version, doc, metadata
_GRAPH_NODE, _GRAPH_INITIALIZER, _GRAPH_INPUT, _GRAPH_OUTPUT, _GRAPH_VALUE_INFO = 1, 5, 11, 12, 13
_GRAPH_IGNORED = {2, 10, 16}  # name, doc string, metadata
_NODE_INPUT, _NODE_OUTPUT, _NODE_NAME, _NODE_OP_TYPE, _NODE_DOMAIN = 1, 2, 3, 4, 7
_NODE_ATTRIBUTE = 5
_NODE_COPIED = {_NODE_ATTRIBUTE, 6, 8, 9}  # attributes, doc string, overload, metadata
# A subgraph may read names of the graph around it, which renaming would break. In the ONNX
# domains only these operators take one (ai.onnx.ml has none); other domains' operators are
# not known here. (Checking the attributes themselves would mean walking every element of a
# tree ensemble's unpacked arrays, about 60 ms for these graphs.)
_SUBGRAPH_OPS = {"If", "Loop", "Scan", "SequenceMap"}
_KNOWN_DOMAINS = {"", "ai.onnx", "ai.onnx.ml"}
_TENSOR_NAME, _TENSOR_EXTERNAL_DATA = 8, 13
_VALUE_INFO_NAME = 1
_OPSET_DOMAIN, _OPSET_VERSION = 1, 2


class CombineError(ValueError):
    """The graphs cannot be combined safely; serve them one session each."""


def combine(graphs: dict[str, bytes]) -> tuple[bytes, dict[str, list[str]]]:
    """ONNX models (name -> serialized ModelProto) -> (one serialized ModelProto, the output
    names each model contributes, in its own order). Raises CombineError."""
    if not graphs:
        raise CombineError("no graphs to combine")
    ir_versions, opsets = set(), {}
    inputs: dict[str, bytes] = {}  # name -> serialized ValueInfoProto, first graph's order
    nodes, initializers, value_infos, outputs = [], [], [], []
    kept_initializers: dict[bytes, str] = {}  # initializer content (all but its name) -> kept name
    kept_nodes: dict[bytes, list[str]] = {}  # what a node computes -> its kept output names
    value_info_names: set[str] = set()
    outputs_of: dict[str, list[str]] = {}
    for model_name, data in graphs.items():
        graph, ir_version, model_opsets = _model(model_name, data)
        ir_versions.add(ir_version)
        for domain, version in model_opsets.items():  # one version per operator domain
            if opsets.setdefault(domain, version) != version:
                raise CombineError(f"{model_name}: opset {domain or 'ai.onnx'} {version} differs from "
                                   f"{opsets[domain]} in another graph")
        g = _graph(model_name, graph)
        for name, info in g["inputs"]:
            if inputs.setdefault(name, info) != info:
                raise CombineError(f"{model_name}: input {name!r} is declared differently in another graph")
        keep = {name for name, _ in g["inputs"]} | set(g["output_names"])
        taken = {o for names in outputs_of.values() for o in names}
        if clash := taken & set(g["output_names"]):
            raise CombineError(f"{model_name}: output {sorted(clash)[0]!r} is also another graph's output")
        if shadowed := {name for name, _ in g["inputs"]} & g["initializer_names"]:
            raise CombineError(f"{model_name}: initializer {sorted(shadowed)[0]!r} has an input's name")

        alias: dict[str, str] = {}  # this graph's tensors replaced by an earlier graph's equal one

        def rename(name: str, keep=keep, alias=alias, prefix=f"{model_name}/") -> str:
            if name in alias:
                return alias[name]
            return name if name in keep or name == "" else prefix + name

        for tensor in g["initializers"]:
            name = _string(tensor, _TENSOR_NAME) or ""
            content = b"".join(bytes(raw) for field, _, _, raw in _fields(tensor, raw=True) if field != _TENSOR_NAME)
            if name not in keep and content in kept_initializers:
                alias[name] = kept_initializers[content]
                continue
            kept_initializers.setdefault(content, rename(name))
            initializers.append(_rename_field(tensor, _TENSOR_NAME, rename))
        for node in g["nodes"]:
            renamed, work, node_outputs = _rename_node(model_name, node, rename)
            shareable = work is not None and not (set(node_outputs) & keep) and "" not in node_outputs
            if shareable and work in kept_nodes:
                alias.update(zip(node_outputs, kept_nodes[work]))
                continue
            if shareable:
                kept_nodes[work] = [rename(o) for o in node_outputs]
            nodes.append(renamed)
        for info in g["value_infos"]:
            name = rename(_string(info, _VALUE_INFO_NAME) or "")
            if name not in value_info_names:
                value_info_names.add(name)
                value_infos.append(_rename_field(info, _VALUE_INFO_NAME, rename))
        outputs += g["outputs"]
        outputs_of[model_name] = g["output_names"]
    if len(ir_versions) != 1:
        raise CombineError(f"IR versions differ: {sorted(ir_versions)}")

    graph = b"".join([*(_field(_GRAPH_NODE, n) for n in nodes), _field(2, b"combined"),
                      *(_field(_GRAPH_INITIALIZER, t) for t in initializers),
                      *(_field(_GRAPH_INPUT, i) for i in inputs.values()),
                      *(_field(_GRAPH_OUTPUT, o) for o in outputs),
                      *(_field(_GRAPH_VALUE_INFO, v) for v in value_infos)])
    model = b"".join([_key(_MODEL_IR_VERSION, 0) + _varint(ir_versions.pop()),
                      _field(2, b"riskscore.model.graphs.combine"), _field(_MODEL_GRAPH, graph),
                      *(_field(_MODEL_OPSET, _field(_OPSET_DOMAIN, d.encode()) + _key(_OPSET_VERSION, 0) + _varint(v))
                        for d, v in sorted(opsets.items()))])
    return model, outputs_of


def _model(model_name: str, data: bytes) -> tuple[memoryview, int, dict[str, int]]:
    graph, ir_version, opsets = None, None, {}
    for field, wire, value in _fields(memoryview(data)):
        if field == _MODEL_IR_VERSION and wire == 0:
            ir_version = value
        elif field == _MODEL_GRAPH and wire == 2:
            graph = value
        elif field == _MODEL_OPSET and wire == 2:
            domain, version = "", 1
            for f, w, v in _fields(value):
                if f == _OPSET_DOMAIN and w == 2:
                    domain = bytes(v).decode()
                elif f == _OPSET_VERSION and w == 0:
                    version = v
            opsets[domain] = version
        elif field not in _MODEL_IGNORED:
            raise CombineError(f"{model_name}: model field {field} (functions, training info, ...) is not supported")
    if graph is None or ir_version is None:
        raise CombineError(f"{model_name}: not an ONNX model (no graph or IR version)")
    return graph, ir_version, opsets


def _graph(model_name: str, graph: memoryview) -> dict:
    g = {"nodes": [], "initializers": [], "initializer_names": set(), "inputs": [], "outputs": [],
         "output_names": [], "value_infos": []}
    for field, wire, value in _fields(graph):
        if wire != 2:
            raise CombineError(f"{model_name}: unexpected graph field {field}")
        if field == _GRAPH_NODE:
            g["nodes"].append(value)
        elif field == _GRAPH_INITIALIZER:
            if _string(value, _TENSOR_EXTERNAL_DATA) is not None:
                raise CombineError(f"{model_name}: initializers with external data are not supported")
            g["initializers"].append(value)
            g["initializer_names"].add(_string(value, _TENSOR_NAME) or "")
        elif field == _GRAPH_INPUT:
            g["inputs"].append((_string(value, _VALUE_INFO_NAME) or "", bytes(value)))
        elif field == _GRAPH_OUTPUT:
            g["outputs"].append(bytes(value))
            g["output_names"].append(_string(value, _VALUE_INFO_NAME) or "")
        elif field == _GRAPH_VALUE_INFO:
            g["value_infos"].append(value)
        elif field not in _GRAPH_IGNORED:
            raise CombineError(f"{model_name}: graph field {field} (sparse initializers, quantization, ...) "
                               "is not supported")
    return g


def _rename_node(model_name: str, node: memoryview, rename) -> tuple[bytes, bytes | None, list[str]]:
    """(the node renamed, what it computes or None if it must never be shared, its output names
    as in its own graph). What it computes: operator, domain, attributes and renamed inputs,
    so two nodes with equal keys give equal outputs (no operator here is nondeterministic but
    the Random* family, never shared)."""
    out, work, outputs = [], [], []
    op_type, domain = "", ""
    for field, wire, value, raw in _fields(node, raw=True):
        if field == _NODE_INPUT and wire == 2:
            name = rename(bytes(value).decode()).encode()
            out.append(_field(field, name))
            work.append(_field(field, name))
        elif field == _NODE_OUTPUT and wire == 2:
            outputs.append(bytes(value).decode())
            out.append(_field(field, rename(outputs[-1]).encode()))
            work.append(_key(_NODE_OUTPUT, 0))  # how many outputs, not their names
        elif field == _NODE_NAME and wire == 2:
            name = bytes(value).decode()
            out.append(_field(field, f"{model_name}/{name}".encode() if name else b""))
        elif field in (_NODE_OP_TYPE, _NODE_DOMAIN) and wire == 2:
            if field == _NODE_OP_TYPE:
                op_type = bytes(value).decode()
            else:
                domain = bytes(value).decode()
            out.append(raw)
            work.append(bytes(raw))
        elif field in _NODE_COPIED:
            out.append(raw)
            if field == _NODE_ATTRIBUTE:
                work.append(bytes(raw))
        else:
            raise CombineError(f"{model_name}: node field {field} is not supported")
    if domain not in _KNOWN_DOMAINS or (domain != "ai.onnx.ml" and op_type in _SUBGRAPH_OPS):
        raise CombineError(f"{model_name}: operator {domain or 'ai.onnx'}.{op_type} may hold a subgraph; "
                           "not supported")
    return b"".join(out), None if op_type.startswith("Random") else b"".join(work), outputs


def _rename_field(message: memoryview, name_field: int, rename) -> bytes:
    """`message` with its string field `name_field` renamed (every other field copied as is)."""
    out = []
    for field, wire, value, raw in _fields(message, raw=True):
        if field == name_field and wire == 2:
            out.append(_field(field, rename(bytes(value).decode()).encode()))
        else:
            out.append(raw)
    return b"".join(out)


def _string(message: memoryview, wanted: int) -> str | None:
    for field, wire, value in _fields(message):
        if field == wanted and wire == 2:
            return bytes(value).decode()
    return None


# --- protobuf wire format ---------------------------------------------------------------

def _fields(buf: memoryview, raw: bool = False):
    """(field number, wire type, value) for each field of a message: an int for varints, a
    memoryview of the bytes for length-delimited and fixed-size fields; with `raw`, also the
    whole field as encoded (key included), to copy it unchanged."""
    pos, end = 0, len(buf)
    while pos < end:
        start = pos
        key = buf[pos]  # keys and lengths below 128 (nearly all) take one byte
        pos += 1
        if key >= 0x80:
            key, pos = _read_varint(buf, start)
        field, wire = key >> 3, key & 7
        if wire == 2:
            size = buf[pos] if pos < end else 0x80
            if size < 0x80:
                pos += 1
            else:
                size, pos = _read_varint(buf, pos)
            value, pos = buf[pos:pos + size], pos + size
        elif wire == 0:
            value, pos = _read_varint(buf, pos)
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            value, pos = buf[pos:pos + size], pos + size
        else:
            raise CombineError(f"unsupported protobuf wire type {wire}")
        if pos > end:
            raise CombineError("truncated protobuf message")
        yield (field, wire, value, buf[start:pos]) if raw else (field, wire, value)


def _read_varint(buf: memoryview, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise CombineError("truncated protobuf varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7


_SMALL = [bytes((n,)) for n in range(0x80)]


def _varint(value: int) -> bytes:
    if value < 0x80:
        return _SMALL[value]
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _key(field: int, wire: int) -> bytes:
    return _varint(field << 3 | wire)


def _field(field: int, data) -> bytes:
    return b"".join((_key(field, 2), _varint(len(data)), data))
