"""The `score` function's transport: HTTP body rules and JSON decoding, trace context, the
prediction log, the console and the OpenAPI document."""
