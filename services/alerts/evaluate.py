"""Offline evaluation of the spike detector on labelled series (``engage eval-alerts``).

Every ``*.csv`` (``timestamp,value``) in a directory is streamed, in time order, through the production
``SpikeDetector`` — the same code and the same single ``SpikeConfig`` for every file — and the alerts it
fires are written to ``out_dir/<same file name>``. When the directory holds an ``anomaly_windows.json`` in NAB
format (``{"<file name or path>.csv": [["start", "end"], ...]}``; keys are matched on the file name, so both
``Twitter_volume_AAPL.csv`` and ``realTweets/Twitter_volume_AAPL.csv`` work) the alerts are scored:

* a window is **caught** (TP) when at least one alert *fires* inside it (bounds included); a window without
  any is **missed** (FN). NAB windows are wide and surround the anomaly, so an early alert counts;
* alerts outside every window are **false alarms** (FP), counted as clusters: an alert less than
  ``FALSE_ALARM_CLUSTER`` (1 h) after the previous outside alert joins its cluster (single linkage);
* precision = TP / (TP + FP), recall = TP / (TP + FN), F1 = their harmonic mean; the overall row sums TP, FP
  and FN over the files (micro average). A ratio with a zero denominator is reported as 0.

**Protocols** (``--protocol``). The detector's few global parameters are chosen from ``TUNING_GRID``
(``services.alerts.spike``) by pooled F1 inside training folds only, then the held-out series are scored:

* ``insample``: tune on every series, score every series (optimistic: the upper bound);
* ``loco``: leave one category out (``manifest.json`` gives each file's category): for each category, tune
  on all the others and score it; the held-out scores are pooled over the folds;
* ``without-tweets``: tune on every non-tweet category, score ``realTweets``, the closest proxy for brands
  the detector has never seen.

Every row carries a bootstrap 95 % interval over series (series resampled with replacement, pooled F1
recomputed; fixed seed; the choice made in the folds is kept). The published detectors' figures, parsed
from the directory's ``README.md`` table when it has one, are printed beside ours (same scorer).
"""

from __future__ import annotations

import csv
import json
import random
import re
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from services.alerts.spike import TUNING_GRID, SpikeConfig, SpikeDetector, Transition

WINDOWS_FILE = "anomaly_windows.json"
MANIFEST_FILE = "manifest.json"
README_FILE = "README.md"
TWEETS = "realTweets"
ALL_NON_TWEET = "all non-tweet"
ALL = "all"
PROTOCOLS = ("insample", "loco", "without-tweets")
BOOTSTRAP_SAMPLES = 2000
BOOTSTRAP_SEED = 20150301
MAX_WORKERS = 2
SHOWN_ANCHORS = ("contextOSE", "ARTime")
FALSE_ALARM_CLUSTER = timedelta(hours=1)
OUTPUT_HEADER = ("timestamp", "severity", "observed", "expected", "score", "window_seconds")

Window = tuple[datetime, datetime]


@dataclass(frozen=True)
class Metrics:
    """Window-level detection counts and the derived ratios."""

    windows: int
    caught: int
    false_alarms: int

    @property
    def missed(self) -> int:
        return self.windows - self.caught

    @property
    def precision(self) -> float:
        flagged = self.caught + self.false_alarms
        return self.caught / flagged if flagged else 0.0

    @property
    def recall(self) -> float:
        return self.caught / self.windows if self.windows else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


@dataclass
class FileReport:
    name: str
    points: int
    alerts: list[Transition]
    """The ``fire`` transitions, in time order."""
    metrics: Metrics | None = None
    """None when the directory has no windows for this file."""


@dataclass
class Report:
    files: list[FileReport] = field(default_factory=list)
    config: SpikeConfig = field(default_factory=SpikeConfig)

    @property
    def overall(self) -> Metrics | None:
        scored = [f.metrics for f in self.files if f.metrics is not None]
        if not scored:
            return None
        return Metrics(
            windows=sum(m.windows for m in scored),
            caught=sum(m.caught for m in scored),
            false_alarms=sum(m.false_alarms for m in scored),
        )


def _utc(ts: datetime) -> datetime:
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def read_series(path: Path) -> list[tuple[datetime, float]]:
    """``timestamp,value`` rows, sorted by time; naive timestamps are taken as UTC."""
    with path.open(newline="") as fh:
        rows = [(_utc(datetime.fromisoformat(r["timestamp"])), float(r["value"])) for r in csv.DictReader(fh)]
    rows.sort(key=lambda row: row[0])
    return rows


