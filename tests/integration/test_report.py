"""``engage report`` on a simulated day in chDB, rendered by headless Chromium (Debian ``chromium``).

The report is made through the CLI twice: once with nobody owning the chDB path (the command opens it
read-only itself) and once while this process owns it and serves read-only queries over HTTP the way
the enrich worker's loader does, so rows arrive as JSON. Both must give the same data and charts.
Chromium must be installed in CI (``.ci/run`` installs it); elsewhere the rendering test skips.
"""

from __future__ import annotations

import base64
import io
import os
import re
import shutil
import subprocess
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from html import unescape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
import typer
from PIL import Image
from typer.testing import CliRunner

from services.analytics.charts import CHART_NAMES, COMPLAINT_FILL, OKABE_ITO, PLATFORM_COLOURS
from services.analytics.cli_report import register
from services.analytics.report import _CSS
from services.analytics.report_data import collect, report_window
from services.common.clickhouse import Database, connect
from services.common.migrations import migrate
from services.common.query import run_query
from services.sim.simulator import Simulation
from services.summary import brand_lines, summarize_brands, write_reports
from tests.integration.analytics_data import alert_rows, simulated_day
from tests.populate import insert_rows, load

pytestmark = pytest.mark.integration

CHARTS = CHART_NAMES  # in page order; every one has data for the crisis brand's day
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# Set to keep the screenshots (e.g. to look at them); by default they stay in pytest's tmp_path.
SCREENSHOT_DIR = os.environ.get("ENGAGE_TEST_SCREENSHOTS")


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Simulation]:
    """A migrated chDB holding one simulated day (plus alerts on its crisis); closed, nobody owns it."""
    sim, populated = simulated_day()
    path = tmp_path_factory.mktemp("report_db") / "ch"
    db = connect(f"chdb://{path}")
    try:
        migrate(db)
        load(db, populated)
        insert_rows(db, "alert", alert_rows(sim, populated.events))
    finally:
        db.close()
    return f"chdb://{path}", sim


def _brand(sim: Simulation) -> str:
    return sim.ground_truth.crises[0].brand_id  # the brand with an alert, so every chart has data


def _quiet_brand(sim: Simulation) -> str:
    """A brand without any alert (alert_rows gives the crisis brand one and one other brand one)."""
    alerted = {a["brand_id"] for a in alert_rows(sim, [])}
    return next(b for b in sorted({e["brand_id"] for e in sim.events}) if b not in alerted)


def _report(dsn: str, brand: str, out: Path, *extra: str, env: dict[str, str] | None = None) -> str:
    app = typer.Typer()
    register(app)
    result = CliRunner().invoke(
        app,
        ["report", "--brand", brand, "--since", "24h", "--out", str(out), *extra],
        env={"ENGAGE_CLICKHOUSE_DSN": dsn, "ENGAGE_TIMEZONE": "", **(env or {})},
    )
    assert result.exit_code == 0, result.output
    return result.output


def _colours(png: bytes) -> int:
    with Image.open(io.BytesIO(png)) as img:
        rgb = img.convert("RGB")
        return len(set(rgb.getdata()))


def _embedded_pngs(html: str) -> list[bytes]:
    return [
        base64.b64decode(m) for m in re.findall(r"<img src='data:image/png;base64,([A-Za-z0-9+/=]+)'", html)
    ]


@pytest.fixture(scope="module")
def report_dir(day: tuple[str, Simulation], tmp_path_factory: pytest.TempPathFactory) -> Path:
    dsn, sim = day
    out = tmp_path_factory.mktemp("report")
    output = _report(dsn, _brand(sim), out)
    # the simulated day in the brand's zone (Asia/Seoul, from the brands file), not today
    assert "2026-11-01 09:00 – 2026-11-02 09:00 KST (Asia/Seoul)" in output
    return out


def test_report_writes_html_with_embedded_charts_and_pngs(report_dir: Path) -> None:
    html = (report_dir / "report.html").read_text(encoding="utf-8")
    assert "2026-11-01 09:00 – 2026-11-02 09:00 KST" in html
    assert "<h1>Nordpeak (노르피크)</h1>" in html  # the display name from the brands file
    embedded = _embedded_pngs(html)
    assert len(embedded) == len(CHARTS)
    for name, png in zip(CHARTS, embedded, strict=True):
        on_disk = (report_dir / f"{name}.png").read_bytes()
        assert png == on_disk, name
        assert png.startswith(b"\x89PNG\r\n\x1a\n"), name
        with Image.open(io.BytesIO(png)) as img:
            assert img.width >= 800 and img.height >= 300, name
        assert _colours(png) > 30, f"{name}.png looks empty"
    assert "Nothing in this window" not in html
    assert "1 alert(s) in the window" in html
    summary = re.search(r"<div class='summary'>(.*?)</div>", html, re.S)
    assert summary, "the written summary comes before the charts"
    assert html.index("<div class='summary'>") < html.index("<img")
    text = unescape(summary.group(1))
    assert "Biggest risk: a surge of negative messages (critical) from Nov 01, 13:12 KST" in text
    assert "Best post:" in text and "Followers:" in text
    assert "there is no data for the 24 hours before to compare with" in text  # the day is all there is
    assert 'src="http' not in html and "src='http" not in html  # self-contained


