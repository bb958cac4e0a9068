"""The smoke test's applicant, built from the model the function serves (its GET answer), so
the smoke test follows whichever model is deployed, not the demo's columns.

    python3 scripts/smoke_request.py MODEL_INFO_JSON  ->  the POST body (JSON) on stdout

Standard library only: it runs in Cloud Build's cloud-sdk image. Each feature gets a value
inside its declared range: a numeric feature the middle of [min, max], a categorical one its
first category.
"""

from __future__ import annotations

import json
import sys

APPLICANT_ID = "SMOKE-1"
EXPOSURE = 12000


def feature_value(feature: dict):
    """A valid value of one manifest feature (name, type, min, max, categories)."""
    categories = feature.get("categories")
    if categories:
        return categories[0]
    # The middle of the declared bounds: the one bound where only one is declared, 0 where none is.
    bounds = [float(b) for b in (feature.get("min"), feature.get("max")) if b is not None]
    return sum(bounds) / len(bounds) if bounds else 0.0


def request_body(model_info: dict) -> dict:
    """The POST body for one applicant of the model described by `model_info` (GET answer)."""
    features = model_info.get("features")
    if not features:
        raise ValueError(f"model information has no features; got keys {sorted(model_info)}")
    return {"applicant_id": APPLICANT_ID, "exposure": EXPOSURE,
            "features": {f["name"]: feature_value(f) for f in features}}


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    print(json.dumps(request_body(json.loads(argv[1]))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
