"""Every exported graph runs under onnxruntime 1.12.1 (BigQuery ML's ONNX runtime) and gives
the serving runtime's outputs on the same rows.

The old runtime lives in its own Python 3.10 venv (build/ort112-venv, built once from
tests/training/onnx/ort112/requirements.txt); the test skips when Python 3.10 or the install is unavailable.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest

from training.onnx.graph import IR_VERSION, ML_OPSET_VERSION, OPSET_VERSION
from training.onnx.run import onnx_inputs, run_onnx

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ort112")
VENV = os.path.join(ROOT, "build", "ort112-venv")
VENV_PYTHON = os.path.join(VENV, "bin", "python")
ROWS = 300

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[3]


def _python310() -> str | None:
    found = sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.10.*/bin/python3.10")))
    return found[-1] if found else shutil.which("python3.10")


@pytest.fixture(scope="session")
def ort112_python() -> str:
    """The venv's interpreter, with onnxruntime 1.12.1 importable (built on first use)."""
    probe = [VENV_PYTHON, "-c", "import onnxruntime, sys; sys.exit(onnxruntime.__version__ != '1.12.1')"]
    if os.path.exists(VENV_PYTHON) and subprocess.run(probe, capture_output=True).returncode == 0:
        return VENV_PYTHON
    python = _python310()
    if python is None:
        pytest.skip("Python 3.10 is not installed (onnxruntime 1.12.1 has no wheel for newer Pythons)")
    shutil.rmtree(VENV, ignore_errors=True)
    steps = [[python, "-m", "venv", VENV],
             [VENV_PYTHON, "-m", "pip", "install", "-q", "-r", os.path.join(HERE, "requirements.txt")]]
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True, timeout=600)
        if done.returncode != 0:
            pytest.skip(f"cannot build the onnxruntime 1.12.1 venv: {done.stderr[-500:]}")
    return VENV_PYTHON


def _bundle_graphs(store_path) -> dict[str, str]:
    """{stem: path} of every .onnx file of the current version in a local store."""
    import json

    model_dir = next(p for p in glob.glob(os.path.join(store_path, "*")) if os.path.isdir(p))
    with open(os.path.join(model_dir, "current.json")) as fh:
        version = json.load(fh)["version"]
    paths = sorted(glob.glob(os.path.join(model_dir, version, "*.onnx")))
    return {os.path.splitext(os.path.basename(p))[0]: p for p in paths}


def _run_old(python: str, tmp_path, graphs: dict[str, tuple[str, dict]]) -> dict[str, dict]:
    args = []
    for stem, (path, feeds) in graphs.items():
        npz = tmp_path / f"{stem}.inputs.npz"
        np.savez(npz, **{k: (v.astype(str) if v.dtype == object else v) for k, v in feeds.items()})
        args += [path, str(npz)]
    out = tmp_path / "out"
    out.mkdir()
    subprocess.run([python, os.path.join(HERE, "run_graphs.py"), str(out), *args], check=True, timeout=300)
    assert (out / "version.txt").read_text() == "1.12.1"
    results = {}
    for stem in graphs:
        with np.load(out / f"{stem}.npz") as npz:
            results[stem] = dict(npz.items())
    return results


def _compare(old: dict, new: dict, stem: str) -> None:
    assert sorted(old) == sorted(new), stem
    for name, value in new.items():
        assert old[name].shape == value.shape, (stem, name)
        if value.dtype.kind in "iub":
            np.testing.assert_array_equal(old[name], value, err_msg=f"{stem}:{name}")
        else:
            np.testing.assert_allclose(old[name], value, rtol=1e-5, atol=1e-5, err_msg=f"{stem}:{name}")


def _check_limits(path: str) -> None:
    model = onnx.load(path)
    opsets = {o.domain or "ai.onnx": o.version for o in model.opset_import}
    assert model.ir_version <= IR_VERSION <= 8
    assert opsets["ai.onnx"] <= OPSET_VERSION <= 17
    assert opsets.get("ai.onnx.ml", 0) <= ML_OPSET_VERSION <= 3
    assert os.path.getsize(path) <= 450 * 2**20


def test_bundle_graphs_run_under_ort112(ort112_python, trained_store, small_data, tmp_path):
    from conftest import DEFAULT_SPEC_PATH
    from training.data.spec import load_spec

    features = load_spec(DEFAULT_SPEC_PATH).features
    rows = small_data.head(ROWS)
    graphs = _bundle_graphs(trained_store.path)
    assert {"pd", "lgd", "segment", "anomaly", "embedding"} <= set(graphs)
    feeds = onnx_inputs(rows, features)
    for path in graphs.values():
        _check_limits(path)
    old = _run_old(ort112_python, tmp_path, {stem: (path, feeds) for stem, path in graphs.items()})
    for stem, path in graphs.items():
        _compare(old[stem], run_onnx(onnx.load(path), features, rows), stem)


