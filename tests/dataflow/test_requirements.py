"""The Dataflow virtualenv's pins follow the project's: the same bytes score the same way in
the functions and on Dataflow. Only pyarrow differs, and only as far as Beam demands."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def pins(path: Path) -> dict[str, str]:
    """{normalized name: version} of a requirements file, following `-r` includes."""
    found: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith("-r "):
            found.update(pins(path.parent / line[3:].strip()))
        elif line:
            name, _, version = line.partition("==")
            assert version, f"{path.name}: {line!r} is not pinned"
            found[re.sub(r"\[.*\]", "", name).lower().replace("_", "-")] = version
    return found


def test_every_dataflow_pin_equals_the_projects_but_pyarrow():
    project = pins(ROOT / "requirements-dev.txt")
    beam = pins(ROOT / "dataflow" / "requirements-dev.txt")
    differing = {k: (v, project[k]) for k, v in beam.items() if k in project and project[k] != v}
    assert set(differing) == {"pyarrow"}, differing
    assert beam.keys() - project.keys() == {"apache-beam"}


# The functions' HTTP server: Beam workers serve no requests.
SERVER_STACK = {"functions-framework", "starlette", "uvicorn", "uvicorn-worker", "uvloop", "httptools"}
# Serving-only features: the optional narrative of `score` (Gemini), never used by a batch run.
SERVING_ONLY = {"google-genai"}


def test_the_runtime_holds_every_serving_pin():
    serving = pins(ROOT / "functions" / "requirements.txt")
    runtime = pins(ROOT / "dataflow" / "requirements.txt")
    assert SERVER_STACK <= serving.keys()
    assert SERVING_ONLY <= serving.keys()
    assert (serving.keys() - SERVER_STACK - SERVING_ONLY) <= runtime.keys()
    assert int(runtime["pyarrow"].split(".")[0]) < 26  # apache-beam 2.77: pyarrow<26
