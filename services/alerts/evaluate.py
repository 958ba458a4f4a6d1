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
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from services.alerts.spike import SpikeConfig, SpikeDetector, Transition

WINDOWS_FILE = "anomaly_windows.json"
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


def eval_alerts_command(
    series_dir: Annotated[
        Path, typer.Option("--series-dir", help="Directory of timestamp,value CSVs (+ anomaly_windows.json).")
    ],
    out: Annotated[Path, typer.Option("--out", help="Directory for the per-series alert CSVs.")],
) -> None:
    """Replay labelled series through the spike detector, write the alerts and print precision/recall/F1."""
    if not series_dir.is_dir():
        raise typer.BadParameter(f"{series_dir} is not a directory", param_hint="--series-dir")
    report = evaluate_dir(series_dir, out)
    console = Console()
    if not console.is_terminal:  # piped or captured: do not squeeze the table into 80 columns
        console = Console(width=120)
    console.print(report_table(report))
    overall = report.overall
    if overall is None:
        console.print(f"no {WINDOWS_FILE} in {series_dir}: alerts written to {out}, nothing to score")
    else:
        console.print(f"overall F1 = {overall.f1:.3f}")
