"""Serving-side library of the credit-risk scorer (imports onnxruntime, numpy, pydantic; pyarrow,
Jinja2 and the Google clients only where used). Layers, each importing only those before it:

  errors, settings   the error hierarchy (each error carries its HTTP status) and the settings
  io                 model store, files, BigQuery clients, the log writer
  contract           specs, manifest, request model, bundles
  model              sessions, graphs, feeds, loader, decision core, reasons
  report             Jinja2 templates, plots, formatting
  serving, batch, drift   the score transport, batch scoring, drift checks
"""
