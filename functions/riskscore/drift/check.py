"""The drift check: what the product scored, compared with what the model was trained on.

`check(source, start, end, ...)` streams a source (`riskscore.drift.sources`) once and, per
model version found in the window, accumulates counts on the frozen bins of that version's
`drift_baseline.json` (written at training time); `run(...)` then writes the report
(`riskscore.drift.report`). Memory is bounded by the bins, not the rows (a backtest keeps the
labelled rows' PD, label and band: 17 bytes a row).

Per input feature: PSI on the baseline bins (empty bins smoothed, `drift_stats.psi`), a
Kolmogorov-Smirnov p-value (numeric; on the baseline's bins, as the baseline keeps binned
shares only) or a chi-square p-value (categorical; baseline counts = shares x training rows),
the z-score of the mean against the training mean and standard deviation, and the change in
missing rate. For PD and score: the same, plus the shift of the rating mix (PSI over bands).
Status per feature and overall from PSI and the spec's `drift:` thresholds (`DriftSpec`);
fewer rows than `min_rows` is `insufficient_data`, never an alarm. With the spec's target in
the source, a backtest (AUC, KS, Brier against the training figures, observed vs predicted
default rate by rating band).

Command line: `python -m riskscore.drift --source … [--start YYYY-MM-DD] [--end YYYY-MM-DD]`.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

import numpy as np

from riskscore.contract import bundle
from riskscore.contract.manifest import DRIFT_BASELINE_FILE, Manifest
from riskscore.drift.compare import Comparisons
from riskscore.drift.fairness import FairnessAccumulator
from riskscore.drift.sources import Columns, open_source, partition_date
from riskscore.drift.stats import (
    OTHER,
    DriftSpec,
    auc_ks,
    bin_labels,
    chi2_homogeneity,
    chi2_sf,
    float_values,
    ks_binned,
    ks_pvalue,
    psi,
)
from riskscore.errors import ArtifactNotFound, IntegrityError, InvalidRequest

__all__ = ["DRIFT_REPORTS_SCHEMA", "RECENT_ROWS", "SEVERITY", "VersionCheck", "VersionInfo", "Versions",
           "check", "default_window", "parse_window", "window_name", "worst"]

_RANK = {"insufficient_data": -1, "stable": 0, "warning": 1, "alert": 2}
SEVERITY = {"stable": "INFO", "insufficient_data": "INFO", "warning": "WARNING", "alert": "ERROR"}
RECENT_ROWS = 25

# The warehouse row of one run (BigQuery REST schema form; the Terraform test compares it).
DRIFT_REPORTS_SCHEMA = [
    {"name": "run_id", "type": "STRING", "mode": "REQUIRED"},
    {"name": "created_at", "type": "TIMESTAMP", "mode": "REQUIRED"},
    {"name": "model_name", "type": "STRING", "mode": "REQUIRED"},
    {"name": "model_version", "type": "STRING", "mode": "NULLABLE"},
    {"name": "window_start", "type": "DATE", "mode": "REQUIRED"},
    {"name": "window_end", "type": "DATE", "mode": "REQUIRED"},
    {"name": "source", "type": "STRING", "mode": "REQUIRED"},
    {"name": "status", "type": "STRING", "mode": "REQUIRED"},
    {"name": "rows", "type": "INTEGER", "mode": "REQUIRED"},
    {"name": "max_feature_psi", "type": "FLOAT", "mode": "NULLABLE"},
    {"name": "pd_psi", "type": "FLOAT", "mode": "NULLABLE"},
    {"name": "score_psi", "type": "FLOAT", "mode": "NULLABLE"},
    {"name": "rating_mix_psi", "type": "FLOAT", "mode": "NULLABLE"},
    {"name": "drifted_features", "type": "STRING", "mode": "NULLABLE"},
    {"name": "backtest_auc", "type": "FLOAT", "mode": "NULLABLE"},
    {"name": "report_url", "type": "STRING", "mode": "NULLABLE"},
    {"name": "report_json", "type": "STRING", "mode": "REQUIRED"},
]


def worst(statuses) -> str:
    """The most severe status; `insufficient_data` only when nothing else is known."""
    statuses = list(statuses)
    return max(statuses, key=_RANK.__getitem__) if statuses else "insufficient_data"


# --------------------------------------------------------------------------- the window


def default_window(today: date | None = None) -> tuple[date, date]:
    """The last full day, UTC."""
    today = today or datetime.now(timezone.utc).date()
    day = today - timedelta(days=1)
    return day, day


def parse_window(source: str, start: str | None, end: str | None, today: date | None = None) -> tuple[date, date]:
    """The window [start, end] (inclusive dates). Missing both: the source's own run_date
    partition if it names one, else the last full day. InvalidRequest naming a bad field."""
    def parse(name, value):
        if value is None:
            return None
        try:
            return date.fromisoformat(str(value))
        except ValueError:
            raise InvalidRequest(f"{name} must be a date YYYY-MM-DD, got {value!r}",
                                 details=[{"field": name, "problem": "not a YYYY-MM-DD date"}]) from None
    lo, hi = parse("start", start), parse("end", end)
    if lo is None and hi is None:
        own = partition_date(source)
        lo, hi = (own, own) if own else default_window(today)
    lo, hi = lo or hi, hi or lo
    for name, day in (("start", lo), ("end", hi)):
        if day >= date.max:  # the window ends the day after its last day
            raise InvalidRequest(f"{name} must be before {date.max.isoformat()}, got {day.isoformat()}",
                                 details=[{"field": name, "problem": "date out of range"}])
    if hi < lo:
        raise InvalidRequest(f"end ({hi}) is before start ({lo})",
                             details=[{"field": "end", "problem": "before start"}])
    return lo, hi


def window_name(start: date, end: date) -> str:
    return start.isoformat() if start == end else f"{start.isoformat()}_{end.isoformat()}"


_WINDOW = re.compile(r"\d{4}-\d{2}-\d{2}(_\d{4}-\d{2}-\d{2})?")


def check_window_name(name) -> str:
    """A `?window=` value as the name of a report folder, or InvalidRequest naming `window`."""
    if not isinstance(name, str) or not _WINDOW.fullmatch(name):
        raise InvalidRequest("window must be YYYY-MM-DD or YYYY-MM-DD_YYYY-MM-DD",
                             details=[{"field": "window", "problem": "not a window name"}])
    return name


# --------------------------------------------------------------------------- model versions


@dataclass(frozen=True)
class VersionInfo:
    """What the check needs of one model version: its manifest and drift baseline."""

    version: str
    manifest: Manifest
    baseline: dict

    @property
    def spec(self) -> DriftSpec:
        return DriftSpec.model_validate(self.manifest.spec.get("drift") or {})

    @property
    def columns(self) -> Columns:
        spec = self.manifest.spec
        return Columns(features={n: e["type"] for n, e in self.baseline["features"].items()},
                       target=spec.get("target"), id=spec.get("id"),
                       protected={p.name: "numeric" if p.bands else "categorical" for p in self.manifest.protected})


class Versions:
    """Manifests and baselines of a model's versions, read from the store once each."""

    def __init__(self, store, model: str):
        self.store, self.model = store, model
        self._cache: dict[str, VersionInfo | None] = {}

    def current(self) -> str:
        pointer = bundle.read_current(self.store, self.model)
        if pointer is None:
            raise ArtifactNotFound(f"model {self.model!r} has no current version in the model store",
                                   where=self.store.uri)
        return pointer["version"]

    def get(self, version: str) -> VersionInfo | None:
        """None when the version is not in the store, or not a valid name (the report says so).

        Read through the one verified path (riskscore.contract.bundle.load): the manifest
        against the pointer, the baseline against the manifest; a mismatch or a baseline that is
        not JSON is an IntegrityError (503) naming the version, never a silent report."""
        if version not in self._cache:
            try:
                loaded = bundle.load(self.store, self.model, version, only={DRIFT_BASELINE_FILE})
                baseline = bundle.json_object(loaded.files[DRIFT_BASELINE_FILE], DRIFT_BASELINE_FILE, version)
                if not isinstance(baseline.get("features"), dict):
                    raise IntegrityError(f"version {version!r}: {DRIFT_BASELINE_FILE} holds no features")
                self._cache[version] = VersionInfo(version, Manifest.of(loaded.manifest), baseline)
            except ArtifactNotFound:
                self._cache[version] = None
        return self._cache[version]