def test_rising_topics_name_the_crisis_in_both_languages(report_dir: Path) -> None:
    html = unescape((report_dir / "report.html").read_text(encoding="utf-8"))
    section = html[html.index("<section id='topics'>") : html.index("<section id='sentiment'>")]
    words = re.findall(r"<tr><td>([^<]+)</td><td>(Korean|English)</td>", section)
    assert ("mislabeled", "English") in words  # the injected crisis is about mislabelling
    assert {"Korean", "English"} <= {lang for _, lang in words}
    assert not any(w == "nordpeak" for w, _ in words)  # the brand's own name is no topic


def test_utc_when_the_timezone_setting_says_so(day: tuple[str, Simulation], tmp_path: Path) -> None:
    dsn, sim = day
    output = _report(dsn, _brand(sim), tmp_path, env={"ENGAGE_TIMEZONE": "UTC"})
    assert "2026-11-01 00:00 – 2026-11-02 00:00 UTC (UTC)" in output
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "from Nov 01, 04:12 UTC" in html  # the crisis, in UTC


def test_a_window_outside_the_data_is_a_report_that_says_so(
    day: tuple[str, Simulation], tmp_path: Path
) -> None:
    dsn, sim = day
    output = _report(dsn, _quiet_brand(sim), tmp_path, "--since", "7d", "--until", "2026-10-01")
    assert "0 charts; nothing at all in this window" in output
    html = unescape((tmp_path / "report.html").read_text(encoding="utf-8"))
    assert html.count("<p class='empty'>Nothing in this window") == 10
    assert re.search(r"data runs from Nov 01, 09:00 KST to Nov 02, 08:\d\d KST", html)


def _screenshot(html_file: Path, shot: Path, height: int) -> np.ndarray:
    subprocess.run(
        [
            str(CHROMIUM),
            "--headless",
            "--no-sandbox",  # CI runs as root
            "--disable-gpu",
            "--hide-scrollbars",
            f"--window-size=1100,{height}",
            f"--screenshot={shot}",
            html_file.as_uri(),
        ],
        check=True,
        timeout=120,
        capture_output=True,
    )
    if SCREENSHOT_DIR:
        Path(SCREENSHOT_DIR).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(SCREENSHOT_DIR) / shot.name)
    with Image.open(shot) as img:
        return np.asarray(img.convert("RGB"), dtype=np.int16)


def _rows_with(pixels: np.ndarray, colour: str) -> np.ndarray:
    target = np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)], dtype=np.int16)
    return np.nonzero((np.abs(pixels - target) <= 6).all(axis=2))[0]


def _distinct_colours(pixels: np.ndarray) -> int:
    packed = (pixels[..., 0].astype(np.int32) << 16) | (pixels[..., 1] << 8) | pixels[..., 2]
    return len(np.unique(packed))


needs_chromium = pytest.mark.skipif(
    not CHROMIUM and not os.environ.get("CI"), reason="chromium not installed (CI installs it)"
)


@needs_chromium
def test_report_renders_in_headless_chromium(report_dir: Path, tmp_path: Path) -> None:
    assert CHROMIUM, "CI must have chromium (.ci/run installs the Debian package)"
    pixels = _screenshot(report_dir / "report.html", tmp_path / "report_crisis_brand.png", 9000)
    height = pixels.shape[0]
    assert _distinct_colours(pixels) > 200, "the screenshot is (nearly) blank"
    # Colours that only the charts contain prove the images were decoded and painted, top to bottom.
    for colour in (PLATFORM_COLOURS["instagram"], OKABE_ITO["sky_blue"], COMPLAINT_FILL):
        rows = _rows_with(pixels, colour)
        assert len(rows) > 500, f"chart colour {colour} is missing from the rendered page"
    assert _rows_with(pixels, OKABE_ITO["bluish_green"]).max() > height / 2  # the last charts were painted


