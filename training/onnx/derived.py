"""Derived features: expressions over raw numeric columns, compiled into ONNX nodes.

A spec may declare

    derived:
      - name: debt_to_income
        expression: debt / income
        description: debt relative to income      # the reason-code text
        monotone: increasing                      # optional, as for any feature

Grammar: raw numeric feature names, numbers, `a + b`, `a - b`, `a * b`, `a / b`, unary `-a`,
`log1p(a)`, `min(a, b)`, `max(a, b)`, `clip(a, lo, hi)` (lo, hi numbers), nested freely.
Semantics, in float32 exactly as the graph computes them:

- a missing input (NaN) makes the result missing;
- division by zero, `log1p` of a value <= -1 and any overflow make the result missing: every
  step maps a non-finite value to NaN, so `min(a / 0, 5)` is missing, not 5;
- a missing derived value is then imputed like any nullable numeric feature (training median
  plus a missing indicator).

The models are fitted on the raw features plus the derived ones (each a nullable numeric
feature); their graphs take every one of them as an input. `compile_into` then rewrites a
graph so the derived inputs are computed from the raw ones by these nodes: callers still send
raw columns only. The training values come from the same nodes (`add_derived` runs them in
onnxruntime), so the compiled graph equals the fitted one bit for bit, which `compile_into`
checks on real rows.
"""

from __future__ import annotations

import ast
from typing import Literal

import numpy as np
import onnx
import onnxruntime as ort
import pandas as pd
from onnx import TensorProto, helper
from pydantic import Field

from riskscore.contract.schema import FeatureSpec, StrictModel

FUNCTIONS = {"log1p": 1, "min": 2, "max": 2, "clip": 3}
OPERATORS = {ast.Add: "Add", ast.Sub: "Sub", ast.Mult: "Mul", ast.Div: "Div"}


class DerivedSpec(StrictModel):
    """One derived feature of the spec."""

    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    expression: str = Field(min_length=1)
    description: str = ""
    monotone: Literal["increasing", "decreasing"] | None = None

    def feature(self) -> FeatureSpec:
        """The derived value as the models see it: a nullable numeric feature."""
        return FeatureSpec(name=self.name, type="numeric", nullable=True,
                           description=self.description or f"{self.name} ({self.expression})",
                           monotone=self.monotone)


def parse(d: DerivedSpec, numeric: set[str]) -> ast.expr:
    """The checked expression tree of `d`; ValueError naming the feature and the problem."""
    where = f"derived feature {d.name!r} ({d.expression!r})"
    try:
        tree = ast.parse(d.expression, mode="eval").body
    except SyntaxError:
        raise ValueError(f"{where}: not a valid expression") from None
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id not in numeric and node.id not in FUNCTIONS:
            raise ValueError(f"{where}: {node.id!r} is not a numeric feature of the spec "
                             f"(numeric features: {sorted(numeric)})")
        if isinstance(node, ast.Call):
            name = node.func.id if isinstance(node.func, ast.Name) else None
            if name not in FUNCTIONS:
                raise ValueError(f"{where}: unknown function; expected one of {sorted(FUNCTIONS)}")
            if len(node.args) != FUNCTIONS[name] or node.keywords:
                raise ValueError(f"{where}: {name} takes {FUNCTIONS[name]} positional arguments, "
                                 f"found {len(node.args) + len(node.keywords)}")
            if name == "clip" and not all(_number(a) is not None for a in node.args[1:]):
                raise ValueError(f"{where}: clip's bounds must be numbers")
        elif isinstance(node, ast.BinOp) and type(node.op) not in OPERATORS:
            raise ValueError(f"{where}: operator {type(node.op).__name__} is not supported; "
                             "expected + - * /")
        elif not isinstance(node, (ast.Name, ast.Call, ast.BinOp, ast.UnaryOp, ast.Constant,
                                   ast.Load, ast.USub, *OPERATORS)):
            raise ValueError(f"{where}: {type(node).__name__} is not supported")
        if isinstance(node, ast.UnaryOp) and not isinstance(node.op, ast.USub):
            raise ValueError(f"{where}: only unary minus is supported")
        if isinstance(node, ast.Constant) and _number(node) is None:
            raise ValueError(f"{where}: {node.value!r} is not a number")
    if not any(isinstance(n, ast.Name) and n.id in numeric for n in ast.walk(tree)):
        raise ValueError(f"{where}: uses no feature")
    return tree


def _number(node) -> float | None:
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        inner = _number(node.operand)
        return None if inner is None else -inner
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        return float(node.value)
    return None


