"""`python -m training` through `training.cli.main`: generate, train, list, promote, rollback
and the promotion gate."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from riskscore.contract import bundle
from riskscore.io.store import LocalStore
from training.cli import main
from training.data.synthetic import generate
from training.data.tables import read_table, write_table

MODEL = "credit_default"


def run(argv: list[str]) -> tuple[int, str, str]:
    """main(argv) with its stdout and stderr (usable where capsys is not, e.g. module fixtures)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


def write_spec(path: Path, spec, **promotion) -> Path:
    d = spec.model_dump(mode="json")
    d["pd_model"]["n_estimators"] = 30
    d["promotion"].update(promotion)
    path.write_text(yaml.safe_dump(d, sort_keys=False))
    return path


def current_version(store: Path) -> str | None:
    return (bundle.read_current(LocalStore(store), MODEL) or {}).get("version")


def list_table(store: Path) -> dict[str, bool]:
    """{version: is current} as `list` prints it."""
    code, out, _ = run(["list", "--store", str(store), "--model", MODEL])
    assert code == 0
    rows = {}
    for line in out.splitlines():
        tokens = line.split()
        if tokens and tokens[0] == "*":
            rows[tokens[1]] = True
        elif tokens and tokens[0].startswith("v") and tokens[0][1:9].isdigit():
            rows[tokens[0]] = False
    return rows


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("cli")


@pytest.fixture(scope="module")
def data_path(workdir, small_data) -> Path:
    return write_table(small_data, workdir / "applicants.parquet")


@pytest.fixture(scope="module")
def spec_path(workdir, small_spec) -> Path:
    return write_spec(workdir / "spec.yaml", small_spec)


@pytest.fixture(scope="module")
def two_versions(workdir, data_path, spec_path):
    """A store after `train` twice on the same data; returns (store, [first, second], outputs)."""
    store = workdir / "models"
    outputs = []
    for _ in range(2):
        code, out, err = run(["train", "--spec", str(spec_path), "--data", str(data_path), "--store", str(store)])
        assert code == 0, err
        outputs.append(out)
    versions = bundle.list_versions(LocalStore(store), MODEL)
    return store, versions, outputs


@pytest.fixture
def store_copy(tmp_path, two_versions) -> tuple[Path, list[str]]:
    store, versions, _ = two_versions
    copy = tmp_path / "models"
    shutil.copytree(store, copy)
    return copy, versions


# --- generate ---------------------------------------------------------------------------

@pytest.mark.parametrize("suffix", ["parquet", "csv"])
def test_generate_is_deterministic(tmp_path, capsys, suffix):
    paths = [tmp_path / f"{name}.{suffix}" for name in ("a", "b", "c")]
    for path, seed in zip(paths, (11, 11, 12)):
        assert main(["generate", "--rows", "500", "--seed", str(seed), "--out", str(path)]) == 0
        assert f"wrote 500 rows to {path}" in capsys.readouterr().out
    a, b, c = (read_table(p) for p in paths)
    assert len(a) == 500
    pd.testing.assert_frame_equal(a, b)
    assert not a["true_pd"].equals(c["true_pd"]), "a different seed must give different data"
    expected = generate(rows=500, seed=11)
    assert list(a.columns) == list(expected.columns)
    np.testing.assert_allclose(a["true_pd"], expected["true_pd"], rtol=1e-12)
    assert (a["default"].to_numpy() == expected["default"].to_numpy()).all()
    if suffix == "parquet":
        pd.testing.assert_frame_equal(a, expected)


def test_generate_rejects_an_unknown_format(tmp_path, capsys):
    assert main(["generate", "--rows", "10", "--out", str(tmp_path / "x.xlsx")]) == 1
    assert "unknown table format" in capsys.readouterr().err
    assert not (tmp_path / "x.xlsx").exists()


# --- train, list, promote, rollback -----------------------------------------------------

