"""Study (not a test, not the product): spike thresholds from a tail fit of each series' own scores.

The shipped detector fires at a near-record of each window's decaying maximum score (the record rule in
``services/alerts/spike.py``). The alternative studied here is the peaks-over-threshold rule of
extreme-value theory: each window keeps its hourly maximum scores of the last two weeks, fits a tail to
the largest tenth of them (an exponential tail, or a generalised Pareto tail by the method of moments)
and fires only above the score that the fit says is exceeded once in ``return_days`` days. The sensitivity
is then a false-alarm rate, the same for every series, instead of a fraction of a record.

Both run through the same ``engage eval-alerts`` protocols on the NAB dev set (grid points chosen inside
training folds only), so the figures compare like with like:

    .venv/bin/python bench/alerts_tail_thresholds.py [--series-dir ../shared/data/nab_devset]

Results: stdout and ``bench/results/alerts_tail_thresholds.md``.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from services.alerts import evaluate as ev  # noqa: E402
from services.alerts.spike import TUNING_GRID, SpikeConfig, SpikeDetector, Transition, _Window  # noqa: E402

KEEP_HOURS = 336
"""Hourly maxima kept per window: two weeks, the record rule's memory half-life."""
TAIL_SHARE = 10
"""The tail is the largest 1/TAIL_SHARE of the kept maxima (at least MIN_TAIL of them)."""
MIN_TAIL = 5
MIN_HOURS = 24
"""Below a day of maxima the record rule stands in."""
VARIANTS = {
    "exponential tail": ("tail", "exp"),
    "generalised Pareto tail": ("tail", "gpd"),
    "record rule and exponential tail (the stricter)": ("both", "exp"),
}
GRID = tuple(
    {"fire_z": z, "return_days": r, "material_hours": h}
    for z in (4.0, 6.0, 9.0)
    for r in (7.0, 14.0, 28.0)
    for h in (0.5, 1.0)
)