def test_scorecard_and_preprocessing_graphs_run_under_ort112(ort112_python, tmp_path):
    import pandas as pd

    from training.data.spec import check_data, load_spec
    from training.models.pd.scorecard import ScorecardModel
    from training.onnx.preprocess import RawPreprocessor

    spec = load_spec(REPO / "training" / "specs" / "german_credit.yaml")
    df = check_data(spec, pd.read_csv(REPO / "tests" / "data" / "german_credit.csv.gz"))
    model = ScorecardModel(spec.features, spec.pd_model.scorecard.model_dump(), seed=1)
    model.fit(df, df[spec.target].to_numpy())
    graphs = {"scorecard": model.to_onnx(spec.scaling)}
    graphs["preprocess"] = RawPreprocessor(spec.features).fit(df).graph_
    paths = {}
    for stem, graph in graphs.items():
        paths[stem] = str(tmp_path / f"{stem}.onnx")
        onnx.save(graph, paths[stem])
        _check_limits(paths[stem])
    feeds = onnx_inputs(df, spec.features)
    old = _run_old(ort112_python, tmp_path, {stem: (p, feeds) for stem, p in paths.items()})
    for stem, graph in graphs.items():
        _compare(old[stem], run_onnx(graph, spec.features, df), stem)


@pytest.mark.parametrize("share", [0.0, 0.5])
def test_anomaly_exact_band_runs_under_ort112(ort112_python, tmp_path, monkeypatch, share):
    """The anomaly graph's exact path (rows near the threshold gathered, summed in float64,
    scattered back) under 1.12.1: with an empty band and with half the rows in it."""
    from onnx import TensorProto

    from support.onnx_helpers import FEATURES, holdout
    from training.models.anomaly import AnomalyModel
    from training.onnx.graph import expose_outputs
    from training.onnx.preprocess import RawPreprocessor

    train, test = holdout(7, rows=4000, train_rows=3000)
    model = AnomalyModel(RawPreprocessor(FEATURES), seed=7).fit(train)
    native = model._depth_native(model.preprocessor_.transform(test))
    band = float(np.quantile(np.abs(native - model.depth_threshold_), share)) if share else 0.0
    monkeypatch.setattr(model, "depth_band", lambda: band)  # this instance only
    graph = expose_outputs(model.to_onnx(), {"anom_depth": TensorProto.DOUBLE, "anom_in_band": TensorProto.BOOL})
    path = tmp_path / "anomaly_band.onnx"
    onnx.save(graph, str(path))
    _check_limits(str(path))
    old = _run_old(ort112_python, tmp_path, {"anomaly_band": (str(path), onnx_inputs(test, FEATURES))})["anomaly_band"]
    in_band = old["anom_in_band"]
    assert abs(in_band.mean() - share) < 0.05
    assert np.array_equal(old["anom_depth"][in_band], native[in_band])
    assert np.array_equal(old["anomaly_flag"], model.predict(test))
    _compare(old, run_onnx(graph, FEATURES, test), "anomaly_band")


def test_new_family_graphs_run_under_ort112(ort112_python, small_spec, small_data, tmp_path):
    """The logistic, LightGBM and blend PD graphs, the LightGBM LGD graph and a graph with derived
    features compiled in (fed the raw columns only)."""
    from riskscore.contract.schema import ScalingSpec
    from training.data.spec import check_data
    from training.models.lgd_lgbm import LGDLightGBMModel
    from training.models.pd.blend import BlendModel
    from training.models.pd.lgbm import LightGBMModel
    from training.models.pd.logistic import LogisticModel
    from training.onnx.derived import DerivedSpec, add_derived, compile_into
    from training.onnx.preprocess import RawPreprocessor

    spec = small_spec
    df = check_data(spec, small_data)
    train, test = df.iloc[:4000], df.iloc[4000:4300]
    derived = [DerivedSpec(name="ratio", expression=f"{spec.numeric[0].name} / {spec.numeric[1].name}",
                           description="a ratio")]
    features = list(spec.features) + [d.feature() for d in derived]
    with_derived = add_derived(train, derived, spec.features)
    defaulted = train[train[spec.target] == 1]
    pre = RawPreprocessor(spec.features).fit(train)
    logistic = LogisticModel(spec.features, {"C": 0.3}).fit(train, train[spec.target])
    lightgbm = LightGBMModel(spec.features, {"n_estimators": 60, "max_depth": 3}).fit(train, train[spec.target])
    graphs = {
        "logistic": logistic.to_onnx(ScalingSpec()),
        "lightgbm": lightgbm.to_onnx(ScalingSpec()),
        "blend": BlendModel([logistic, lightgbm]).to_onnx(ScalingSpec()),
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
