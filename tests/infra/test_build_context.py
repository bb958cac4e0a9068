"""Each Dockerfile's build context, computed under Docker's .dockerignore rules (the docker
package's own implementation), holds every file its COPY/ADD instructions copy. BuildKit reads
`<Dockerfile>.dockerignore` beside a Dockerfile instead of the root `.dockerignore`."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from docker.utils.build import exclude_paths

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILES = sorted(p.relative_to(ROOT) for p in ROOT.glob("*/Dockerfile"))


def ignore_file(root: Path, dockerfile: Path, buildkit: bool = True) -> Path | None:
    own = root / f"{dockerfile}.dockerignore"
    if buildkit and own.exists():
        return own
    shared = root / ".dockerignore"
    return shared if shared.exists() else None


def patterns(path: Path | None) -> list[str]:
    if path is None:
        return []
    lines = (line.strip() for line in path.read_text().splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def context(root: Path, dockerfile: Path, buildkit: bool = True) -> set[str]:
    """The files (relative paths) the build of `dockerfile` sends, with root as its context."""
    return set(exclude_paths(str(root), patterns(ignore_file(root, dockerfile, buildkit)), dockerfile=str(dockerfile)))


def copy_sources(dockerfile: Path) -> list[str]:
    """The context paths COPY/ADD read (not those copied from another stage)."""
    sources = []
    for line in dockerfile.read_text().splitlines():
        words = line.split()
        if not words or words[0].upper() not in ("COPY", "ADD"):
            continue
        args = [w for w in words[1:] if not w.startswith("--")]
        if any(w.startswith("--from") for w in words[1:]):
            continue
        sources += args[:-1]
    return sources


def missing(root: Path, dockerfile: Path, buildkit: bool = True) -> list[str]:
    files = context(root, dockerfile, buildkit)
    out = []
    for source in copy_sources(root / dockerfile):
        source = source.rstrip("/")
        if source not in files and not any(f.startswith(source + "/") for f in files):
            out.append(source)
    return out


def test_both_images_are_found():
    assert {str(p) for p in DOCKERFILES} == {"training/Dockerfile", "dataflow/Dockerfile"}


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=str)
@pytest.mark.parametrize("buildkit", [True, False], ids=["buildkit", "legacy-builder"])
def test_every_copy_source_is_in_the_build_context(dockerfile, buildkit):
    assert missing(ROOT, dockerfile, buildkit) == []


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=str)
def test_the_context_holds_no_tests_data_or_virtualenvs(dockerfile):
    files = context(ROOT, dockerfile)
    assert not [f for f in files if f.startswith(("tests/", "data/", ".venv", "models/", ".git/"))]


def test_the_old_root_dockerignore_leaves_the_dataflow_sources_out(tmp_path):
    """The .dockerignore that re-included only the training image's files: the Dataflow image's
    requirements and launcher were not in its context."""
    old = subprocess.run(["git", "-C", str(ROOT), "show", "dc5c40e:.dockerignore"],
                         capture_output=True, text=True, check=True).stdout
    root = tmp_path / "repo"
    for rel in ("dataflow", "functions/riskscore", "training"):
        shutil.copytree(ROOT / rel, root / rel, ignore=shutil.ignore_patterns("__pycache__", "*.dockerignore"))
    for rel in ("requirements-train.txt", "functions/requirements.txt", "pyproject.toml"):
        shutil.copy(ROOT / rel, root / rel)
    (root / ".dockerignore").write_text(old)
    assert missing(root, Path("training/Dockerfile")) == []
    assert set(missing(root, Path("dataflow/Dockerfile"))) == {"dataflow/requirements.txt", "dataflow/launch.py"}
