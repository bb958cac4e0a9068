"""Forecast the portfolio's monthly default rate with a small ARIMA model.

`default_rate_forecast(dates, target)` turns application-level rows into a monthly default
rate, picks an ARIMA order by AIC, forecasts ahead with intervals and backtests the choice
on the most recent months. The result is a plain dict that `json.dumps` accepts (with
`allow_nan=False`), meant for the training report and the model bundle.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

MIN_MONTHS = 18          # months of history (with data) needed to fit and select an order
MIN_TRAIN_MONTHS = 12    # months left for fitting once the backtest months are held out
LOW_VOLUME_ROWS = 30     # months with fewer rows are flagged `low_volume`
MAXITER = 500            # L-BFGS iterations; statsmodels' default of 50 often stops early

# p in 0..2, d in 0..1, q in 0..2. With d = 0 the model has a constant (the long-run
# logit default rate); with d >= 1 it has none (a drift would be a trend in default rates).
DEFAULT_ORDERS: tuple[tuple[int, int, int], ...] = tuple(
    (p, d, q) for p in range(3) for d in range(2) for q in range(3)
)

_ALPHA_80 = 0.2   # two-sided 80% interval
_ALPHA_95 = 0.05  # two-sided 95% interval


def default_rate_forecast(
    dates: pd.Series,
    target: pd.Series,
    horizon_months: int = 12,
    backtest_months: int = 6,
    orders: Iterable[Sequence[int]] = DEFAULT_ORDERS,
) -> dict:
    """Monthly default-rate history, ARIMA forecast and backtest, as a JSON-safe dict.

    Inputs: `dates` (anything `pd.to_datetime` parses; time zones are dropped, keeping the
    local wall time) and `target` (0/1 default flags, bool allowed) are matched by
    position, must have the same length and no missing values (ValueError otherwise).

    History: one entry per calendar month from the first to the last month present,
    ``{"month": "YYYY-MM", "month_start": "YYYY-MM-01", "count", "defaults", "rate",
    "low_volume"}``. A month with no rows has ``rate`` None. Months with fewer than 30 rows
    are flagged ``low_volume`` (and listed in ``warnings``) but still used in the fit;
    empty months are treated as missing observations by the state-space model.
    At least 18 months with data are needed, else ValueError naming the date column's span.

    Model: ARIMA (statsmodels) on the empirical logit of the monthly rate,
    ``log((defaults + 0.5) / (count - defaults + 0.5))``, so intervals map back inside
    (0, 1). Each ``(p, d, q)`` in `orders` (default p 0..2, d 0..1, q 0..2) is fitted with a
    constant when d = 0 and none when d >= 1; the order with the lowest finite AIC wins
    (ties: the earlier one in `orders`). AIC across different d is the usual pragmatic
    comparison, not a strict one. Fits that raise are kept in ``grid`` with ``aic`` None
    and an ``error``. statsmodels warnings are silenced and recorded in ``warnings`` as
    ``"ARIMA(p,d,q): Category: message"``.

    Forecast: `horizon_months` (>= 1) months after the last history month,
    ``{"month": "YYYY-MM", "rate", "lower_80", "upper_80", "lower_95", "upper_95"}`` in rate
    space, clipped to [0, 1]. ``rate`` is the back-transformed logit forecast, i.e. the
    median of the forecast distribution, not its mean.

    Backtest (skipped, ``backtest`` None, when `backtest_months` is 0): the chosen order and
    trend are refitted on all but the last `backtest_months` months (at least 12 months with
    data must remain, else ValueError) and forecast those months. The order itself was
    chosen on the full history, so the backtest is mildly optimistic. Errors are in rate
    units (fractions: 0.01 is one percentage point) over held-out months that have data:
    ``{"train_months", "order", "trend", "mae", "rmse", "coverage_80", "coverage_95",
    "naive": {"last": {"mae", "rmse"}, "mean": {"mae", "rmse"}}, "months": [{"month",
    "actual", "predicted", "lower_95", "upper_95", "naive_last", "naive_mean"}]}``, where
    the naive forecasts are the last observed training rate and the mean of the training
    months' rates. If that refit raises, ``backtest`` holds an ``error`` instead.

    Result keys: ``method``, ``order`` [p, d, q], ``trend``, ``aic``, ``grid``
    [{``order``, ``trend``, ``aic``, ``converged``}], ``history``, ``forecast``,
    ``backtest``, ``warnings``. The same input always gives the same output.
    """
    horizon_months = _positive_int(horizon_months, "horizon_months", minimum=1)
    backtest_months = _positive_int(backtest_months, "backtest_months", minimum=0)
    orders = [_check_order(o) for o in orders]
    if not orders:
        raise ValueError("orders is empty; give at least one (p, d, q)")

    name = getattr(dates, "name", None) or "dates"
    first_month, counts, defaults = _monthly(dates, target, name)
    n = len(counts)
    months = first_month + np.arange(n)
    with np.errstate(invalid="ignore", divide="ignore"):
        rates = np.where(counts > 0, defaults / np.maximum(counts, 1), np.nan)
        logits = np.where(counts > 0, np.log((defaults + 0.5) / (counts - defaults + 0.5)), np.nan)

    observed = int((counts > 0).sum())
    if observed < MIN_MONTHS:
        raise ValueError(
            f"default_rate_forecast needs at least {MIN_MONTHS} months of history with data; "
            f"{name!r} spans {_ym(months[0])} to {_ym(months[-1])} ({n} calendar months, "
            f"{observed} with data)")
    if backtest_months:
        train_observed = int((counts[: n - backtest_months] > 0).sum()) if backtest_months < n else 0
        if train_observed < MIN_TRAIN_MONTHS:
            raise ValueError(
                f"backtest_months={backtest_months} leaves {train_observed} months with data for "
                f"the backtest fit (need {MIN_TRAIN_MONTHS}); {name!r} spans {_ym(months[0])} to "
                f"{_ym(months[-1])} ({n} calendar months)")

    log: list[str] = []
    low = [_ym(m) for m, c in zip(months, counts) if c < LOW_VOLUME_ROWS]
    if low:
        log.append(f"{len(low)} month(s) with fewer than {LOW_VOLUME_ROWS} rows (used in the fit, "
                   f"noisy): {', '.join(low)}")

    index = pd.date_range(str(months[0]), periods=n, freq="MS")
    series = pd.Series(logits, index=index)
    with _single_threaded_blas():
        return _model(series, months, counts, defaults, rates, horizon_months, backtest_months,
                      orders, name, log)


def _model(series, months, counts, defaults, rates, horizon_months, backtest_months, orders,
           name, log) -> dict:
    grid: list[dict] = []
    best = None  # (aic, order, trend, result)
    for order in orders:
        trend = "c" if order[1] == 0 else "n"
        entry = {"order": list(order), "trend": trend, "aic": None, "converged": False}
        try:
            res = _fit(series, order, trend, log)
        except Exception as exc:  # a singular or degenerate fit must not sink the grid
            entry["error"] = f"{type(exc).__name__}: {exc}"
            grid.append(entry)
            continue
        aic = float(res.aic)
        entry["converged"] = bool(res.mle_retvals.get("converged", True)) if res.mle_retvals else True
        if math.isfinite(aic):
            entry["aic"] = aic
            if best is None or aic < best[0]:
                best = (aic, order, trend, res)
        grid.append(entry)
    if best is None:
        raise ValueError(f"no ARIMA order could be fitted to the monthly default rate of {name!r}: "
                         + "; ".join(f"{e['order']}: {e.get('error', 'non-finite AIC')}" for e in grid))
    aic, order, trend, res = best
    if not next(e for e in grid if e["order"] == list(order))["converged"]:
        log.append(f"chosen ARIMA{_o(order)} did not fully converge; treat its intervals with care")

    forecast = []
    for i, row in enumerate(_predict(res, horizon_months)):
        forecast.append({"month": _ym(months[-1] + 1 + i), **row})

    history = [
        {"month": _ym(m), "month_start": f"{_ym(m)}-01", "count": int(c), "defaults": int(d),
         "rate": _num(r), "low_volume": bool(c < LOW_VOLUME_ROWS)}
        for m, c, d, r in zip(months, counts, defaults, rates)
    ]

    backtest = None
    if backtest_months:
        backtest = _backtest(series, rates, months, order, trend, backtest_months, log)

    return {
        "method": (f"ARIMA{_o(order)}{' with constant' if trend == 'c' else ''} on the empirical "
                   "logit of the monthly default rate; order chosen by AIC; statsmodels "
                   "state-space MLE; intervals back-transformed to rate space"),
        "order": list(order),
        "trend": trend,
        "aic": aic,
        "grid": grid,
        "history": history,
        "forecast": forecast,
        "backtest": backtest,
        "warnings": log,
    }


# ---------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------

def _single_threaded_blas():
    """The Kalman filter calls BLAS on tiny matrices; a multi-threaded OpenBLAS spends far
    more time synchronising threads than computing (10x slower on a busy 2-core host)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # a scikit-learn dependency, so normally present
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def _positive_int(value, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _check_order(order: Sequence[int]) -> tuple[int, int, int]:
    try:
        p, d, q = (int(x) for x in order)
    except (TypeError, ValueError):
        raise ValueError(f"each order must be (p, d, q) integers, got {order!r}") from None
    if min(p, d, q) < 0 or d > 2:
        raise ValueError(f"invalid ARIMA order {order!r}: p, q >= 0 and d in 0..2")
    return p, d, q


def _monthly(dates, target, name: str) -> tuple[np.datetime64, np.ndarray, np.ndarray]:
    """First month, and row and default counts for every calendar month in the span."""
    parsed = pd.to_datetime(pd.Series(dates).reset_index(drop=True), errors="coerce")
    if getattr(parsed.dt, "tz", None) is not None:
        parsed = parsed.dt.tz_localize(None)
    y = pd.to_numeric(pd.Series(target).reset_index(drop=True), errors="coerce")
    if len(parsed) != len(y):
        raise ValueError(f"dates and target differ in length ({len(parsed)} vs {len(y)})")
    if len(parsed) == 0:
        raise ValueError(f"{name!r} is empty; need at least {MIN_MONTHS} months of history")
    if parsed.isna().any():
        raise ValueError(f"{name!r} has {int(parsed.isna().sum())} missing or unparseable dates")
    bad = y.isna() | ~y.isin([0, 1])
    if bad.any():
        raise ValueError(f"target must be 0/1 without missing values; {int(bad.sum())} rows are not")
    month = parsed.to_numpy().astype("datetime64[M]")
    first = month.min()
    offset = (month - first).astype(np.int64)
    counts = np.bincount(offset)
    defaults = np.bincount(offset, weights=y.to_numpy(dtype=np.float64)).round().astype(np.int64)
    return first, counts, defaults


def _fit(series: pd.Series, order, trend: str, log: list[str]):
    from statsmodels.tsa.arima.model import ARIMA

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # cov_type="none": parameter standard errors are not needed for AIC or forecast
        # intervals, and the numerical Hessian behind them costs more than the fit itself.
        res = ARIMA(series, order=order, trend=trend).fit(cov_type="none",
                                                          method_kwargs={"maxiter": MAXITER})
    for w in caught:
        text = f"ARIMA{_o(order)}: {w.category.__name__}: {str(w.message).splitlines()[0]}"
        if text not in log:
            log.append(text)
    return res


def _predict(res, steps: int) -> list[dict]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fc = res.get_forecast(steps)
        mean = np.asarray(fc.predicted_mean, dtype=float)
        ci80 = np.asarray(fc.conf_int(alpha=_ALPHA_80), dtype=float)
        ci95 = np.asarray(fc.conf_int(alpha=_ALPHA_95), dtype=float)
    rows = []
    for i in range(steps):
        rows.append({
            "rate": _rate(mean[i]),
            "lower_80": _rate(ci80[i, 0]), "upper_80": _rate(ci80[i, 1]),
            "lower_95": _rate(ci95[i, 0]), "upper_95": _rate(ci95[i, 1]),
        })
    return rows


def _backtest(series, rates, months, order, trend, k: int, log: list[str]) -> dict:
    n = len(series)
    train = series.iloc[: n - k]
    sub: list[str] = []
    try:
        res = _fit(train, order, trend, sub)
    except Exception as exc:  # the full-history fit worked; report, don't fail the forecast
        log.append(f"backtest fit of ARIMA{_o(order)} failed: {type(exc).__name__}: {exc}")
        return {"train_months": n - k, "order": list(order), "trend": trend,
                "error": f"{type(exc).__name__}: {exc}"}
    finally:
        log.extend(f"backtest {s}" for s in sub if f"backtest {s}" not in log)
    preds = _predict(res, k)

    train_rates = rates[: n - k]
    seen = train_rates[~np.isnan(train_rates)]
    naive_last, naive_mean = float(seen[-1]), float(seen.mean())

    rows, err, err_last, err_mean, in80, in95 = [], [], [], [], [], []
    for i, p in enumerate(preds):
        actual = rates[n - k + i]
        rows.append({"month": _ym(months[n - k + i]), "actual": _num(actual), "predicted": p["rate"],
                     "lower_95": p["lower_95"], "upper_95": p["upper_95"],
                     "naive_last": naive_last, "naive_mean": naive_mean})
        if not np.isnan(actual) and p["rate"] is not None:
            err.append(p["rate"] - actual)
            err_last.append(naive_last - actual)
            err_mean.append(naive_mean - actual)
            in80.append(p["lower_80"] <= actual <= p["upper_80"])
            in95.append(p["lower_95"] <= actual <= p["upper_95"])
    return {
        "train_months": n - k,
        "order": list(order),
        "trend": trend,
        **_errors(err),
        "coverage_80": _num(np.mean(in80)) if in80 else None,
        "coverage_95": _num(np.mean(in95)) if in95 else None,
        "naive": {"last": _errors(err_last), "mean": _errors(err_mean)},
        "months": rows,
    }


def _errors(err: list[float]) -> dict:
    if not err:
        return {"mae": None, "rmse": None}
    e = np.asarray(err, dtype=float)
    return {"mae": float(np.mean(np.abs(e))), "rmse": float(np.sqrt(np.mean(e ** 2)))}


def _rate(logit: float) -> float | None:
    if not np.isfinite(logit):
        return 0.0 if logit == -np.inf else 1.0 if logit == np.inf else None
    if logit >= 0:
        p = 1.0 / (1.0 + math.exp(-logit))
    else:  # no overflow for very negative logits
        e = math.exp(logit)
        p = e / (1.0 + e)
    return float(min(1.0, max(0.0, p)))


def _num(x) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None


def _ym(month: np.datetime64) -> str:
    return str(np.datetime64(month, "M"))


def _o(order) -> str:
    return "(" + ",".join(str(int(v)) for v in order) + ")"
