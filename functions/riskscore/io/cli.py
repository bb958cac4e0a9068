"""What every command line does with an expected failure: one line on stderr, no traceback.

Expected: the project's own errors, a bad value or a missing file, and the Google clients'
refusals (no credentials, no permission, a service that answers an error). A bug still
shows its traceback.
"""

from __future__ import annotations

__all__ = ["CREDENTIALS_HINT", "expected_failure"]

CREDENTIALS_HINT = ("this needs Google Cloud credentials: run `gcloud auth application-default login` "
                    "or set GOOGLE_APPLICATION_CREDENTIALS")


def expected_failure(exc: BaseException) -> str | None:
    """The one-line message for an expected failure `exc`; None for anything else (a bug)."""
    from riskscore.errors import RiskScoreError

    if isinstance(exc, RiskScoreError):
        return exc.message
    module = type(exc).__module__
    if module.startswith("google.auth"):
        if type(exc).__name__ == "DefaultCredentialsError":
            return CREDENTIALS_HINT
        return f"Google Cloud authentication failed: {_first_line(exc)}"
    if module.startswith(("google.api_core", "google.cloud")):
        return f"Google Cloud refused the request: {_first_line(exc)}"
    if isinstance(exc, (ValueError, OSError)):
        return _first_line(exc)
    return None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:500] if text else type(exc).__name__
