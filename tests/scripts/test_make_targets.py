"""`make serve` and `make demo` as a new user runs them: the server answers 200 on the store
the demo wrote, and the demo ends by saying where the model card is and how to serve it."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path

import pytest
from support.server import REPO_ROOT, free_port, process_server, server_env


def _demo_module():
    spec = importlib.util.spec_from_file_location("demo", REPO_ROOT / "scripts" / "demo.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_serve_answers_200_on_the_trained_store(trained_store, tmp_path):
    port = free_port()
    env = server_env()
    stamp = ".venv/.installed"
    # -o: the virtualenv stamp counts as up to date; PY: the interpreter running these tests.
    cmd = ["make", "--no-print-directory", "-o", stamp, "serve", f"PY={sys.executable}", f"PORT={port}",
           f"MODEL_STORE={trained_store.path}"]
    with process_server(cmd, f"http://127.0.0.1:{port}/", env, tmp_path / "serve.log", timeout_s=60) as srv:
        status = srv.session.get(srv.url, timeout=5).status_code
        assert status == 200, (tmp_path / "serve.log").read_text()
        body = srv.session.get(srv.url, timeout=5).json()
        assert body["version"] == trained_store.result.manifest["version"]


def test_demo_ends_with_the_model_card_path_and_the_commands(trained_store):
    text = _demo_module().next_steps(Path(trained_store.path))
    version = trained_store.result.manifest["version"]
    card_line = next(line for line in text.splitlines() if line.startswith("model card:"))
    card = Path(card_line.split()[2])
    assert card.name == "model_card.html" and version in str(card)
    assert (card if card.is_absolute() else REPO_ROOT / card).is_file()
    assert "make serve" in text and "http://127.0.0.1:8080/" in text and "?view=model-card" in text
