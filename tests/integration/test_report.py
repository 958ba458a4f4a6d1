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
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
import typer
from PIL import Image
from typer.testing import CliRunner

from services.analytics.cli_report import register
from services.analytics.populate import insert_rows, load
from services.analytics.report import PLATFORM_COLOURS, collect, report_window
from services.common.clickhouse import Database, connect
from services.common.migrations import migrate
from services.common.query import run_query
from services.ingest.simulator import Simulation
from tests.integration.analytics_data import alert_rows, simulated_day

pytestmark = pytest.mark.integration

CHARTS = ("engagement", "sentiment", "top_posts", "cascades", "funnel", "response_times", "alerts")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


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


def _report(dsn: str, brand: str, out: Path) -> str:
    app = typer.Typer()
    register(app)
    result = CliRunner().invoke(
        app,
        ["report", "--brand", brand, "--since", "24h", "--out", str(out)],
        env={"ENGAGE_CLICKHOUSE_DSN": dsn},
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
    assert "2026-11-01 00:00 – 2026-11-02 00:00" in output  # the simulated day, not today
    return out


def test_report_writes_html_with_embedded_charts_and_pngs(report_dir: Path) -> None:
    html = (report_dir / "report.html").read_text(encoding="utf-8")
    assert "2026-11-01 00:00 – 2026-11-02 00:00 UTC" in html
    embedded = _embedded_pngs(html)
    assert len(embedded) == len(CHARTS)
    for name, png in zip(CHARTS, embedded, strict=True):
        on_disk = (report_dir / f"{name}.png").read_bytes()
        assert png == on_disk, name
        assert png.startswith(b"\x89PNG\r\n\x1a\n"), name
        with Image.open(io.BytesIO(png)) as img:
            assert img.width >= 800 and img.height >= 300, name
        assert _colours(png) > 30, f"{name}.png looks empty"
    assert "no data in this window" not in html
    assert "1 alert(s) fired in the window" in html
    assert 'src="http' not in html and "src='http" not in html  # self-contained


@pytest.mark.skipif(
    not CHROMIUM and not os.environ.get("CI"), reason="chromium not installed (CI installs it)"
)
def test_report_renders_in_headless_chromium(report_dir: Path, tmp_path: Path) -> None:
    assert CHROMIUM, "CI must have chromium (.ci/run installs the Debian package)"
    shot = tmp_path / "screenshot.png"
    subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",  # CI runs as root
            "--disable-gpu",
            "--hide-scrollbars",
            "--window-size=1100,5600",
            f"--screenshot={shot}",
            (report_dir / "report.html").as_uri(),
        ],
        check=True,
        timeout=120,
        capture_output=True,
    )
    with Image.open(shot) as img:
        pixels = np.asarray(img.convert("RGB"), dtype=np.int16)
    height = pixels.shape[0]
    packed = (pixels[..., 0].astype(np.int32) << 16) | (pixels[..., 1] << 8) | pixels[..., 2]
    assert len(np.unique(packed)) > 200, "the screenshot is (nearly) blank"
    # Colours that only the charts contain prove the images were decoded and painted, top to bottom.
    for colour in (PLATFORM_COLOURS["instagram"], "#4c78a8", "#f2b5b3"):
        target = np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)], dtype=np.int16)
        rows = np.nonzero((np.abs(pixels - target) <= 6).all(axis=2))[0]
        assert len(rows) > 500, f"chart colour {colour} is missing from the rendered page"
        if colour == "#f2b5b3":
            assert rows.max() > height / 2  # the alerts timeline at the bottom was painted too


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
    refused = CliRunner().invoke(app, ["query", "DROP TABLE events"], env={"ENGAGE_CLICKHOUSE_DSN": dsn})
    assert refused.exit_code != 0
    assert owned.query_rows("SELECT count() FROM events")[1][0][0] >= len(sim.events)
