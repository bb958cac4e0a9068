"""The conventional alternative of the `score` function, for bench/serving.py: a FastAPI
service that loads a joblib scikit-learn + XGBoost pipeline at startup and, per request,
builds a one-row pandas DataFrame and calls predict_proba.

    ALT_MODEL_PATH=/abs/path/alt.joblib .venv/bin/uvicorn app:app --app-dir bench/alternative --port 8081

POST / {"applicant_id": "x", "features": {...}} -> {"applicant_id", "pd", "score", "rating"}.
"""

from __future__ import annotations

import os
from contextlib import asynccontextmanager

import joblib
import pandas as pd
from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field

from columns import FEATURES, model_frame

# The spec's default linear scaling and rating bands.
BANDS = [(750.0, "Excellent"), (650.0, "Good"), (500.0, "Average")]

MODEL = {}


@asynccontextmanager
async def lifespan(app: FastAPI):
    MODEL["pipeline"] = joblib.load(os.environ["ALT_MODEL_PATH"])
    yield
    MODEL.clear()


app = FastAPI(lifespan=lifespan)


class Features(BaseModel):
    model_config = ConfigDict(extra="forbid")

    revolving_utilization: float = Field(ge=0, le=50)
    age: float = Field(ge=18, le=120)
    late_30_59: float = Field(ge=0, le=100)
    late_60_89: float = Field(ge=0, le=100)
    late_90_plus: float = Field(ge=0, le=100)
    debt_ratio: float = Field(ge=0, le=100)
    monthly_income: float | None = Field(None, ge=0, le=10_000_000)
    open_credit_lines: float = Field(ge=0, le=200)
    real_estate_loans: float = Field(ge=0, le=100)
    dependents: float | None = Field(None, ge=0, le=50)
    housing: str | None = None
    employment_type: str | None = None
    loan_purpose: str | None = None


class ScoreRequest(BaseModel):
    applicant_id: str | None = None
    features: Features


def rating(score: float) -> str:
    return next((name for edge, name in BANDS if score >= edge), "Poor")


@app.post("/")
def score(req: ScoreRequest) -> dict:
    frame = model_frame(pd.DataFrame([req.features.model_dump()], columns=FEATURES))
    pd_ = float(MODEL["pipeline"].predict_proba(frame)[0, 1])
    points = 300.0 + (1.0 - pd_) * 600.0
    return {"applicant_id": req.applicant_id, "pd": pd_, "score": round(points, 1), "rating": rating(points)}
