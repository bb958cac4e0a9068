"""One error hierarchy for serving and the model store; each error carries its HTTP status.

Handlers map any `RiskScoreError` to JSON in one place (`riskscore.serving.http.error_response`).
"""

from __future__ import annotations

__all__ = ["ArtifactNotFound", "ExportVerificationError", "InputNotFound", "IntegrityError",
           "InvalidInput", "InvalidRequest", "MethodNotAllowed", "OutputNotWritable", "PayloadTooLarge",
           "RiskScoreError", "StoreUnavailable", "UnsupportedMediaType"]


class RiskScoreError(Exception):
    status = 500
    code = "internal_error"

    def __init__(self, message: str, *, details: list[dict] | None = None):
        super().__init__(message)
        self.message = message
        self.details = details or []

    def to_dict(self) -> dict:
        body = {"error": self.code, "message": self.message}
        if self.details:
            body["details"] = self.details
        return body


class InvalidRequest(RiskScoreError):
    """The request content does not match the model's feature schema."""

    status = 400
    code = "invalid_request"


class MethodNotAllowed(RiskScoreError):
    status = 405
    code = "method_not_allowed"


class PayloadTooLarge(RiskScoreError):
    status = 413
    code = "payload_too_large"


class UnsupportedMediaType(RiskScoreError):
    status = 415
    code = "unsupported_media_type"


class ArtifactNotFound(RiskScoreError):
    """A model, version or file is absent from the model store."""

    status = 404
    code = "not_found"


class StoreUnavailable(RiskScoreError):
    """The model store could not be reached; worth retrying."""

    status = 503
    code = "model_store_unavailable"


class IntegrityError(RiskScoreError):
    """An artifact's sha256 differs from its manifest: it is never served."""

    status = 503
    code = "artifact_integrity_failed"


class ExportVerificationError(RiskScoreError):
    """An exported ONNX model disagrees with its native model."""

    code = "export_verification_failed"


class InputNotFound(RiskScoreError):
    """A batch input (file, folder, object, prefix or table) does not exist or holds no rows' files."""

    status = 404
    code = "input_not_found"


class InvalidInput(RiskScoreError):
    """A batch input cannot be read as the model's table: unreadable, or a required column is missing."""

    status = 422
    code = "invalid_input"


class OutputNotWritable(RiskScoreError):
    """A batch output cannot be written (bad destination, no permission, wrong existing table)."""

    status = 422
    code = "output_not_writable"
