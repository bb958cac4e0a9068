"""The IAM resolver (scripts/iam_grants.py), loaded by path as the other scripts are."""

from __future__ import annotations

from support.terraform import ROOT, load_script

iam_grants = load_script("iam_grants")

__all__ = ["ROOT", "iam_grants", "load_script"]
