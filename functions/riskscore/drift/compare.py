"""Champion versus challenger over a drift window: the rows both scored, compared.

`Comparison` accumulates, batch by batch, the rows that carry both decisions (prediction-log
lines with a ready challenger, or batch outputs with challenger columns) and reports:

- the two score distributions on the champion's frozen score bins, and the PSI of the
  challenger's against the champion's (the same reading as drift: < 0.1 stable, …);
- the rating agreement matrix (champion rating x challenger rating, counts) and the share on
  its diagonal;
- the decisions that would change at the cut-off: an applicant scoring below `cutoff_score`
  is declined; the share of rows whose decision differs, each way;
- once outcomes are present (the spec's target in the source), both models' backtest on the
  same labelled rows: AUC, KS, Brier, and calibration per rating band (each model's own
  bands: rows, mean PD, observed default rate).

Memory: bins and the matrix, plus 18 bytes per labelled row (two PDs, the label).
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from riskscore.drift.stats import DriftSpec, psi

__all__ = ["Comparison", "Comparisons", "default_cutoff"]


def default_cutoff(manifest: dict) -> float | None:
    """The spec's `drift.cutoff_score`, else the lowest band's upper edge (the min_score of the
    second band): applicants rated in the lowest band are declined."""
    spec_cutoff = ((manifest.get("spec") or {}).get("drift") or {}).get("cutoff_score")
    if spec_cutoff is not None:
        return float(spec_cutoff)
    bands = (manifest.get("scaling") or {}).get("bands") or []
    return float(bands[1]["min_score"]) if len(bands) > 1 and bands[1].get("min_score") is not None else None


class Comparison:
    """Champion `champion` against challenger `challenger` over one window."""

    def __init__(self, champion: str, challenger: str, *, score_edges, bands: list[str],
                 cutoff_score: float | None, spec: DriftSpec | None = None):
        self.champion, self.challenger = champion, challenger
        self.edges = np.asarray(score_edges if score_edges is not None else [], dtype=np.float64)
        self.bands = list(bands)
        self.cutoff = cutoff_score
        self.spec = spec or DriftSpec()
        self.counts = {"champion": np.zeros(self.edges.size + 1, np.int64),
                       "challenger": np.zeros(self.edges.size + 1, np.int64)}
        self.sums = {"champion": np.zeros(2), "challenger": np.zeros(2)}  # pd sum, score sum
        self.pd_abs_diff = 0.0
        self.matrix: Counter = Counter()
        self.rows = 0
        self.changed = Counter()  # "approve_to_decline", "decline_to_approve"
        self.approved = Counter()
        self.labelled: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []

    def add(self, champion: dict, challenger: dict, target: np.ndarray | None = None) -> None:
        """Columns of one batch: `champion` and `challenger` each {pd, score (float arrays),
        rating (object array)}; rows where either PD is missing are left out. `target`: 0/1
        outcomes (NaN unknown) or None."""
        c_pd, h_pd = np.asarray(champion["pd"], np.float64), np.asarray(challenger["pd"], np.float64)
        ok = ~np.isnan(c_pd) & ~np.isnan(h_pd)
        if not ok.any():
            return
        c_pd, h_pd = c_pd[ok], h_pd[ok]
        c_score = np.asarray(champion["score"], np.float64)[ok]
        h_score = np.asarray(challenger["score"], np.float64)[ok]
        c_rating = np.asarray(champion["rating"], dtype=object)[ok]
        h_rating = np.asarray(challenger["rating"], dtype=object)[ok]
        self.rows += int(ok.sum())
        for name, score, pd_ in (("champion", c_score, c_pd), ("challenger", h_score, h_pd)):
            valid = score[~np.isnan(score)]
            self.counts[name] += np.bincount(np.searchsorted(self.edges, valid, side="right"),
                                             minlength=self.edges.size + 1)
            self.sums[name] += (pd_.sum(), valid.sum())
        self.pd_abs_diff += float(np.abs(c_pd - h_pd).sum())
        self.matrix.update(zip(c_rating.tolist(), h_rating.tolist()))
        if self.cutoff is not None:
            c_ok, h_ok = c_score >= self.cutoff, h_score >= self.cutoff
            self.approved.update(champion=int(c_ok.sum()), challenger=int(h_ok.sum()))
            self.changed.update(approve_to_decline=int((c_ok & ~h_ok).sum()),
                                decline_to_approve=int((~c_ok & h_ok).sum()))
        if target is not None:
            y = np.asarray(target, np.float64)[ok]
            known = ~np.isnan(y)
            if known.any():
                self.labelled.append((c_pd[known], h_pd[known], y[known].astype(np.int8),
                                      c_rating[known], h_rating[known]))

    # ------------------------------------------------------------------ the report

    def result(self) -> dict:
        from riskscore.drift.stats import bin_labels  # the drift report's bin labels, so both pages agree

        n = self.rows
        out = {"champion_version": self.champion, "challenger_version": self.challenger, "rows": n,
               "enough_rows": n >= self.spec.min_rows, "min_rows": self.spec.min_rows,
               "score_distribution": None, "means": None, "rating_agreement": None, "decisions": None,
               "backtest": None}
        if not n:
            return out
        shares = {k: (v / v.sum()).tolist() if v.sum() else None for k, v in self.counts.items()}
        value = psi(shares["champion"], shares["challenger"]) if shares["champion"] and shares["challenger"] else None
        out["score_distribution"] = {
            "bins": bin_labels(self.edges), "champion": shares["champion"], "challenger": shares["challenger"],
            "psi": value, "status": self.spec.status(value) if out["enough_rows"] else "insufficient_data"}
        out["means"] = {"champion_pd": self.sums["champion"][0] / n, "challenger_pd": self.sums["challenger"][0] / n,
                        "champion_score": self.sums["champion"][1] / n,
                        "challenger_score": self.sums["challenger"][1] / n, "mean_abs_pd_diff": self.pd_abs_diff / n}
        out["rating_agreement"] = self._agreement()
        if self.cutoff is not None:
            changed = self.changed["approve_to_decline"] + self.changed["decline_to_approve"]
            out["decisions"] = {"cutoff_score": self.cutoff, "changed": changed, "changed_share": changed / n,
                                "approve_to_decline": self.changed["approve_to_decline"],
                                "decline_to_approve": self.changed["decline_to_approve"],
                                "champion_approval_rate": self.approved["champion"] / n,
                                "challenger_approval_rate": self.approved["challenger"] / n}
        out["backtest"] = self._backtest()
        return out

    def _agreement(self) -> dict:
        seen = {c for c, _ in self.matrix} | {h for _, h in self.matrix}
        order = [b for b in self.bands if b in seen] + sorted(str(s) for s in seen - set(self.bands))
        matrix = [[int(self.matrix.get((c, h), 0)) for h in order] for c in order]
        agree = sum(self.matrix.get((b, b), 0) for b in order)
        return {"bands": order, "matrix": matrix, "agreement": agree / self.rows}

    def _backtest(self) -> dict | None:
        from riskscore.drift.stats import auc_ks  # the drift check's own figures, so both reports agree

        if not self.labelled:
            return None
        c_pd, h_pd, y, c_rating, h_rating = (np.concatenate([x[i] for x in self.labelled]) for i in range(5))
        out = {"rows": int(y.size), "defaults": int(y.sum()), "default_rate": float(y.mean())}
        for name, p, rating in (("champion", c_pd, c_rating), ("challenger", h_pd, h_rating)):
            auc = ks = None
            if 0 < y.sum() < y.size:
                auc, ks = auc_ks(y, p)
            bands = []
            order = [b for b in self.bands if b in set(rating.tolist())] + sorted(
                {str(r) for r in rating.tolist()} - set(self.bands))
            for band in order:
                m = rating == band
                if m.any():
                    bands.append({"name": band, "rows": int(m.sum()), "mean_pd": float(p[m].mean()),
                                  "observed_rate": float(y[m].mean())})
            out[name] = {"auc": auc, "ks": ks, "brier": float(np.mean((p - y) ** 2)), "mean_pd": float(p.mean()),
                         "bands": bands}
        out["auc_change"] = (None if out["champion"]["auc"] is None
                             else out["challenger"]["auc"] - out["champion"]["auc"])
        return out


class Comparisons:
    """One `Comparison` per (champion version, challenger version) pair met in a window's
    record batches (the drift sources' columns: `model_version`, `pd`, `score`, `rating`,
    riskscore.drift.sources.CHALLENGER and, when present, the target)."""

    def __init__(self, versions, target: str | None):
        self.versions = versions  # riskscore.drift.Versions: each champion's manifest and baseline
        self.target = target
        self.pairs: dict[tuple[str, str], Comparison] = {}

    def add(self, batch, default_version: str) -> None:
        import pyarrow.compute as pc

        from riskscore.drift.stats import float_values  # nulls as NaN, as the drift check reads every column

        if "challenger_pd" not in batch.schema.names or batch.column("challenger_pd").null_count == batch.num_rows:
            return
        batch = batch.filter(pc.is_valid(batch.column("challenger_pd")))
        champion = pc.fill_null(batch.column("model_version"), default_version)
        challenger = pc.fill_null(batch.column("challenger_version"), "")
        keys = pc.binary_join_element_wise(champion, challenger, "\x00")
        for key in pc.unique(keys).to_pylist():
            part = batch.filter(pc.equal(keys, key))
            pair = tuple(key.split("\x00", 1))
            if pair not in self.pairs:
                self.pairs[pair] = self._comparison(*pair)
            target = (float_values(part.column(self.target))
                      if self.target and self.target in part.schema.names else None)
            self.pairs[pair].add(
                {"pd": float_values(part.column("pd")), "score": float_values(part.column("score")),
                 "rating": np.asarray(part.column("rating").to_pylist(), dtype=object)},
                {"pd": float_values(part.column("challenger_pd")), "score": float_values(part.column("challenger_score")),
                 "rating": np.asarray(part.column("challenger_rating").to_pylist(), dtype=object)},
                target)

    def _comparison(self, champion: str, challenger: str) -> Comparison:
        info = self.versions.get(champion)
        manifest = info.manifest.raw if info else {}  # the published JSON (contract.manifest.Manifest)
        score = ((info.baseline.get("outputs") or {}).get("score") or {}) if info else {}
        return Comparison(champion, challenger, score_edges=score.get("edges") or [],
                          bands=[b["name"] for b in (manifest.get("scaling") or {}).get("bands") or []],
                          cutoff_score=default_cutoff(manifest), spec=info.spec if info else None)

    def results(self) -> list[dict]:
        """Every pair's comparison, most rows first."""
        return sorted((c.result() for c in self.pairs.values()), key=lambda r: -r["rows"])