# --------------------------------------------------------------------------- accumulators


class _Numeric:
    """Counts on frozen bins plus moments, for one numeric column."""

    def __init__(self, entry: dict):
        self.entry = entry
        self.edges = np.asarray(entry.get("edges") or [], dtype=np.float64)
        self.counts = np.zeros(self.edges.size + 1, dtype=np.int64)
        self.rows = self.missing = 0
        self.total = self.total_sq = 0.0

    def add(self, x: np.ndarray) -> None:
        nan = np.isnan(x)
        v = x[~nan]
        self.rows += x.size
        self.missing += int(nan.sum())
        self.counts += np.bincount(np.searchsorted(self.edges, v, side="right"), minlength=self.counts.size)
        self.total += float(v.sum())
        self.total_sq += float(np.dot(v, v))

    def result(self, name: str, spec: DriftSpec, enough: bool) -> dict:
        e = self.entry
        n = self.rows - self.missing
        out = {"name": name, "type": "numeric", "psi": None, "ks": None, "ks_p": None, "z": None,
               "mean": self.total / n if n else None, "baseline_mean": e.get("mean"),
               **_missing(self.rows, self.missing, e),
               "bins": bin_labels(self.edges), "baseline": e.get("proportions"),
               "window": (self.counts / n).tolist() if n else None}
        if n and e.get("proportions"):
            actual = self.counts / n
            out["psi"] = psi(e["proportions"], actual)
            out["ks"] = ks_binned(e["proportions"], actual)
            out["ks_p"] = ks_pvalue(out["ks"], int(e.get("count") or 0), n)
            std, n_base = e.get("std"), int(e.get("count") or 0)
            if std and n_base:  # two-sample z of the means, the training std for both samples
                out["z"] = (out["mean"] - e["mean"]) / (std * math.sqrt(1 / n + 1 / n_base))
        out["status"] = _status(out, spec, enough, n, e.get("count"))
        return out


