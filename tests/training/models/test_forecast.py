import json
import math

import numpy as np
import pandas as pd
import pytest

from training.data.synthetic import generate
from training.models.forecast import default_rate_forecast


@pytest.fixture(scope="module")
def applicants() -> pd.DataFrame:
    return generate(30_000, seed=3)


@pytest.fixture(scope="module")
def result(applicants) -> dict:
    return default_rate_forecast(applicants["application_date"], applicants["default"])


def _rows_with_rates(rates, rows_per_month: int = 1000, start: str = "2020-01") -> tuple[pd.Series, pd.Series]:
    """Applicant rows whose monthly default rates are exactly `rates` (each a multiple of 1/rows)."""
    months = pd.period_range(start, periods=len(rates), freq="M").to_timestamp()
    dates, target = [], []
    for month, rate in zip(months, rates):
        defaults = round(rate * rows_per_month)
        days = np.arange(rows_per_month) % 28
        dates.append(month + pd.to_timedelta(days, unit="D"))
        target.append(np.r_[np.ones(defaults, dtype=np.int64), np.zeros(rows_per_month - defaults, dtype=np.int64)])
    return (pd.Series(np.concatenate([d.values for d in dates]), name="application_date"),
            pd.Series(np.concatenate(target), name="default"))


def test_history_is_48_months_near_seven_percent(result, applicants):
    history = result["history"]
    assert len(history) == 48
    assert history[0]["month"] == "2022-07" and history[-1]["month"] == "2026-06"
    assert sum(h["count"] for h in history) == len(applicants)
    assert sum(h["defaults"] for h in history) == int(applicants["default"].sum())
    rates = np.array([h["rate"] for h in history])
    pooled = sum(h["defaults"] for h in history) / sum(h["count"] for h in history)
    assert 0.06 < pooled < 0.08
    assert 0.05 < np.median(rates) < 0.09
    assert np.all((rates > 0.02) & (rates < 0.15))
    assert not any(h["low_volume"] for h in history)
    for h in history:
        assert h["rate"] == pytest.approx(h["defaults"] / h["count"])
        assert h["month_start"] == h["month"] + "-01"


def test_chosen_order_is_min_aic_of_grid(result):
    grid = result["grid"]
    assert len(grid) == 18
    fitted = [g for g in grid if g["aic"] is not None]
    best = min(fitted, key=lambda g: g["aic"])
    assert result["order"] == best["order"]
    assert result["aic"] == best["aic"]
    assert result["trend"] == ("c" if result["order"][1] == 0 else "n")


def test_forecast_months_and_intervals(result):
    forecast = result["forecast"]
    assert len(forecast) == 12
    expected = pd.period_range("2026-07", periods=12, freq="M").strftime("%Y-%m").tolist()
    assert [f["month"] for f in forecast] == expected
    for f in forecast:
        values = [f["lower_95"], f["lower_80"], f["rate"], f["upper_80"], f["upper_95"]]
        assert values == sorted(values)
        assert all(0.0 <= v <= 1.0 for v in values)
        assert f["lower_95"] < f["upper_95"]


def test_backtest(result):
    bt = result["backtest"]
    assert len(bt["months"]) == 6
    assert bt["train_months"] == 42
    assert [m["month"] for m in bt["months"]] == [h["month"] for h in result["history"][-6:]]
    assert [m["actual"] for m in bt["months"]] == [h["rate"] for h in result["history"][-6:]]
    assert math.isfinite(bt["mae"]) and math.isfinite(bt["rmse"])
    assert 0 <= bt["mae"] <= bt["rmse"] < 0.05
    errors = [abs(m["predicted"] - m["actual"]) for m in bt["months"]]
    assert bt["mae"] == pytest.approx(np.mean(errors))
    for key in ("last", "mean"):
        assert math.isfinite(bt["naive"][key]["mae"])


def test_json_serialisable_and_deterministic(result, applicants):
    text = json.dumps(result, allow_nan=False)
    again = default_rate_forecast(applicants["application_date"], applicants["default"])
    assert json.dumps(again, allow_nan=False) == text


def test_too_short_history_raises(applicants):
    recent = applicants[applicants["application_date"] >= "2025-09-01"]
    with pytest.raises(ValueError, match=r"application_date.*2025-09 to 2026-06 \(10 calendar months"):
        default_rate_forecast(recent["application_date"], recent["default"])


def test_sine_cycle_beats_flat_mean():
    m = np.arange(48)
    rates = np.round(0.07 + 0.03 * np.sin(2 * np.pi * m / 12), 3)
    dates, target = _rows_with_rates(rates)
    out = default_rate_forecast(dates, target)
    observed = np.array([h["rate"] for h in out["history"]])
    np.testing.assert_allclose(observed, rates, atol=1e-12)  # the input follows the sine exactly
    bt = out["backtest"]
    assert bt["mae"] < bt["naive"]["mean"]["mae"]
    assert bt["mae"] < 0.5 * bt["naive"]["mean"]["mae"]


def test_low_volume_months_flagged_and_kept():
    rates = np.full(24, 0.07)
    dates, target = _rows_with_rates(rates, rows_per_month=100)
    keep = ~((dates >= "2021-03-01") & (dates < "2021-04-01")) | (np.arange(len(dates)) % 100 < 10)
    out = default_rate_forecast(dates[keep], target[keep], backtest_months=3)
    flagged = [h["month"] for h in out["history"] if h["low_volume"]]
    assert flagged == ["2021-03"]
    assert len(out["history"]) == 24
    assert any("2021-03" in w for w in out["warnings"])


def test_empty_month_inside_span_is_missing_not_dropped():
    rates = np.round(0.07 + 0.02 * np.sin(2 * np.pi * np.arange(30) / 12), 3)
    dates, target = _rows_with_rates(rates)
    keep = ~((dates >= "2021-05-01") & (dates < "2021-06-01"))
    out = default_rate_forecast(dates[keep], target[keep])
    gap = next(h for h in out["history"] if h["month"] == "2021-05")
    assert gap["count"] == 0 and gap["rate"] is None
    assert len(out["history"]) == 30
    json.dumps(out, allow_nan=False)


def test_input_validation():
    dates, target = _rows_with_rates(np.full(24, 0.07))
    with pytest.raises(ValueError, match="same length|differ in length"):
        default_rate_forecast(dates, target.iloc[:-1])
    bad = target.astype(float).copy()
    bad.iloc[0] = 2
    with pytest.raises(ValueError, match="0/1"):
        default_rate_forecast(dates, bad)
    with pytest.raises(ValueError, match="horizon_months"):
        default_rate_forecast(dates, target, horizon_months=0)
    with pytest.raises(ValueError, match="backtest"):
        default_rate_forecast(dates, target, backtest_months=20)
    out = default_rate_forecast(dates, target, backtest_months=0, horizon_months=3,
                                orders=[(1, 0, 0), (0, 1, 1)])
    assert out["backtest"] is None and len(out["forecast"]) == 3 and len(out["grid"]) == 2
