"""Serving-side library of the credit-risk scorer (imports onnxruntime, numpy, pydantic; pyarrow,
Jinja2 and the Google clients only where used). Layers, each importing only those before it:

  errors, settings   the error hierarchy (each error carries its HTTP status) and the settings
  io                 model store, files, BigQuery clients, the log writer
  contract           specs, manifest, request model, bundles
  model              sessions, graphs, feeds, loader, decision core, reasons
  report             Jinja2 templates, plots, formatting
  serving, batch, drift   the score transport, batch scoring, drift checks
"""

import os

# Memory: batch and drift read through Arrow, whose default allocator (mimalloc) keeps much of
# what a run freed; with jemalloc a 1M-row batch_score peaks about 30-55 MiB lower and grows
# less with the rows (docs/benchmarks.md, batch memory). Arrow reads this once, when pyarrow
# first allocates, so it is set here, before any riskscore module imports pyarrow; an explicit
# setting of the deployment wins.
os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "jemalloc")
