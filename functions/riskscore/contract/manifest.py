"""The manifest of a model version, typed: the one contract between training and everything
that scores. `Manifest.of(...)` reads the JSON as published (`manifest.json`); the file names
of a bundle are the constants below."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from riskscore.contract.protected import DecisionRule, ProtectedColumn
from riskscore.contract.schema import FeatureSpec, ScalingSpec

__all__ = ["CURRENT_FILE", "DRIFT_BASELINE_FILE", "FORECAST_FILE", "MANIFEST_FILE", "MODEL_CARD_FILE",
           "Manifest"]

MANIFEST_FILE = "manifest.json"            # <model>/<version>/manifest.json
CURRENT_FILE = "current.json"              # <model>/current.json: the version being served
DRIFT_BASELINE_FILE = "drift_baseline.json"
MODEL_CARD_FILE = "model_card.html"
FORECAST_FILE = "forecast.json"


class Manifest:
    """What a version's manifest says, read from `raw` (the JSON object as published). The
    feature and scaling specs are validated when first asked for."""

    def __init__(self, raw: dict[str, Any]):
        self.raw = raw
        self.name: str = raw.get("name", "")
        self.version: str = raw["version"]
        self.models: dict[str, dict] = raw.get("models") or {}        # model -> {"file": …, …}
        self.files: dict[str, dict] = raw.get("files") or {}          # file -> {"sha256": …}
        self.created_at: str | None = raw.get("created_at")
        self.description: str = raw.get("description") or ""
        columns = raw.get("columns") or {}
        self.id_column: str | None = columns.get("id")
        self.exposure_column: str | None = columns.get("exposure")
        self.serving_graph: dict | None = raw.get("serving_graph")    # {"file", "models", "outputs"}
        self.spec: dict = raw.get("spec") or {}
        self.metrics: dict = raw.get("metrics") or {}
        self.rating_bands: list[dict] = raw.get("rating_bands") or []
        self.data: dict = raw.get("data") or {}
        # The LGD that expected loss uses when the version has no LGD model (the spec's).
        self.lgd_default: float | None = self.spec.get("lgd_default")

    @classmethod
    def of(cls, manifest: "Manifest | dict[str, Any]") -> "Manifest":
        return manifest if isinstance(manifest, Manifest) else cls(manifest)

    @cached_property
    def features(self) -> list[FeatureSpec]:
        return [FeatureSpec.model_validate(f) for f in self.raw["features"]]

    @cached_property
    def derived(self) -> list[FeatureSpec]:
        """The derived features (computed inside the graphs from the raw columns), as features."""
        return [FeatureSpec.model_validate(d["feature"]) for d in self.raw.get("derived") or []]

    @cached_property
    def reason_features(self) -> list[FeatureSpec]:
        """What the PD graph's `contributions` columns stand for: the features, then the derived ones."""
        return self.features + self.derived

    @cached_property
    def scaling(self) -> ScalingSpec:
        return ScalingSpec.model_validate(self.raw["scaling"])

    @property
    def segment_profiles(self) -> list[dict]:
        return self.models.get("segment", {}).get("profiles", [])

    @cached_property
    def protected(self) -> list[ProtectedColumn]:
        """The spec's protected columns (never model inputs): evaluated for fairness only."""
        return [ProtectedColumn.model_validate(p) for p in self.spec.get("protected") or []]

    @cached_property
    def decision(self) -> DecisionRule | None:
        """The spec's approval cut-off, if it declares one."""
        raw = self.spec.get("decision")
        return DecisionRule.model_validate(raw) if raw else None