def test_train_twice_publishes_two_versions(two_versions):
    store, versions, outputs = two_versions
    assert len(versions) == 2 and versions[0] < versions[1]
    for version, out in zip(versions, outputs):
        assert f"version {version} published to {store}/{MODEL}: PROMOTED" in out
        assert "PD auc" in out and "parity pd" in out and "time total" in out
    assert current_version(store) == versions[1]
    for v in versions:
        assert LocalStore(store).exists(f"{MODEL}/{v}/pd.onnx")


def test_list_marks_the_current_version(two_versions):
    store, versions, _ = two_versions
    assert list_table(store) == {versions[0]: False, versions[1]: True}
    code, out, _ = run(["list", "--store", str(store), "--json"])
    assert code == 0
    assert json.loads(out.strip().splitlines()[-1]) == {MODEL: versions}


def test_promote_and_rollback_move_current(store_copy, capsys):
    store, (first, second) = store_copy
    assert main(["promote", "--store", str(store), "--version", first]) == 0
    assert f"current version is now {first}" in capsys.readouterr().out
    assert current_version(store) == first
    assert list_table(store) == {first: True, second: False}
    pointer = json.loads((store / MODEL / "current.json").read_text())
    assert pointer["previous"] == second

    assert main(["rollback", "--store", str(store)]) == 0
    assert f"rolled back from {first} to {second}" in capsys.readouterr().out
    assert current_version(store) == second
    assert list_table(store) == {first: False, second: True}


def test_rollback_to_a_named_version(store_copy, capsys):
    store, (first, second) = store_copy
    assert main(["rollback", "--store", str(store), "--to", first]) == 0
    assert current_version(store) == first


def test_rollback_without_history_exits_2(tmp_path, trained_store, capsys):
    store = tmp_path / "models"
    shutil.copytree(trained_store.path, store)  # one version, never promoted over another
    only = current_version(store)
    assert only == trained_store.result.manifest["version"]
    assert main(["rollback", "--store", str(store)]) == 2
    assert "no previous version recorded; pass --to VERSION" in capsys.readouterr().err
    assert current_version(store) == only


