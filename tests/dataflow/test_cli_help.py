"""`--help` of every command line lists what the README uses, in one vocabulary."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ENV_PATH = f"{ROOT}:{ROOT / 'functions'}"


def help_of(*module: str) -> str:
    proc = subprocess.run([sys.executable, "-m", *module, "--help"], capture_output=True, text=True, timeout=120,
                          cwd=ROOT, env={"PYTHONPATH": ENV_PATH, "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def test_dataflow_help_lists_the_beam_options_the_readme_uses():
    text = help_of("dataflow")
    for option in ("--runner", "--project", "--region", "--temp_location", "--model-store", "--model-name"):
        assert option in text, option


@pytest.mark.parametrize("module", [("dataflow",), ("riskscore.batch",), ("riskscore.drift",),
                                    ("training", "list"), ("training", "bigquery-model")])
def test_every_cli_names_the_model_the_same_way(module):
    text = help_of(*module)
    assert "--model-store" in text and "--model-name" in text


def test_drift_help_documents_its_exit_status():
    text = " ".join(help_of("riskscore.drift").split())
    assert "exit status: 0 stable" in text and "1 warning or alert" in text and "2 the check could not run" in text