class _Categorical:
    """Counts per baseline category (unseen values in `__other__`), for one column."""

    def __init__(self, entry: dict):
        self.entry = entry
        self.categories = list(entry["categories"])
        self.index = {c: i for i, c in enumerate(self.categories)}
        self.other = self.index.get(OTHER)
        self.counts = np.zeros(len(self.categories), dtype=np.int64)
        self.rows = self.missing = 0

    def add(self, array) -> None:
        import pyarrow.compute as pc

        self.rows += len(array)
        self.missing += array.null_count
        for item in pc.value_counts(array).to_pylist():
            value, count = item["values"], item["counts"]
            if value is None:
                continue
            i = self.index.get(value, self.other)
            if i is not None:
                self.counts[i] += count

    def result(self, name: str, spec: DriftSpec, enough: bool) -> dict:
        e = self.entry
        n = int(self.counts.sum())
        out = {"name": name, "type": "categorical", "psi": None, "chi2": None, "chi2_p": None, "z": None,
               **_missing(self.rows, self.missing, e),
               "bins": self.categories, "baseline": e.get("proportions"),
               "window": (self.counts / n).tolist() if n else None}
        if n and e.get("proportions"):
            out["psi"] = psi(e["proportions"], self.counts / n)
            expected = np.asarray(e["proportions"]) * float(e.get("count") or 0)
            stat, dof = chi2_homogeneity(expected, self.counts)
            out["chi2"] = stat
            out["chi2_p"] = chi2_sf(stat, dof) if dof else 1.0
        out["status"] = _status(out, spec, enough, n, e.get("count"))
        return out


