#!/usr/bin/env bash
# Smoke test of a deployed score function: an identity token for its URL, then GET (health and
# model information) and POST (one applicant built from the served model's features), checking the answers.
#   scripts/smoke_score.sh https://REGION-PROJECT.cloudfunctions.net/riskscore-prod-score [MODEL_NAME]
# With MODEL_NAME (Terraform's model_name), the served model must be that one.
# The caller (user or service account) must be in score_invoker_members.
set -euo pipefail
url="${1:?usage: smoke_score.sh SCORE_URL [MODEL_NAME]}"
expected="${2:-}"
token="$(gcloud auth print-identity-token --audiences="$url" 2>/dev/null || gcloud auth print-identity-token)"
get="$(curl -sS --fail-with-body --retry 5 --retry-delay 10 --retry-all-errors -H "Authorization: Bearer $token" "$url")"
python3 -c 'import json,sys; m=json.loads(sys.argv[1]); assert m["status"] == "ok", m; assert sys.argv[2] in ("", m["name"]), (sys.argv[2], m["name"]); print("model", m["name"], m["version"])' "$get" "$expected"
# One applicant of the served model (its features from the GET answer), not the demo's columns.
body="$(python3 "$(dirname "$0")/smoke_request.py" "$get")"

post="$(curl -sS --fail-with-body -X POST -H "Authorization: Bearer $token" -H "Content-Type: application/json" \
  -d "$body" "$url")"
python3 - "$post" <<'PY'
import json, sys
r = json.loads(sys.argv[1])
assert r["applicant_id"] == "SMOKE-1", r
assert 0.0 <= r["pd"] <= 1.0 and r["rating"] and r["model_version"], r
assert len(r["reasons"]) <= 4, r
print(f"scored: pd {r['pd']:.4f}, score {r['score']}, rating {r['rating']}, model {r['model_version']}")
PY
# Without a token the function must refuse the call.
code="$(curl -s -o /dev/null -w '%{http_code}' "$url")"
[ "$code" = 401 ] || [ "$code" = 403 ] || { echo "unauthenticated call answered $code, expected 401/403"; exit 1; }
echo "smoke test passed"