@needs_chromium
def test_a_brand_without_alerts_over_a_backfilled_window_renders(
    day: tuple[str, Simulation], tmp_path: Path
) -> None:
    """Six hours in the middle of the (backfilled) day, chosen with --until; no alert for this brand."""
    dsn, sim = day
    brand = _quiet_brand(sim)
    out = tmp_path / "report"
    output = _report(dsn, brand, out, "--since", "6h", "--until", "2026-11-01T18:00")
    assert "2026-11-01 12:00 – 2026-11-01 18:00 KST" in output
    html = unescape((out / "report.html").read_text(encoding="utf-8"))
    assert "No alert fired in this window." in html and "Biggest risk: a surge" not in html
    assert "▲" in html or "▼" in html  # the previous six hours are in the data: deltas on the tiles
    assert "comparisons are with a partial period" in html  # ... but only from 09:00 KST on
    pixels = _screenshot(out / "report.html", tmp_path / "report_quiet_brand_backfilled.png", 9000)
    assert _distinct_colours(pixels) > 200
    for colour in (COMPLAINT_FILL, OKABE_ITO["orange"], OKABE_ITO["bluish_green"]):
        assert len(_rows_with(pixels, colour)) > 300, colour


def _glyphs(pixels: np.ndarray) -> list[bytes]:
    """The ink of each glyph-like run of columns (split at blank columns), cropped to its bounding box."""
    ink = (pixels.max(axis=2) < 128).astype(np.uint8)
    columns = ink.any(axis=0)
    out, start = [], None
    for x, on in enumerate([*columns, False]):
        if on and start is None:
            start = x
        elif not on and start is not None:
            cell = ink[:, start:x]
            ys = np.nonzero(cell.any(axis=1))[0]
            out.append(cell[ys.min() : ys.max() + 1].tobytes() + f"{x - start}".encode())
            start = None
    return out


@needs_chromium
def test_korean_renders_with_the_reports_fonts_not_as_tofu(tmp_path: Path) -> None:
    """With the report's font stack, four Hangul syllables are four different shapes; characters no font
    has (the control) all come out as the same box, which the check recognises."""

    def render(text: str, name: str) -> list[bytes]:
        page = tmp_path / f"{name}.html"
        page.write_text(
            f"<!DOCTYPE html><html><head><meta charset='utf-8'><style>{_CSS}</style></head>"
            f"<body style='margin:0;padding:20px'><div style='font-size:96px;letter-spacing:24px'>{text}"
            "</div></body></html>",
            encoding="utf-8",
        )
        return _glyphs(_screenshot(page, tmp_path / f"{name}.png", 200))

    korean = render("노르피크", "korean")
    assert len(korean) >= 4 and len(set(korean)) >= 4, "Hangul renders as identical boxes (tofu)"
    tofu = render("\U000f0000\U000f0001\U000f0002\U000f0003", "tofu")
    assert len(set(tofu)) <= 1, "the control should be tofu: the check would not notice missing glyphs"