def _missing(rows: int, missing: int, entry: dict) -> dict:
    """A column's missing rate in the window, its baseline's, and the change (None when unknown)."""
    rate, base = (missing / rows if rows else None), entry.get("missing_rate")
    return {"missing_rate": rate, "baseline_missing_rate": base,
            "missing_rate_change": rate - base if rate is not None and base is not None else None}


def _status(out: dict, spec: DriftSpec, enough: bool, n: int, baseline_count) -> str:
    if not enough:
        return "insufficient_data"
    if n == 0 and baseline_count:
        return "alert"  # a feature that stopped arriving: a broken feed is drift too
    return spec.status(out["psi"])


class VersionCheck:
    """Everything accumulated for one model version over the window."""

    def __init__(self, info: VersionInfo | None, version: str):
        self.info, self.version = info, version
        self.rows = 0
        if info is None:
            return
        b = info.baseline
        self.features = {n: (_Numeric(e) if e["type"] == "numeric" else _Categorical(e))
                         for n, e in b["features"].items()}
        self.outputs = {n: _Numeric(b["outputs"][n]) for n in ("pd", "score") if n in b.get("outputs", {})}
        self.ratings: Counter = Counter()
        self.days: dict[int, np.ndarray] = {}  # day -> [rows, pd sum, pd n, score sum, score n]
        self.labelled: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self.recent: list[dict] = []
        self.present: set[str] = set()
        m = info.manifest
        # Fairness figures need the spec's protected columns and its approval cut-off.
        self.fairness = (FairnessAccumulator(m.protected, m.decision, m.scaling)
                         if m.protected and m.decision else None)

    def add(self, batch) -> None:
        import pyarrow.compute as pc

        n = batch.num_rows
        self.rows += n
        if self.info is None or not n:
            return
        names = set(batch.schema.names)
        for name, acc in self.features.items():
            if name in names:
                self.present.add(name)
                col = batch.column(name)
                if isinstance(acc, _Numeric):
                    acc.add(float_values(col))
                else:
                    acc.add(col)
        pd_ = float_values(batch.column("pd"))
        score = float_values(batch.column("score"))
        for name, values in (("pd", pd_), ("score", score)):
            if name in self.outputs:
                self.outputs[name].add(values)
        rating = batch.column("rating")
        for item in pc.value_counts(rating).to_pylist():
            self.ratings[item["values"]] += item["counts"]
        self._add_days(batch.column("time"), pd_, score)
        target = self.info.columns.target
        y = float_values(batch.column(target)) if target and target in names else None
        if self.fairness is not None:
            self.fairness.add({c.name: float_values(batch.column(c.name)) if c.bands else batch.column(c.name).to_pylist()
                               for c in self.fairness.columns if c.name in names}, pd_, score, y)
        if y is not None:
            ok = ~np.isnan(y) & ~np.isnan(pd_)
            if ok.any():
                self.labelled.append((pd_[ok], y[ok].astype(np.int8),
                                      np.asarray(rating.filter(_pa_mask(ok)).to_pylist(), dtype=object)))
        self._add_recent(batch, pd_, score)

    def _add_days(self, time, pd_, score) -> None:
        import pyarrow as pa
        import pyarrow.compute as pc

        if time.null_count == len(time):
            return
        micros = pc.fill_null(pc.cast(time, pa.int64()), -1).to_numpy(zero_copy_only=False)
        days, inverse = np.unique(np.floor_divide(micros, 86_400_000_000), return_inverse=True)
        k = days.size
        stats = np.vstack([
            np.bincount(inverse, minlength=k),
            np.bincount(inverse, weights=np.nan_to_num(pd_), minlength=k),
            np.bincount(inverse, weights=~np.isnan(pd_), minlength=k),
            np.bincount(inverse, weights=np.nan_to_num(score), minlength=k),
            np.bincount(inverse, weights=~np.isnan(score), minlength=k)])
        for i, day in enumerate(days.tolist()):
            if day >= 0:
                self.days[day] = self.days.get(day, 0) + stats[:, i]

    def _add_recent(self, batch, pd_, score) -> None:
        import pyarrow as pa
        import pyarrow.compute as pc

        micros = pc.fill_null(pc.cast(batch.column("time"), pa.int64()), -1).to_numpy(zero_copy_only=False)
        take = np.argsort(micros)[-RECENT_ROWS:] if micros.size > RECENT_ROWS else np.arange(micros.size)
        ids = batch.column("applicant_id_hash").take(pa.array(take)).to_pylist()
        ratings = batch.column("rating").take(pa.array(take)).to_pylist()
        for j, i in enumerate(take.tolist()):
            self.recent.append({"micros": int(micros[i]), "applicant_id_hash": ids[j],
                                "pd": _num(pd_[i]), "score": _num(score[i]), "rating": ratings[j]})
        self.recent = sorted(self.recent, key=lambda r: r["micros"])[-RECENT_ROWS:]

    # ------------------------------------------------------------------ the report

    def result(self) -> dict:
        if self.info is None:
            return {"model_version": self.version, "rows": self.rows, "status": "insufficient_data",
                    "error": f"no drift baseline for version {self.version!r} in the model store",
                    "features": [], "outputs": [], "rating_mix": None, "backtest": None, "by_day": [],
                    "recent_predictions": [], "unavailable_features": [], "fairness": None}
        spec = self.info.spec
        enough = self.rows >= spec.min_rows
        features = [acc.result(n, spec, enough) for n, acc in self.features.items() if n in self.present]
        outputs = [acc.result(n, spec, enough) for n, acc in self.outputs.items()]
        rating_mix = self._rating_mix(spec, enough)
        statuses = [f["status"] for f in features + outputs] + ([rating_mix["status"]] if rating_mix else [])
        status = worst(statuses) if enough else "insufficient_data"
        return {
            "model_version": self.version, "rows": self.rows, "status": status,
            "min_rows": spec.min_rows,
            "thresholds": {"psi_warning": spec.psi_warning, "psi_alert": spec.psi_alert},
            "features": features, "outputs": outputs, "rating_mix": rating_mix,
            "backtest": self._backtest(),
            "fairness": self.fairness.result() if self.fairness is not None else None,
            "drifted_features": [f["name"] for f in features if f["status"] in ("warning", "alert")],
            "unavailable_features": [n for n in self.features if n not in self.present],
            "by_day": [{"date": (date(1970, 1, 1) + timedelta(days=int(d))).isoformat(), "rows": int(s[0]),
                        "mean_pd": s[1] / s[2] if s[2] else None, "mean_score": s[3] / s[4] if s[4] else None}
                       for d, s in sorted(self.days.items())],
            "recent_predictions": [
                {"time": datetime.fromtimestamp(r["micros"] // 1_000_000, timezone.utc).isoformat()
                 if r["micros"] >= 0 else None, **{k: v for k, v in r.items() if k != "micros"}}
                for r in reversed(self.recent)],
        }

    def _rating_mix(self, spec: DriftSpec, enough: bool) -> dict | None:
        bands = [b for b in self.info.manifest.rating_bands if b.get("test_count") is not None]
        total_base = sum(int(b["test_count"]) for b in bands)
        total = sum(c for v, c in self.ratings.items() if v is not None)
        if not bands or not total_base or not total:
            return None
        names = [b["name"] for b in bands]
        window = [self.ratings.get(n, 0) / total for n in names]
        baseline = [int(b["test_count"]) / total_base for b in bands]
        other = 1.0 - sum(window)
        if other > 1e-12:  # ratings the manifest does not list
            names, window, baseline = names + [OTHER], window + [other], baseline + [0.0]
        value = psi(baseline, window)
        return {"psi": value, "status": spec.status(value) if enough else "insufficient_data",
                "bands": [{"name": n, "baseline": b, "window": w, "change": w - b}
                          for n, b, w in zip(names, baseline, window)]}

    def _backtest(self) -> dict | None:
        if not self.labelled:
            return None
        p = np.concatenate([x[0] for x in self.labelled])
        y = np.concatenate([x[1] for x in self.labelled])
        bands = np.concatenate([x[2] for x in self.labelled])
        test = self.info.manifest.metrics.get("test") or {}
        out = {"rows": int(y.size), "defaults": int(y.sum()), "default_rate": float(y.mean()),
               "mean_pd": float(p.mean()), "auc": None, "ks": None, "brier": float(np.mean((p - y) ** 2)),
               "training": {k: test.get(k) for k in ("auc", "ks", "brier")}, "bands": []}
        if 0 < y.sum() < y.size:
            out["auc"], out["ks"] = auc_ks(y, p)
        out["change"] = {k: (out[k] - test[k]) if out[k] is not None and test.get(k) is not None else None
                         for k in ("auc", "ks", "brier")}
        order = [b["name"] for b in self.info.manifest.rating_bands]
        for name in order + sorted({str(b) for b in bands.tolist()} - set(order)):
            m = bands == name
            if m.any():
                out["bands"].append({"name": name, "rows": int(m.sum()), "mean_pd": float(p[m].mean()),
                                     "observed_rate": float(y[m].mean())})
        return out


def _pa_mask(mask: np.ndarray):
    import pyarrow as pa

    return pa.array(mask)


def _num(v) -> float | None:
    return float(v) if v is not None and np.isfinite(v) else None


# --------------------------------------------------------------------------- the check


def check(source: str, start: date, end: date, versions: Versions, **source_kwargs) -> dict:
    """Stream `source` over [start, end] and return the JSON report (without report_url).

    Rows are grouped by `model_version` (rows without one count for the current version);
    each version is compared with its own baseline. The top-level fields describe the
    version with the most rows; `versions` lists every version's report; `status` is the
    worst over versions (`insufficient_data` only if no version has enough rows).
    """
    import pyarrow.compute as pc

    current = versions.current()
    src = open_source(source, **source_kwargs)
    checks: dict[str, VersionCheck] = {}
    info = versions.get(current)
    if info is None:
        raise ArtifactNotFound(f"current version {current!r} of {versions.model!r} has no {DRIFT_BASELINE_FILE}")
    # Read the union of columns of every version seen so far: versions of one model share the
    # spec's features in practice; a feature a version lacks is ignored for it.
    columns = info.columns
    comparisons = Comparisons(versions, columns.target)
    for batch in src.batches(columns, start, end):
        if not batch.num_rows:
            continue
        comparisons.add(batch, current)
        mv = batch.column("model_version")
        if mv.null_count:
            mv = pc.fill_null(mv, current)
        values = pc.unique(mv).to_pylist()
        for version in values:
            part = batch if len(values) == 1 else batch.filter(pc.equal(mv, version))
            if version not in checks:
                checks[version] = VersionCheck(versions.get(version), version)
            checks[version].add(part)
    results = sorted((c.result() for c in checks.values()), key=lambda r: -r["rows"])
    primary = results[0] if results else VersionCheck(info, current).result()
    enough = [r["status"] for r in results if r["status"] != "insufficient_data"]
    report = {
        "status": worst(enough) if enough else "insufficient_data",
        "model_name": versions.model,
        "model_version": primary["model_version"],
        "window": {"start": start.isoformat(), "end": end.isoformat()},
        "source": source,
        "rows": sum(r["rows"] for r in results),
        **{k: primary[k] for k in ("features", "outputs", "rating_mix", "backtest", "fairness")},
        "drifted_features": sorted({f for r in results for f in r.get("drifted_features", [])}),
        "versions": results or [primary],
        # champion vs challenger, on rows that carry a challenger's decision (riskscore.drift.compare)
        "comparisons": comparisons.results(),
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    return report
