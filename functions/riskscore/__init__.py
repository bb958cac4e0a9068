"""Serving-side library of the credit-risk scorer: imports onnxruntime, numpy and pydantic only."""