def load_windows(series_dir: Path) -> dict[str, list[Window]] | None:
    """The labelled windows keyed by bare file name, or None when the directory has no windows file."""
    path = series_dir / WINDOWS_FILE
    if not path.exists():
        return None
    raw: dict[str, list[list[str]]] = json.loads(path.read_text())
    return {
        Path(key).name: [(_utc(datetime.fromisoformat(a)), _utc(datetime.fromisoformat(b))) for a, b in spans]
        for key, spans in raw.items()
    }


def detect(rows: list[tuple[datetime, float]], config: SpikeConfig | None = None) -> list[Transition]:
    """Stream a series through a fresh detector; every transition it emits, in order."""
    detector = SpikeDetector(config)
    transitions: list[Transition] = []
    for ts, value in rows:
        transitions.extend(detector.update(ts, value))
    return transitions


def score_alerts(fired: list[datetime], windows: list[Window]) -> Metrics:
    """TP / FP / FN of alert times against labelled windows (see the module docstring)."""
    fired = sorted(_utc(t) for t in fired)
    windows = [(_utc(a), _utc(b)) for a, b in windows]
    caught = sum(1 for a, b in windows if any(a <= t <= b for t in fired))
    false_alarms = 0
    previous: datetime | None = None
    for t in fired:
        if any(a <= t <= b for a, b in windows):
            continue
        if previous is None or t - previous >= FALSE_ALARM_CLUSTER:
            false_alarms += 1
        previous = t
    return Metrics(windows=len(windows), caught=caught, false_alarms=false_alarms)


def _write_alerts(path: Path, alerts: list[Transition]) -> None:
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(OUTPUT_HEADER)
        for a in alerts:
            writer.writerow(
                [
                    a.timestamp.strftime("%Y-%m-%d %H:%M:%S"),
                    a.severity,
                    f"{a.observed:g}",
                    f"{a.expected:.2f}",
                    f"{a.score:.2f}",
                    a.window_seconds,
                ]
            )


