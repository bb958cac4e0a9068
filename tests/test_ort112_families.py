"""The logistic and LightGBM PD graphs, the LightGBM LGD graph and a graph with derived features
compiled in run under onnxruntime 1.12.1 (BigQuery ML's runtime) within its limits and give the
serving runtime's outputs (the harness of tests/test_ort112.py)."""

from __future__ import annotations

from pathlib import Path

import onnx
import pandas as pd
import pytest

from test_ort112 import _check_limits, _compare, _run_old, ort112_python  # noqa: F401 (fixture)
from riskscore.schema import ScalingSpec
from training.derived import DerivedSpec, add_derived, compile_into
from training.lgbm_model import LightGBMModel
from training.logistic_model import LogisticModel
from training.pd_model import onnx_inputs, run_onnx
from training.spec import check_data, load_spec

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]


def test_new_family_graphs_run_under_ort112(ort112_python, small_spec, small_data, tmp_path):
    from training.lgd_lgbm import LGDLightGBMModel
    from training.preprocess import RawPreprocessor

    spec = small_spec
    df = check_data(spec, small_data)
    train, test = df.iloc[:4000], df.iloc[4000:4300]
    derived = [DerivedSpec(name="ratio", expression=f"{spec.numeric[0].name} / {spec.numeric[1].name}",
                           description="a ratio")]
    features = list(spec.features) + [d.feature() for d in derived]
    with_derived = add_derived(train, derived, spec.features)
    defaulted = train[train[spec.target] == 1]
    pre = RawPreprocessor(spec.features).fit(train)
    graphs = {
        "logistic": LogisticModel(spec.features, {"C": 0.3}).fit(train, train[spec.target]).to_onnx(ScalingSpec()),
        "lightgbm": LightGBMModel(spec.features, {"n_estimators": 60, "max_depth": 3}).fit(
            train, train[spec.target]).to_onnx(ScalingSpec()),
        "lgd_lightgbm": LGDLightGBMModel(pre, n_estimators=40).fit(
            defaulted.iloc[:-100], defaulted["lgd"].iloc[:-100], defaulted.iloc[-100:], defaulted["lgd"].iloc[-100:]
        ).to_onnx(),
        "derived": compile_into(
            LightGBMModel(features, {"n_estimators": 40}).fit(with_derived, with_derived[spec.target])
            .to_onnx(ScalingSpec()), derived, features, add_derived(test, derived, spec.features)),
    }
    paths = {}
    for stem, graph in graphs.items():
        paths[stem] = str(tmp_path / f"{stem}.onnx")
        onnx.save(graph, paths[stem])
        _check_limits(paths[stem])
    feeds = onnx_inputs(test, spec.features)  # raw columns only, derived graph included
    old = _run_old(ort112_python, tmp_path, {stem: (p, feeds) for stem, p in paths.items()})
    for stem, graph in graphs.items():
        _compare(old[stem], run_onnx(graph, spec.features, test), stem)
