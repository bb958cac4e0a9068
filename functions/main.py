"""Cloud Functions entry points: four thin targets, each handing the request to its handler
(riskscore.serving.handler, riskscore.batch.handler, riskscore.drift.handler).

Imports onnxruntime, numpy, pydantic and the Google clients only: never training code,
xgboost, scikit-learn or pandas (cold start and memory).
"""

from __future__ import annotations

import gc
import os

# Cold start: what this module imports and builds (numpy, pydantic and its schemas, Starlette,
# the settings) lives as long as the process, yet allocating it triggers collections that
# scan the whole growing heap over and over; with the collector off until the end of this
# module, about 20 ms less CPU at start (docs/benchmarks.md). Switched back on below.
gc.disable()

import functions_framework  # noqa: E402
import functions_framework.aio  # noqa: E402
from starlette.responses import Response  # noqa: E402

# Cold start: pydantic scans every installed distribution's entry points for plugins when the
# first model class is built (2 ms here, more with more packages); the functions use none.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
# Cold start: numpy's OpenBLAS starts a thread per host core at import (the host's cores, not
# the instance's CPU limit), and they spin while the rest of the start runs: about 27 ms of CPU
# here (docs/benchmarks.md). The functions never multiply matrices in numpy: onnxruntime does
# the model arithmetic in its own, configured threads.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from riskscore.io import logline  # noqa: E402 - after the lines above: before numpy, any model class
from riskscore.model.scorer import Scorer  # noqa: E402
from riskscore.serving import handler, trace  # noqa: E402
from riskscore.serving.prediction_log import PredictionLog  # noqa: E402
from riskscore.settings import BatchSettings, DriftSettings, ScoreSettings  # noqa: E402

# The function this instance serves: the runtime sets FUNCTION_TARGET, and functions-framework
# from its --target; unset when main.py is imported outside functions-framework.
_TARGET = os.environ.get("FUNCTION_TARGET")
SETTINGS = ScoreSettings.from_env()
SCORER = Scorer(SETTINGS)
PREDICTIONS = PredictionLog(SETTINGS)

# Cold start: functions-framework imports this file in gunicorn's master and forks the worker
# that serves. The model (and onnxruntime, which is not fork-safe) is loaded once, in the
# worker, right after the fork and in the background; a first request waits for it. Without a
# fork (the test client, `--debug`), the first request loads it.
# Only where this instance serves `score` (or FUNCTION_TARGET is unset): a batch or drift
# instance never loads the score model.
# Right before the fork, everything the master built moves to the collector's permanent
# generation (gc.freeze): the worker's collections, during the model load and then per
# request, never scan those objects again, nor copy their pages by touching them.
if _TARGET in (None, "score"):
    os.register_at_fork(before=gc.freeze, after_in_child=SCORER.load_in_background)

# Batch functions: pyarrow, the Google clients and the batch modules load on their first call,
# never on `score`'s path. Each instance reads the settings of the function it serves (all of
# them when _TARGET is unset), so a score instance never builds the batch or drift settings
# classes (cold start).
BATCH_SETTINGS = BatchSettings.from_env() if _TARGET in (None, "batch_score", "batch_score_gcs") else None
DRIFT_SETTINGS = DriftSettings.from_env() if _TARGET in (None, "drift_check") else None
gc.enable()
_BATCH_MODELS = None


def _batch_models():
    global _BATCH_MODELS
    if _BATCH_MODELS is None:
        from riskscore.batch.model import PinnedModels

        _BATCH_MODELS = PinnedModels(BATCH_SETTINGS)
    return _BATCH_MODELS


@functions_framework.aio.http
async def score(request):
    """POST a JSON applicant -> the credit decision; GET -> health and model information
    (JSON), or the scoring console for a browser (`Accept: text/html`, riskscore/serving/console.py).

    An ASGI function (a Starlette request; functions-framework serves it with gunicorn's
    uvicorn worker): the scoring itself is a fraction of a millisecond of CPU and runs on the
    event loop, which keeps no thread-pool hand-off per request. Every log line of the request
    (the prediction, any error) carries its Cloud Trace ids."""
    with logline.context(trace.log_fields(request.headers, SETTINGS.google_cloud_project)):
        body, status, headers = await handler.score(request, SCORER, PREDICTIONS, SETTINGS)
    return Response(body, status, headers)


@functions_framework.http
def batch_score(request):
    """POST {"input", "output", "run_date"} -> the run's summary; or {"records": [...]} -> one
    result per record. An input above DATAFLOW_MIN_ROWS -> 202 and the Dataflow job scoring it
    (riskscore.batch.route). Errors: 400 (bad body), 404 (no input), 422 (unusable input or
    output), 503 (model store or Dataflow launch failed)."""
    from riskscore.batch import handler as batch  # pyarrow and the Google clients: only batch pays

    return batch.batch_score(request, _batch_models(), BATCH_SETTINGS)


@functions_framework.cloud_event
def batch_score_gcs(event):
    """A Parquet/CSV object finalized under `incoming/` -> `scored/<name>/run_date=…/` in the
    same bucket. Any other object (the function's own outputs included) is acknowledged and
    ignored, so the function never triggers itself; a redelivered event rewrites the same output."""
    from riskscore.batch import handler as batch

    batch.batch_score_gcs(event, _batch_models(), BATCH_SETTINGS)


@functions_framework.http
def drift_check(request):
    """POST {"source", "start", "end"} -> run a drift check, answer its JSON report.
    GET -> the latest report (`?window=W` one window; `?index=1` the list of reports;
    `?format=html` the page instead of JSON)."""
    from riskscore.drift import handler as drift  # pyarrow and the report layer: only this function pays

    return drift.drift_check(request, DRIFT_SETTINGS)