def evaluate_dir(series_dir: Path, out_dir: Path, config: SpikeConfig | None = None) -> Report:
    """Run the detector over every ``*.csv`` in ``series_dir``, write the alerts, score them if labelled."""
    config = config or SpikeConfig()
    windows = load_windows(series_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    report = Report(config=config)
    for path in sorted(series_dir.glob("*.csv")):
        rows = read_series(path)
        alerts = [t for t in detect(rows, config) if t.kind == "fire"]
        _write_alerts(out_dir / path.name, alerts)
        metrics = None
        if windows is not None:
            metrics = score_alerts([a.timestamp for a in alerts], windows.get(path.name, []))
        report.files.append(FileReport(name=path.name, points=len(rows), alerts=alerts, metrics=metrics))
    return report


def report_table(report: Report) -> Table:
    """The report as a rich table: one row per file, plus the overall row when labelled."""
    minutes = int(FALSE_ALARM_CLUSTER.total_seconds() // 60)
    table = Table(title=f"Spike detector evaluation (false alarms less than {minutes} min apart count once)")
    table.add_column("series", no_wrap=True)
    table.add_column("points", justify="right")
    table.add_column("alerts", justify="right")
    for name in ("windows", "caught", "false alarms", "precision", "recall", "F1"):
        table.add_column(name, justify="right")

    def cells(m: Metrics | None) -> list[str]:
        if m is None:
            return ["-"] * 6
        return [
            str(m.windows),
            str(m.caught),
            str(m.false_alarms),
            f"{m.precision:.3f}",
            f"{m.recall:.3f}",
            f"{m.f1:.3f}",
        ]

    for f in report.files:
        table.add_row(f.name, str(f.points), str(len(f.alerts)), *cells(f.metrics))
    overall = report.overall
    if overall is not None:
        table.add_section()
        points = sum(f.points for f in report.files)
        alerts = sum(len(f.alerts) for f in report.files)
        table.add_row("[bold]overall[/]", str(points), str(alerts), *cells(overall), style="bold")
    return table


# --- protocols -----------------------------------------------------------------------------------------


def load_manifest(series_dir: Path) -> dict[str, str] | None:
    """Each file's category from ``manifest.json`` (``{"<file>.csv": {"category": ...}, ...}``), keyed by
    bare file name; None when the directory has no manifest."""
    path = series_dir / MANIFEST_FILE
    if not path.exists():
        return None
    raw: dict[str, dict[str, object]] = json.loads(path.read_text())
    out: dict[str, str] = {}
    for key, entry in raw.items():
        category = entry.get("category") if isinstance(entry, dict) else None
        if not isinstance(category, str) or not category:
            raise ValueError(f"{path}: entry {key!r} has no category")
        out[Path(key).name] = category
    return out


@dataclass(frozen=True)
class Anchor:
    """A published detector's figure for one row: the F1 as printed and the counts behind it."""

    f1: float
    metrics: Metrics


_ANCHOR_CELL = re.compile(r"^\s*([0-9.]+)\s*\(\s*(\d+)\s*/\s*(\d+)\s*,\s*(\d+)\s*\)\s*$")


def _row_label(header: str) -> str:
    """``realTweets (5)`` -> ``realTweets``, ``all 31`` -> ``all``, ``all non-tweet`` stays."""
    label = re.sub(r"\s*\(.*\)\s*$", "", header.strip())
    return re.sub(r"^all \d+$", ALL, label)


def parse_anchors(readme: str) -> dict[str, dict[str, Anchor]]:
    """The published detectors' table of a dev set README: ``{detector: {row label: Anchor}}``.

    The table is the first markdown table whose header starts with ``detector``; its cells read
    ``F1 (caught/windows, false alarms)``. Cells in another shape are skipped."""
    lines = [line.strip() for line in readme.splitlines()]
    out: dict[str, dict[str, Anchor]] = {}
    headers: list[str] | None = None
    for line in lines:
        if not line.startswith("|"):
            if headers is not None and out:
                break
            headers = None
            continue
        cells = [c.strip() for c in line.strip("|").split("|")]
        if headers is None:
            if cells and cells[0].lower() == "detector":
                headers = [_row_label(c) for c in cells]
            continue
        if all(set(c) <= set("-: ") for c in cells):
            continue  # the separator row
        row: dict[str, Anchor] = {}
        for header, cell in zip(headers[1:], cells[1:], strict=False):
            m = _ANCHOR_CELL.match(cell)
            if m:
                f1, caught, windows, false_alarms = m.groups()
                row[header] = Anchor(float(f1), Metrics(int(windows), int(caught), int(false_alarms)))
        if row:
            out[cells[0]] = row
    return out


def pooled(metrics: Sequence[Metrics]) -> Metrics:
    """Micro average: TP, FP and windows summed."""
    return Metrics(
        windows=sum(m.windows for m in metrics),
        caught=sum(m.caught for m in metrics),
        false_alarms=sum(m.false_alarms for m in metrics),
    )


def bootstrap_interval(
    metrics: Sequence[Metrics],
    samples: int = BOOTSTRAP_SAMPLES,
    seed: int = BOOTSTRAP_SEED,
    level: float = 0.95,
) -> tuple[float, float]:
    """Percentile interval of the pooled F1 when the series are resampled with replacement."""
    if not metrics:
        return (0.0, 0.0)
    rng = random.Random(seed)
    n = len(metrics)
    values = sorted(pooled([metrics[rng.randrange(n)] for _ in range(n)]).f1 for _ in range(samples))
    tail = (1.0 - level) / 2.0
    lo = values[int(tail * samples)]
    hi = values[min(samples - 1, int((1.0 - tail) * samples))]
    return (lo, hi)


def select(matrix: Sequence[Sequence[Metrics]], train: Sequence[int]) -> int:
    """The grid point with the best pooled F1 over the ``train`` series (``matrix[point][series]``);
    the first one on ties."""
    best, best_f1 = 0, -1.0
    for g, row in enumerate(matrix):
        f1 = pooled([row[i] for i in train]).f1
        if f1 > best_f1:
            best, best_f1 = g, f1
    return best


@dataclass(frozen=True)
class Fold:
    held_out: str
    """The scored category (``all`` for in-sample)."""
    point: int
    """Index of the chosen grid point."""
    train_f1: float
    train: tuple[int, ...]
    test: tuple[int, ...]


@dataclass(frozen=True)
class Row:
    label: str
    series: int
    metrics: Metrics
    interval: tuple[float, float]


@dataclass
class ProtocolResult:
    protocol: str
    folds: list[Fold]
    scored: dict[int, tuple[int, Metrics]]
    """Series index -> (grid point it was scored with, its metrics)."""
    rows: list[Row]


def folds_for(protocol: str, categories: Sequence[str]) -> list[tuple[str, list[int], list[int]]]:
    """(held-out label, train series, test series) of a protocol, from each series' category."""
    every = list(range(len(categories)))
    if protocol == "insample":
        return [(ALL, every, every)]
    if protocol == "loco":
        out = []
        for c in sorted(set(categories)):
            test = [i for i in every if categories[i] == c]
            train = [i for i in every if categories[i] != c]
            if not train:
                raise ValueError("leave-one-category-out needs at least two categories")
            out.append((c, train, test))
        return out
    if protocol == "without-tweets":
        test = [i for i in every if categories[i] == TWEETS]
        train = [i for i in every if categories[i] != TWEETS]
        if not test or not train:
            raise ValueError(f"without-tweets needs {TWEETS} series and others")
        return [(TWEETS, train, test)]
    raise ValueError(f"unknown protocol {protocol!r}; expected one of {', '.join(PROTOCOLS)}")


def run_protocol(
    protocol: str,
    categories: Sequence[str],
    matrix: Sequence[Sequence[Metrics]],
    samples: int = BOOTSTRAP_SAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> ProtocolResult:
    """Choose a grid point inside each fold's training series, score its held-out series, and summarise
    per category, over the non-tweet categories and over every scored series (with intervals)."""
    folds: list[Fold] = []
    scored: dict[int, tuple[int, Metrics]] = {}
    for held_out, train, test in folds_for(protocol, categories):
        point = select(matrix, train)
        folds.append(
            Fold(held_out, point, pooled([matrix[point][i] for i in train]).f1, tuple(train), tuple(test))
        )
        for i in test:
            scored[i] = (point, matrix[point][i])
    groups: list[tuple[str, list[int]]] = [
        (c, [i for i in sorted(scored) if categories[i] == c])
        for c in sorted({categories[i] for i in scored})
    ]
    non_tweet = [i for i in sorted(scored) if categories[i] != TWEETS]
    if len(groups) > 1 and non_tweet:
        groups.append((ALL_NON_TWEET, non_tweet))
    if len(groups) > 1:
        groups.append((ALL, sorted(scored)))
    rows = []
    for label, members in groups:
        ms = [scored[i][1] for i in members]
        rows.append(Row(label, len(members), pooled(ms), bootstrap_interval(ms, samples, seed)))
    return ProtocolResult(protocol, folds, scored, rows)


Detect = Callable[[list[tuple[datetime, float]], dict[str, float]], list[datetime]]


def config_for(overrides: dict[str, float]) -> SpikeConfig:
    """The default ``SpikeConfig`` with a grid point's overrides."""
    values: dict[str, Any] = dict(overrides)
    return replace(SpikeConfig(), **values)


def detect_fires(rows: list[tuple[datetime, float]], overrides: dict[str, float]) -> list[datetime]:
    """Fire times of the production detector with ``SpikeConfig`` overrides (a grid point)."""
    return [t.timestamp for t in detect(rows, config_for(overrides)) if t.kind == "fire"]


def _score_one(
    task: tuple[Path, dict[str, float], list[Window], Detect],
) -> Metrics:
    path, overrides, windows, detector = task
    return score_alerts(detector(read_series(path), overrides), windows)


def grid_metrics(
    paths: Sequence[Path],
    windows: dict[str, list[Window]],
    grid: Sequence[dict[str, float]] = TUNING_GRID,
    detector: Detect = detect_fires,
    workers: int = MAX_WORKERS,
) -> list[list[Metrics]]:
    """``matrix[point][series]``: every grid point scored on every series (at most ``MAX_WORKERS``
    processes; ``detector`` must be a module-level function when ``workers > 1``)."""
    tasks = [(p, dict(g), windows.get(p.name, []), detector) for g in grid for p in paths]
    workers = max(1, min(workers, MAX_WORKERS))
    if workers == 1:
        flat = [_score_one(t) for t in tasks]
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            flat = list(pool.map(_score_one, tasks, chunksize=1))
    n = len(paths)
    return [flat[g * n : (g + 1) * n] for g in range(len(grid))]


@dataclass
class Evaluation:
    series_dir: str
    names: list[str]
    categories: list[str]
    grid: list[dict[str, float]]
    matrix: list[list[Metrics]]
    results: list[ProtocolResult]
    anchors: dict[str, dict[str, Anchor]]


def evaluate_protocols(
    series_dir: Path,
    protocols: Sequence[str] = PROTOCOLS,
    grid: Sequence[dict[str, float]] = TUNING_GRID,
    detector: Detect = detect_fires,
    workers: int = MAX_WORKERS,
    samples: int = BOOTSTRAP_SAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> Evaluation:
    """Score the grid once on every labelled series, then run each protocol's folds on that matrix."""
    windows = load_windows(series_dir)
    if windows is None:
        raise ValueError(f"no {WINDOWS_FILE} in {series_dir}: nothing to score")
    manifest = load_manifest(series_dir)
    paths = sorted(series_dir.glob("*.csv"))
    if manifest is not None:
        missing = [p.name for p in paths if p.name not in manifest]
        if missing:
            raise ValueError(f"{MANIFEST_FILE} has no category for {', '.join(missing)}")
    categories = [manifest[p.name] if manifest is not None else ALL for p in paths]
    matrix = grid_metrics(paths, windows, grid, detector, workers)
    results = [run_protocol(p, categories, matrix, samples, seed) for p in protocols]
    readme = series_dir / README_FILE
    anchors = parse_anchors(readme.read_text()) if readme.exists() else {}
    return Evaluation(
        str(series_dir),
        [p.name for p in paths],
        categories,
        [dict(g) for g in grid],
        matrix,
        results,
        anchors,
    )


def _metrics_json(m: Metrics) -> dict[str, float | int]:
    return {**asdict(m), "precision": m.precision, "recall": m.recall, "f1": m.f1}


def evaluation_json(ev: Evaluation) -> dict[str, object]:
    return {
        "series_dir": ev.series_dir,
        "grid": ev.grid,
        "bootstrap": {"samples": BOOTSTRAP_SAMPLES, "seed": BOOTSTRAP_SEED, "level": 0.95},
        "protocols": {
            r.protocol: {
                "folds": [
                    {
                        "held_out": f.held_out,
                        "point": f.point,
                        "params": ev.grid[f.point],
                        "train_f1": f.train_f1,
                        "train_series": len(f.train),
                        "test_series": len(f.test),
                    }
                    for f in r.folds
                ],
                "rows": {
                    row.label: {
                        **_metrics_json(row.metrics),
                        "series": row.series,
                        "ci95": list(row.interval),
                    }
                    for row in r.rows
                },
                "series": {
                    ev.names[i]: {"category": ev.categories[i], "point": point, **_metrics_json(m)}
                    for i, (point, m) in sorted(r.scored.items())
                },
            }
            for r in ev.results
        },
        "anchors": {
            name: {label: {**_metrics_json(a.metrics), "published_f1": a.f1} for label, a in rows.items()}
            for name, rows in ev.anchors.items()
        },
    }


def _counts(m: Metrics) -> str:
    return f"{m.caught}/{m.windows}, {m.false_alarms}"


def evaluation_markdown(ev: Evaluation) -> str:
    shown = [a for a in SHOWN_ANCHORS if a in ev.anchors] or sorted(ev.anchors)[:2]
    out = [
        "# Spike detector evaluation",
        "",
        f"Series: `{ev.series_dir}` ({len(ev.names)} series). F1 (windows caught/total, false alarms), "
        f"bootstrap 95 % interval over series ({BOOTSTRAP_SAMPLES} resamples, seed {BOOTSTRAP_SEED}). "
        "Grid points chosen by pooled F1 inside the training folds only.",
        "",
        "Tuning grid (`TUNING_GRID` in `services/alerts/spike.py`):",
        "",
    ]
    out += [f"{g}. `{json.dumps(p, sort_keys=True)}`" for g, p in enumerate(ev.grid)]
    for r in ev.results:
        out += [
            "",
            f"## {r.protocol}",
            "",
            "| row | series | ours F1 | 95 % interval | " + " | ".join(shown) + " |",
        ]
        out.append("|---|---|---|---|" + "---|" * len(shown))
        for row in r.rows:
            cells = []
            for a in shown:
                anchor = ev.anchors[a].get(row.label)
                cells.append(f"{anchor.f1:.2f} ({_counts(anchor.metrics)})" if anchor else "-")
            out.append(
                f"| {row.label} | {row.series} | {row.metrics.f1:.3f} ({_counts(row.metrics)}) | "
                f"[{row.interval[0]:.2f}, {row.interval[1]:.2f}] | " + " | ".join(cells) + " |"
            )
        out += [
            "",
            "Folds: "
            + "; ".join(f"{f.held_out}: point {f.point} (training F1 {f.train_f1:.3f})" for f in r.folds),
        ]
    return "\n".join(out) + "\n"


def protocol_table(ev: Evaluation, result: ProtocolResult) -> Table:
    shown = [a for a in SHOWN_ANCHORS if a in ev.anchors]
    table = Table(title=f"Protocol {result.protocol}: F1 of the held-out series, 95 % bootstrap interval")
    for name in ("row", "series", "windows", "caught", "false alarms", "F1", "95 % interval", *shown):
        table.add_column(name, justify="left" if name == "row" else "right", no_wrap=True)
    for row in result.rows:
        m = row.metrics
        anchors = []
        for a in shown:
            anchor = ev.anchors[a].get(row.label)
            anchors.append(f"{anchor.f1:.2f}" if anchor else "-")
        table.add_row(
            row.label,
            str(row.series),
            str(m.windows),
            str(m.caught),
            str(m.false_alarms),
            f"{m.f1:.3f}",
            f"[{row.interval[0]:.2f}, {row.interval[1]:.2f}]",
            *anchors,
        )
    return table


def eval_alerts_command(
    series_dir: Annotated[
        Path, typer.Option("--series-dir", help="Directory of timestamp,value CSVs (+ anomaly_windows.json).")
    ],
    out: Annotated[Path, typer.Option("--out", help="Directory for the per-series alert CSVs.")],
    protocol: Annotated[
        list[str] | None,
        typer.Option(
            "--protocol", help="insample, loco, without-tweets or all (repeatable; default insample)."
        ),
    ] = None,
    results: Annotated[
        Path | None,
        typer.Option("--results", help="Write the protocols' results to RESULTS.json and RESULTS.md."),
    ] = None,
    workers: Annotated[int, typer.Option("--workers", help="Processes scoring the grid (at most 2).")] = 2,
) -> None:
    """Replay labelled series through the spike detector; print precision/recall/F1 under a protocol."""
    if not series_dir.is_dir():
        raise typer.BadParameter(f"{series_dir} is not a directory", param_hint="--series-dir")
    chosen = list(PROTOCOLS) if "all" in (protocol or []) else list(dict.fromkeys(protocol or ["insample"]))
    for p in chosen:
        if p not in PROTOCOLS:
            raise typer.BadParameter(f"unknown protocol {p!r}", param_hint="--protocol")
    console = Console()
    if not console.is_terminal:  # piped or captured: do not squeeze the table into 80 columns
        console = Console(width=140)
    if load_windows(series_dir) is None:
        report = evaluate_dir(series_dir, out)
        console.print(report_table(report))
        console.print(f"no {WINDOWS_FILE} in {series_dir}: alerts written to {out}, nothing to score")
        return
    try:
        ev = evaluate_protocols(series_dir, chosen, workers=workers)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--protocol") from exc
    # The per-series alerts and table of the grid point chosen on all series (the in-sample choice).
    every = list(range(len(ev.names)))
    point = select(ev.matrix, every)
    config = config_for(ev.grid[point])
    report = evaluate_dir(series_dir, out, config)
    console.print(report_table(report))
    overall = report.overall
    assert overall is not None
    console.print(f"grid point {point} {ev.grid[point]}: overall F1 = {overall.f1:.3f}")
    for r in ev.results:
        console.print(protocol_table(ev, r))
        console.print(
            "folds: "
            + "; ".join(f"{f.held_out} -> point {f.point} (training F1 {f.train_f1:.3f})" for f in r.folds)
        )
    if results is not None:
        results.parent.mkdir(parents=True, exist_ok=True)
        results.with_suffix(".json").write_text(json.dumps(evaluation_json(ev), indent=1) + "\n")
        results.with_suffix(".md").write_text(evaluation_markdown(ev))
        console.print(f"results written to {results.with_suffix('.json')} and {results.with_suffix('.md')}")