@pytest.mark.parametrize("command", [
    ["promote", "--version", "v20990101-000000"],
    ["rollback", "--to", "v20990101-000000"],
], ids=["promote", "rollback --to"])
def test_unknown_version_is_refused(store_copy, capsys, command):
    store, (_, second) = store_copy
    before = (store / MODEL / "current.json").read_bytes()
    assert main([*command, "--store", str(store)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "v20990101-000000" in err and "not found" in err
    assert (store / MODEL / "current.json").read_bytes() == before


def test_promote_refuses_a_corrupt_version(store_copy, capsys):
    store, (first, _) = store_copy
    path = store / MODEL / first / "pd.onnx"
    path.write_bytes(path.read_bytes()[:-1] + b"\x00")
    before = (store / MODEL / "current.json").read_bytes()
    assert main(["promote", "--store", str(store), "--version", first]) == 1
    assert "pd.onnx has sha256" in capsys.readouterr().err
    assert (store / MODEL / "current.json").read_bytes() == before


# --- train failures ---------------------------------------------------------------------

def test_train_with_a_spec_naming_a_missing_column_exits_1(tmp_path, small_spec, data_path, capsys):
    d = small_spec.model_dump(mode="json")
    d["features"].append({"name": "bureau_score", "type": "numeric"})
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(d))
    store = tmp_path / "models"
    assert main(["train", "--spec", str(spec), "--data", str(data_path), "--store", str(store)]) == 1
    err = capsys.readouterr().err
    assert "'bureau_score'" in err and "missing from the data" in err
    assert not store.exists() or bundle.list_versions(LocalStore(store), MODEL) == []


@pytest.mark.parametrize("what, message", [
    ("spec", "does not exist"),
    ("data", "no such file"),
])
def test_train_with_a_missing_file_exits_1(tmp_path, data_path, spec_path, capsys, what, message):
    missing = str(tmp_path / ("nope.yaml" if what == "spec" else "nope.parquet"))
    spec, data = (missing, data_path) if what == "spec" else (spec_path, missing)
    assert main(["train", "--spec", str(spec), "--data", str(data), "--store", str(tmp_path / "m")]) == 1
    err = capsys.readouterr().err
    assert message in err and missing in err


# --- the promotion gate -----------------------------------------------------------------

def test_promotion_gate_holds_back_a_worse_model_unless_forced(store_copy, tmp_path, small_data, small_spec, capsys):
    store, (_, current) = store_copy
    strict = write_spec(tmp_path / "strict.yaml", small_spec, auc_tolerance=0)
    noise = small_data.copy()
    # Shuffle the outcome (with its LGD, which exists only for defaults) against the features.
    order = np.random.default_rng(0).permutation(len(noise))
    noise[["default", "lgd"]] = noise[["default", "lgd"]].to_numpy()[order]
    noise_path = write_table(noise, tmp_path / "noise.parquet")
    args = ["train", "--spec", str(strict), "--data", str(noise_path), "--store", str(store)]

    def new_versions(before):
        return sorted(set(bundle.list_versions(LocalStore(store), MODEL)) - set(before))

    before = bundle.list_versions(LocalStore(store), MODEL)
    assert main(args) == 0
    out = capsys.readouterr().out
    [held] = new_versions(before)
    assert f"version {held} published to {store}/{MODEL}: NOT promoted" in out
    assert "use --force" in out
    assert current_version(store) == current
    assert list_table(store)[held] is False
    held_auc = bundle.read_manifest(LocalStore(store), MODEL, held)["metrics"]["test"]["auc"]
    current_auc = bundle.read_manifest(LocalStore(store), MODEL, current)["metrics"]["test"]["auc"]
    assert held_auc < current_auc - 0.1

    before = bundle.list_versions(LocalStore(store), MODEL)
    assert main([*args, "--force"]) == 0
    out = capsys.readouterr().out
    [forced] = new_versions(before)
    assert f"version {forced} published to {store}/{MODEL}: PROMOTED (--force" in out
    assert current_version(store) == forced
    assert len(bundle.list_versions(LocalStore(store), MODEL)) == 4


# --- offline and credential-less use: SQL without Google, one-line errors ----------------

NO_GOOGLE_ENV = ("GOOGLE_APPLICATION_CREDENTIALS", "STORAGE_EMULATOR_HOST", "GOOGLE_CLOUD_PROJECT",
                 "CLOUDSDK_CORE_PROJECT", "BIGQUERY_EMULATOR_HOST")


@pytest.fixture
def no_credentials(monkeypatch, tmp_path):
    """No Google credentials anywhere: no key file, no gcloud config, not on GCE."""
    for name in NO_GOOGLE_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))
    monkeypatch.setenv("NO_GCE_CHECK", "True")
    monkeypatch.setenv("GCE_METADATA_HOST", "127.0.0.1:9")


def test_bigquery_model_prints_the_sql_offline_from_a_local_store(trained_store, no_credentials):
    code, out, err = run(["bigquery-model", "--store", str(trained_store.path), "--gcs-prefix", "gs://b/models",
                          "--dataset", "proj.risk", "--table", "proj.raw.applicants"])
    assert code == 0, err
    version = trained_store.result.manifest["version"]
    assert f"MODEL_PATH='gs://b/models/credit_default/{version}/pd.onnx'" in out
    assert "CREATE OR REPLACE VIEW `proj.risk.credit_default_scores`" in out


@pytest.mark.parametrize("argv", [
    ["list", "--store", "gs://no-such-bucket/models"],
    ["bigquery-model", "--store", "gs://no-such-bucket/models", "--dataset", "p.d"],
], ids=["list", "bigquery-model"])
def test_a_gcs_store_without_credentials_is_a_one_line_error(argv, no_credentials):
    code, out, err = run(argv)
    assert code == 1
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err and "credentials" in err


def test_openapi_help_describes_every_option():
    code, out, _ = run_help(["openapi", "--help"])
    assert code == 0
    assert "model spec YAML" in out and "- for stdout" in out


def run_help(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(argv)
        except SystemExit as exc:
            return int(exc.code or 0), out.getvalue(), err.getvalue()
    return 0, out.getvalue(), err.getvalue()