def tail_threshold(maxima: list[float], return_days: float, tail: str) -> float | None:
    """The score exceeded by one hourly maximum in ``return_days`` days, from a peaks-over-threshold fit."""
    n = len(maxima)
    if n < MIN_HOURS:
        return None
    p = 1.0 / (24.0 * return_days)
    ranked = sorted(maxima, reverse=True)
    k = max(MIN_TAIL, n // TAIL_SHARE)
    if n * p >= k:  # inside the data: the empirical quantile
        return ranked[int(n * p)]
    u = ranked[k]
    excess = [v - u for v in ranked[:k]]
    mean = sum(excess) / k
    ratio = k / (n * p)
    if tail == "gpd":
        var = sum((e - mean) ** 2 for e in excess) / (k - 1)
        if var > 0.0:
            xi = max(-0.5, min(0.5, 0.5 * (1.0 - mean * mean / var)))
            sigma = 0.5 * mean * (mean * mean / var + 1.0)
            if abs(xi) > 1e-6:
                return u + sigma / xi * (ratio**xi - 1.0)
    return u + mean * math.log(ratio)


class TailDetector(SpikeDetector):
    """The production detector with its record threshold replaced (or joined) by a tail-fit threshold."""

    def __init__(self, config: SpikeConfig, return_days: float, rule: str, tail: str) -> None:
        super().__init__(config)
        self.return_days, self.rule, self.tail = return_days, rule, tail
        self.maxima: list[list[float]] = [[], []]
        self.hour: int | None = None
        self.hour_max: list[float | None] = [None, None]
        self.thresholds: list[float | None] | None = None

    def _windows(
        self, recent: list[list[float]], short_rows: list[list[float]], short_mean: float, long_mean: float
    ) -> tuple[_Window, _Window]:
        short, long = super()._windows(recent, short_rows, short_mean, long_mean)
        c = self.config
        if self.thresholds is None:
            self.thresholds = [tail_threshold(m, self.return_days, self.tail) for m in self.maxima]
        out = []
        for w, fitted in zip((short, long), self.thresholds, strict=True):
            threshold = w.threshold
            if fitted is not None:
                capped = min(fitted, c.memory_max_factor * c.fire_z)
                threshold = max(c.fire_z, capped) if self.rule == "tail" else max(w.threshold, capped)
            out.append(_Window(w.score, threshold, w.observed, w.expected, w.buckets))
        return out[0], out[1]

    def update(self, timestamp: datetime, value: float) -> list[Transition]:
        transitions = super().update(timestamp, value)
        hour = int(timestamp.timestamp() // 3600)
        if hour != self.hour:  # learn after deciding, an hour at a time
            for i in (0, 1):
                top = self.hour_max[i]
                if top is not None:
                    self.maxima[i] = (self.maxima[i] + [top])[-KEEP_HOURS:]
            self.hour, self.hour_max, self.thresholds = hour, [None, None], None
        for i, scale in enumerate(self.scales()):
            if scale is not None:
                top = self.hour_max[i]
                score = self.last_scores[i]
                self.hour_max[i] = score if top is None else max(top, score)
        return transitions


def detect_tail(rows: list[tuple[datetime, float]], overrides: dict[str, float]) -> list[datetime]:
    """Fire times of ``TailDetector`` (grid point plus ``rule``/``tail`` codes: 0/1)."""
    o = dict(overrides)
    return_days = o.pop("return_days")
    rule = "both" if o.pop("rule_both", 0.0) else "tail"
    tail = "gpd" if o.pop("tail_gpd", 0.0) else "exp"
    detector = TailDetector(ev.config_for(o), return_days, rule, tail)
    fires = []
    for ts, value in rows:
        fires += [t.timestamp for t in detector.update(ts, value) if t.kind == "fire"]
    return fires


def summary(
    name: str, grid: tuple[dict[str, float], ...], matrix: list[list[ev.Metrics]], cats: list[str]
) -> str:
    cells = []
    for protocol, label in (("insample", "all"), ("loco", "all"), ("without-tweets", ev.TWEETS)):
        result = ev.run_protocol(protocol, cats, matrix)
        row = next(r for r in result.rows if r.label == label)
        m, (lo, hi) = row.metrics, row.interval
        cells.append(f"{m.f1:.3f} ({m.caught}/{m.windows}, {m.false_alarms}) [{lo:.2f}, {hi:.2f}]")
    best = max(range(len(grid)), key=lambda g: ev.pooled(matrix[g]).f1)
    return f"| {name} | " + " | ".join(cells) + f" | {ev.pooled(matrix[best]).f1:.3f} at {grid[best]} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series-dir", type=Path, default=ROOT.parent / "shared" / "data" / "nab_devset")
    args = parser.parse_args()
    paths = sorted(args.series_dir.glob("*.csv"))
    windows = ev.load_windows(args.series_dir) or {}
    manifest = ev.load_manifest(args.series_dir) or {}
    cats = [manifest[p.name] for p in paths]
    lines = [
        "# Spike thresholds: the record rule against a tail fit",
        "",
        f"Series: `{os.path.relpath(args.series_dir, ROOT)}` ({len(paths)}). F1 (windows caught/total,"
        " false alarms) [bootstrap 95 %"
        " over series]; grid points chosen inside training folds only. Written by"
        " `bench/alerts_tail_thresholds.py`.",
        "",
        "| threshold | in-sample | leave one category out | tweets, tuned without them | best single point"
        " (in-sample, for reference) |",
        "|---|---|---|---|---|",
    ]
    shipped = ev.grid_metrics(paths, windows, TUNING_GRID)
    lines.append(summary("record rule (shipped, `TUNING_GRID`)", TUNING_GRID, shipped, cats))
    print(lines[-1], flush=True)
    for name, (rule, tail) in VARIANTS.items():
        grid = tuple(
            {**g, "rule_both": float(rule == "both"), "tail_gpd": float(tail == "gpd")} for g in GRID
        )
        matrix = ev.grid_metrics(paths, windows, grid, detector=detect_tail)
        lines.append(summary(name, GRID, matrix, cats))
        print(lines[-1], flush=True)
    lines += [
        "",
        f"Tail grid: `fire_z` 4/6/9 × `return_days` 7/14/28 × `material_hours` 0.5/1; the last {KEEP_HOURS}"
        f" hourly maxima per window, the largest 1/{TAIL_SHARE} (at least {MIN_TAIL}) as the tail.",
        "",
    ]
    out = ROOT / "bench" / "results" / "alerts_tail_thresholds.md"
    out.write_text("\n".join(lines))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