class _Builder:
    """Emits the nodes of one expression; every step's non-finite value becomes NaN."""

    def __init__(self, prefix: str):
        self.prefix, self.nodes, self.inits, self.n = prefix, [], [], 0

    def _name(self) -> str:
        self.n += 1
        return f"{self.prefix}_{self.n}"

    def const(self, value: float) -> str:
        name = self._name()
        self.inits.append(onnx.numpy_helper.from_array(np.array([[value]], dtype=np.float32), name))
        return name

    def op(self, op_type: str, inputs: list[str]) -> str:
        out = self._name()
        self.nodes.append(helper.make_node(op_type, inputs, [out]))
        return out

    def finite(self, x: str, missing_if: list[str] = ()) -> str:
        """x where finite and no input in `missing_if` is NaN, else NaN."""
        bad = self.op("IsInf", [x])
        for m in missing_if:
            bad = self.op("Or", [bad, self.op("IsNaN", [m])])
        return self.op("Where", [bad, self.nan, x])

    def emit(self, node) -> str:
        number = _number(node)
        if number is not None:
            return self.const(number)
        if isinstance(node, ast.Name):
            return node.id
        if isinstance(node, ast.UnaryOp):
            return self.op("Neg", [self.emit(node.operand)])
        if isinstance(node, ast.BinOp):
            a, b = self.emit(node.left), self.emit(node.right)
            return self.finite(self.op(OPERATORS[type(node.op)], [a, b]))
        name, args = node.func.id, node.args
        if name == "log1p":
            x = self.emit(args[0])
            return self.finite(self.op("Log", [self.op("Add", [x, self.one])]))
        if name in ("min", "max"):
            a, b = self.emit(args[0]), self.emit(args[1])
            return self.finite(self.op(name.capitalize(), [a, b]), [a, b])
        x = self.emit(args[0])  # clip
        lo, hi = self.const(_number(args[1])), self.const(_number(args[2]))
        return self.finite(self.op("Max", [self.op("Min", [x, hi]), lo]), [x])

    def start(self):
        self._consts = {}
        return self

    def shared(self, value: float) -> str:
        """One initializer per constant the expression needs (NaN, 1), made on first use."""
        key = repr(value)  # NaN != NaN: key by its text
        if key not in self._consts:
            self._consts[key] = self.const(value)
        return self._consts[key]

    @property
    def nan(self) -> str:
        return self.shared(np.nan)

    @property
    def one(self) -> str:
        return self.shared(1.0)


def derived_parts(derived: list[DerivedSpec], numeric: set[str]) -> tuple[list, list]:
    """(nodes, initializers) computing each derived feature as an [N, 1] float tensor named
    after it, from the raw [N, 1] inputs named after the numeric features."""
    nodes, inits = [], []
    for d in derived:
        b = _Builder(f"derived__{d.name}").start()
        out = b.emit(parse(d, numeric))
        b.nodes.append(helper.make_node("Identity", [out], [d.name]))
        nodes += b.nodes
        inits += b.inits
    return nodes, inits


def _standalone(derived: list[DerivedSpec], numeric: list[str]) -> onnx.ModelProto:
    from training.onnx.graph import IR_VERSION, OPSET

    nodes, inits = derived_parts(derived, set(numeric))
    graph = helper.make_graph(
        nodes, "derived", [helper.make_tensor_value_info(n, TensorProto.FLOAT, [None, 1]) for n in numeric],
        [helper.make_tensor_value_info(d.name, TensorProto.FLOAT, [None, 1]) for d in derived], initializer=inits)
    model = helper.make_model(graph, opset_imports=OPSET)
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model, full_check=True)
    return model


def add_derived(df: pd.DataFrame, derived: list[DerivedSpec], features) -> pd.DataFrame:
    """`df` with one float64 column per derived feature, computed by the graph's own nodes."""
    if not derived:
        return df
    numeric = [f.name for f in features if f.type == "numeric"]
    for d in derived:
        parse(d, set(numeric))
    session = ort.InferenceSession(_standalone(derived, numeric).SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    feeds = {n: df[n].to_numpy(dtype=np.float32, na_value=np.nan).reshape(-1, 1) for n in numeric}
    values = session.run([d.name for d in derived], feeds)
    out = df.copy()
    for d, v in zip(derived, values):
        out[d.name] = v.ravel().astype(np.float64)
    return out


def compile_into(model: onnx.ModelProto, derived: list[DerivedSpec], features, rows: pd.DataFrame
                 ) -> onnx.ModelProto:
    """`model` (whose inputs include the derived features) with those inputs replaced by nodes
    computing them from the raw inputs. `rows` (raw columns plus `add_derived`'s) must give
    the same outputs bit for bit from both graphs, else ExportVerificationError."""
    from riskscore.errors import ExportVerificationError

    from training.onnx.run import run_onnx

    if not derived:
        return model
    names = {d.name for d in derived}
    numeric = {f.name for f in features if f.type == "numeric"}
    nodes, inits = derived_parts(derived, numeric)
    out = onnx.ModelProto()
    out.CopyFrom(model)
    kept = [i for i in out.graph.input if i.name not in names]
    del out.graph.input[:]
    out.graph.input.extend(kept)
    old = list(out.graph.node)
    del out.graph.node[:]
    out.graph.node.extend(nodes + old)
    out.graph.initializer.extend(inits)
    onnx.checker.check_model(out, full_check=True)
    raw = [f for f in features if f.name not in names]
    every = raw + [d.feature() for d in derived]
    before = run_onnx(model, every, rows)
    after = run_onnx(out, raw, rows)
    for key, value in before.items():
        if not np.array_equal(value, after[key], equal_nan=value.dtype.kind == "f"):
            raise ExportVerificationError(f"the graph with derived features compiled in differs in {key!r}")
    return out