def test_run_summary_per_brand(day: tuple[str, Simulation], tmp_path: Path) -> None:
    dsn, sim = day
    db = connect(dsn)
    try:

        def direct(sql: str, params: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
            columns, rows = db.query_rows(sql, params, {"readonly": 1})
            return columns, [list(r) for r in rows]

        summaries = {s.brand.brand_id: s for s in summarize_brands(dsn, run=direct)}
        paths = write_reports(dsn, tmp_path, brand_list=[_quiet_brand(sim)], run=direct)
    finally:
        db.close()
    assert sorted(summaries) == sorted({e["brand_id"] for e in sim.events})
    truth = sim.ground_truth
    for brand, s in summaries.items():
        lines = brand_lines(s)
        customers = sum(1 for c in truth.conversions if c.brand_id == brand)
        assert any(line.startswith(f"Conversions: {customers:,} new customers") for line in lines), lines
        assert lines[1].startswith("Sentiment of the audience's messages: ")
        assert "Korean" in lines[1] and "English" in lines[1] and "% negative" in lines[1]
        assert any(line.startswith("Complaints: ") and "answered within 1 h" in line for line in lines)
        assert any(line.startswith("Top post: ") for line in lines)
        assert any(line.startswith("Largest cascade: ") for line in lines)
        assert any(line.startswith("Fan loss: ") for line in lines)
    crisis = brand_lines(summaries[_brand(sim)])
    assert any(
        line.startswith("Alert: surge of negative messages (critical) from Nov 01 13:12 KST — e.g. “")
        for line in crisis
    ), crisis
    assert "Alerts: none fired." in brand_lines(summaries[_quiet_brand(sim)])
    assert list(paths) == [_quiet_brand(sim)] and paths[_quiet_brand(sim)].read_text(encoding="utf-8")


class _OwnerQueries(BaseHTTPRequestHandler):
    """The loader's /query contract (``services.enrich.app``): JSON in, read-only, orjson ``default=str``."""

    db: Database

    def do_POST(self) -> None:
        body = orjson.loads(self.rfile.read(int(self.headers["Content-Length"])))
        try:
            columns, rows = self.db.query_rows(body["sql"], body.get("parameters"), {"readonly": 1})
            status, payload = 200, {"columns": columns, "rows": rows}
        except Exception as exc:
            status, payload = 422, {"error": str(exc)}
        data = orjson.dumps(payload, default=str, option=orjson.OPT_NON_STR_KEYS)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def owned(day: tuple[str, Simulation]) -> Iterator[Database]:
    """This process owns the chDB path and advertises a read-only query endpoint, like the loader."""
    dsn, _ = day
    db = connect(dsn)
    handler = type("Handler", (_OwnerQueries,), {"db": db})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    db.advertise(f"http://127.0.0.1:{server.server_address[1]}/query")
    try:
        yield db
    finally:
        server.shutdown()
        db.close()


def test_report_while_the_loader_owns_chdb(
    day: tuple[str, Simulation], owned: Database, tmp_path: Path
) -> None:
    dsn, sim = day
    brand = _brand(sim)
    _report(dsn, brand, tmp_path)  # the CLI finds the owner and goes through its endpoint
    for name in CHARTS:
        assert (tmp_path / f"{name}.png").stat().st_size > 10_000, name

    def direct(sql: str, params: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
        columns, rows = owned.query_rows(sql, params, {"readonly": 1})
        return columns, [list(r) for r in rows]

    def routed(sql: str, params: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
        return run_query(dsn, sql, params)

    window = report_window(direct, brand, timedelta(hours=24))
    assert report_window(routed, brand, timedelta(hours=24)) == window
    via_owner = collect(routed, brand, window).results
    local = collect(direct, brand, window).results
    # Same rows; only the types differ (JSON strings for timestamps), which the report normalises.
    assert orjson.loads(orjson.dumps(local, default=str, option=orjson.OPT_NON_STR_KEYS)) == via_owner
    assert sum(int(r["engagements"]) for r in via_owner["Q1"]) > 1000


@pytest.mark.parametrize("fmt", ["json", "csv", "table"])
def test_engage_query_while_the_path_is_owned(day: tuple[str, Simulation], owned: Database, fmt: str) -> None:
    """``engage query`` in embedded mode goes through the owner, read-only, in every output format."""
    from services.cli import app

    dsn, sim = day
    sql = "SELECT brand_id, count() AS n FROM events FINAL GROUP BY brand_id ORDER BY brand_id"
    result = CliRunner().invoke(app, ["query", sql, "--format", fmt], env={"ENGAGE_CLICKHOUSE_DSN": dsn})
    assert result.exit_code == 0, result.output
    expected = sorted(Counter(e["brand_id"] for e in sim.events).items())
    if fmt == "json":
        assert [(r["brand_id"], r["n"]) for r in orjson.loads(result.stdout)] == expected
    elif fmt == "csv":
        assert result.stdout.splitlines() == ["brand_id,n", *(f"{b},{n}" for b, n in expected)]
    else:
        for brand, n in expected:
            assert re.search(rf"{brand}\s*│\s*{n}", result.stdout), result.stdout
    nobody = "SELECT brand_id, count() AS n FROM events WHERE brand_id = 'nobody' GROUP BY brand_id"
    empty = CliRunner().invoke(app, ["query", nobody, "--format", fmt], env={"ENGAGE_CLICKHOUSE_DSN": dsn})
    assert empty.exit_code == 0, empty.output
    if fmt == "json":  # an empty array; the columns are named on stderr
        assert orjson.loads(empty.stdout) == [] and "0 rows; columns: brand_id, n" in empty.stderr
    elif fmt == "csv":
        assert empty.stdout.splitlines() == ["brand_id,n"]
    else:
        assert re.search(r"brand_id\s*┃\s*n", empty.stdout) and "0 rows" in empty.stdout, empty.stdout
    refused = CliRunner().invoke(app, ["query", "DROP TABLE events"], env={"ENGAGE_CLICKHOUSE_DSN": dsn})
    assert refused.exit_code != 0
    assert owned.query_rows("SELECT count() FROM events")[1][0][0] >= len(sim.events)
