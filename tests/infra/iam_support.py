"""The IAM resolver (scripts/iam_grants.py), loaded by path as the other scripts are; one resolver
of the configuration for the IAM tests, and a copy of the configuration to take grants out of."""

from __future__ import annotations

import shutil
from pathlib import Path

from support.terraform import ROOT, load_script

iam_grants = load_script("iam_grants")
RESOLVER = iam_grants.Resolver()


def copy_config(tmp_path: Path) -> tuple[Path, Path]:
    """(root, data): a copy of what the resolver reads (infra/ and main.tf; infra/iam-data) under tmp_path."""
    root, data = tmp_path / "repo", tmp_path / "iam-data"
    shutil.copytree(ROOT / "infra", root / "infra")
    shutil.copy(ROOT / "main.tf", root / "main.tf")
    shutil.copytree(ROOT / "infra" / "iam-data", data)
    return root, data


def remove_resource(path: Path, address: str) -> None:
    """Delete the block of resource `address` (TYPE.NAME) from the .tf file at `path`."""
    kind, label = address.split(".")
    text = path.read_text()
    start = text.index(f'resource "{kind}" "{label}" {{')
    path.write_text(text[:start] + text[text.index("\n}\n", start) + 3:])


__all__ = ["RESOLVER", "ROOT", "copy_config", "iam_grants", "load_script", "remove_resource"]
