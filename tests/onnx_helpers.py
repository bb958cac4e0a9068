"""Helpers shared by the tests of the exported models."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pandas as pd
from onnx import numpy_helper

from training.spec import load_spec
from training.synthetic import generate

FEATURES = load_spec(Path(__file__).resolve().parents[1] / "training/specs/credit_default.yaml").features

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


def holdout(seed: int, rows: int = 8000, train_rows: int = 6000) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train, test) frames of synthetic applicants."""
    df = generate(rows, seed)
    return df.iloc[:train_rows].reset_index(drop=True), df.iloc[train_rows:].reset_index(drop=True)
