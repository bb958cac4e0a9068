"""Terraform of the narrative (score?include=narrative): off by default; when on, Vertex AI is
enabled, the score identity alone gets a custom role holding the one permission Gemini's
generateContent checks, and the score function's environment names the model and location."""

from __future__ import annotations

from support.terraform import expr, module_calls, resources, unquote, variables

from .iam_support import RESOLVER


def test_off_by_default_and_wired_from_the_root():
    assert variables(".")["narrative_enabled"]["default"] is False
    calls = module_calls(".")
    for call in ("services", "iam", "functions"):
        assert expr(calls[call]["narrative_enabled"]) == "var.narrative_enabled", call
    assert expr(calls["functions"]["narrative_location"]) == 'var.narrative_location == "" ? var.region : var.narrative_location'


def test_vertex_ai_is_enabled_only_with_the_narrative():
    service = resources("infra/services")["google_project_service.this"]
    assert expr(service["for_each"]) == \
        'toset(concat(var.services, var.narrative_enabled ? ["aiplatform.googleapis.com"] : []))'


def test_only_score_gets_only_the_predict_permission_and_only_when_on():
    iam = resources("infra/iam")
    role = iam["google_project_iam_custom_role.gemini_caller"]
    assert [unquote(p) for p in role["permissions"]] == ["aiplatform.endpoints.predict"]
    grants = {k: v for k, v in iam.items() if "aiplatform" in str(v) or "gemini_caller" in str(v.get("role", ""))}
    assert set(grants) == {"google_project_iam_custom_role.gemini_caller", "google_project_iam_member.score_gemini"}
    grant = iam["google_project_iam_member.score_gemini"]
    assert expr(grant["member"]) == 'google_service_account.this["score"].member'
    for body in grants.values():
        assert expr(body["count"]) == "var.narrative_enabled ? 1 : 0"
    holders = {g.identity for g in RESOLVER.grants if "aiplatform.endpoints.predict" in RESOLVER.permissions(g)
               and not g.identity.startswith("cloudbuild")}
    assert holders == {"score"}


def test_the_score_environment_is_empty_when_off():
    env = {k: expr(v) for k, v in module_calls("infra/functions")["score"]["environment_variables"].items()
           if k.startswith("NARRATIVE_")}
    assert env == {"NARRATIVE_MODEL": 'var.narrative_enabled ? var.narrative_model : ""',
                   "NARRATIVE_LOCATION": 'var.narrative_enabled ? var.narrative_location : ""',
                   "NARRATIVE_BASE_URL": "", "NARRATIVE_TIMEOUT_S": "tostring(var.narrative_timeout_s)"}
