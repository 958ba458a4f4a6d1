"""The loader worker process (``engage loader worker``): the consumer, its HTTP endpoints, its signals.

One asyncio process, no faust: the :class:`~services.loader.consumer.Loader` polls and inserts; an
aiohttp server answers ``/healthz``, ``/readyz`` (partitions assigned and inserts not failing),
``/metrics`` and ``/query`` (on a port of its own with ``loader_query_port``); every
``LAG_INTERVAL_SECONDS`` the group's lag on each assigned partition goes to ``engage_consumer_lag``.
SIGTERM or SIGINT loads and commits what was polled, then leaves the group; SIGUSR1 writes where every
asyncio task waits to stderr, as the faust workers do.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys

from aiohttp import web

from services.common import metrics
from services.common.clickhouse import Database, QueryLimits, QuerySession
from services.common.settings import LoaderSettings
from services.loader.consumer import Loader
from services.loader.query_api import parse_tokens, query_handler
from services.loader.tables import TARGETS
from services.runtime.taskdump import format_tasks

log = logging.getLogger(__name__)

LAG_INTERVAL_SECONDS = 10.0


def web_app(loader: Loader, db: Database, with_query: bool) -> web.Application:
    """The loader's HTTP endpoints (``with_query``: also ``POST /query``)."""

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(request: web.Request) -> web.Response:
        problem = loader.problem()
        if problem is not None:
            return web.json_response({"ready": False, "problem": problem}, status=503)
        ready = loader.ready()
        return web.json_response({"ready": ready}, status=200 if ready else 503)

    async def prometheus(request: web.Request) -> web.Response:
        body, content_type = metrics.render()
        return web.Response(body=body, headers={"Content-Type": content_type})

    http = web.Application(client_max_size=1024 * 1024)
    http.router.add_get("/healthz", healthz)
    http.router.add_get("/readyz", readyz)
    http.router.add_get("/metrics", prometheus)
    if with_query:
        _add_query(http, loader.settings, db)
    return http


def _add_query(http: web.Application, settings: LoaderSettings, db: Database) -> None:
    # Analysts' queries on a read-only session of their own: a refused write cannot touch the loader's.
    # The session is a second handle on the engine; it closes with the app, so the engine can close too.
    session: QuerySession = db.query_session(QueryLimits.of(settings))

    async def close_session(_: web.Application) -> None:
        session.close()

    http.router.add_post("/query", query_handler(session, parse_tokens(settings.query_tokens)))
    http.on_cleanup.append(close_session)


def query_app(settings: LoaderSettings, db: Database) -> web.Application:
    """``POST /query`` alone, for a port of its own (a NetworkPolicy can then admit analysts only)."""
    http = web.Application(client_max_size=1024 * 1024)
    _add_query(http, settings, db)
    return http


async def report_lag(loader: Loader, interval: float = LAG_INTERVAL_SECONDS) -> None:
    """Set ``engage_consumer_lag`` for the assigned partitions; drop the series of those that moved."""
    reported: set[tuple[str, str, str]] = set()
    while True:
        await asyncio.sleep(interval)
        try:
            current = await loader.partition_lag()
        except Exception as exc:  # rebalancing, broker briefly unreachable
            log.debug("consumer lag not measured: %s", exc)
            continue
        reported = metrics.publish_lag(current, reported)


def export_zero_counters() -> None:
    """Failure counters at 0 from the start, so that their first increment shows in rate()/increase()."""
    metrics.events_received("loader")
    for target in TARGETS.values():
        metrics.LOADER_FAILURES.labels(target.table)
    metrics.DLQ.labels("loader", "clickhouse_insert_failed")
    metrics.DLQ.labels("loader", "clickhouse_row_rejected")


async def serve(settings: LoaderSettings, db: Database) -> None:
    """Run the loader until SIGTERM/SIGINT (or until it fails), then drain it."""
    export_zero_counters()
    loader = Loader(settings, db)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    loop.add_signal_handler(signal.SIGUSR1, lambda: print(format_tasks(), file=sys.stderr, flush=True))
    runners: list[web.AppRunner] = []

    async def listen(http: web.Application, host: str, port: int) -> None:
        runner = web.AppRunner(http, access_log=None)
        await runner.setup()
        runners.append(runner)
        await web.TCPSite(runner, host, port).start()

    await loader.start()
    tasks: list[asyncio.Task[None]] = []
    try:
        separate = bool(settings.loader_query_port)
        endpoints = web_app(loader, db, with_query=not separate)
        await listen(endpoints, settings.loader_web_host, settings.loader_web_port)
        if separate:
            await listen(query_app(settings, db), settings.loader_query_host, settings.loader_query_port)
        log.info("loader %s consuming %s", loader.group, ", ".join(loader.targets))
        run = asyncio.create_task(loader.run(), name="loader")
        tasks = [run, asyncio.create_task(report_lag(loader), name="consumer-lag")]
        stop = asyncio.create_task(stopping.wait(), name="stop")
        await asyncio.wait([run, stop], return_when=asyncio.FIRST_COMPLETED)
        stop.cancel()
        loader.request_stop()
        await run  # a loader that failed raises here
    finally:
        for task in tasks:
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await loader.stop()
        for runner in runners:
            await runner.cleanup()
