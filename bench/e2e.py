"""End to end on the real services: simulator → ingest API → enrich worker → ClickHouse.

``e2e``: the simulator's events are POSTed to `engage ingest serve` in batches of 500 by concurrent
clients while `engage enrich worker` enriches and loads them; events/s from the first measured POST
until the last row is visible in ClickHouse (polled through the worker's /query endpoint).

``latency``: events are produced through the ingest producer at a fixed rate with ``occurred_at`` set
to the moment they are sent; a poller asks ClickHouse (``now64()`` at query time) which rows became
visible, so each event's latency is the time its row was first seen minus its ``occurred_at``.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench.common import loader_settings, pipeline_settings
from bench.enrich_worker import Stalled, enrich_worker, query, query_headers
from bench.ingest_http import TOKEN, server
from services.common.kafka import ensure_topics
from services.common.settings import EnrichSettings
from services.ingest.producer import EventProducer, candidates_from_objects
from services.local.kafka import free_port

# A rate is sustained when every row is visible this soon after the last send (no backlog built up).
SUSTAINED_DRAIN_S = 5.0
GIVE_UP_S = 10.0  # an event unseen this long: the rate is not sustained, stop the run
STALL_S = 60.0


def _wait_rows(settings: EnrichSettings, count: int, timeout: float = 300, stall_s: float = 60) -> float:
    deadline = time.monotonic() + timeout
    last, moved = -1, time.monotonic()
    while time.monotonic() < deadline:
        [[rows]] = query(settings, "SELECT uniqExact(event_id) FROM events")
        if int(rows) >= count:
            return time.monotonic()
        if int(rows) != last:
            last, moved = int(rows), time.monotonic()
        elif time.monotonic() - moved > stall_s:
            raise Stalled(f"no new rows for {stall_s:.0f}s ({rows} of {count} visible)")
        time.sleep(0.2)
    raise RuntimeError(f"{count} rows not visible in {timeout}s")


async def _post_all(url: str, events: list[dict[str, Any]], clients: int, batch: int) -> int:
    bodies = [orjson.dumps(events[i : i + batch]) for i in range(0, len(events), batch)]
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    accepted = 0
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}

    async def client() -> None:
        nonlocal accepted
        async with httpx.AsyncClient(base_url=url, timeout=120) as http:
            while not queue.empty():
                body = queue.get_nowait()
                resp = await http.post("/v1/events", content=body, headers=headers)
                if resp.status_code != 202:
                    raise RuntimeError(f"unexpected {resp.status_code}: {resp.text[:300]}")
                accepted += resp.json()["accepted"]

    await asyncio.gather(*(client() for _ in range(clients)))
    return accepted


def run_e2e(
    bootstrap: str, events: list[dict[str, Any]], tmp: Path, warmup: int = 1000, clients: int = 2
) -> dict[str, float]:
    """Sustained simulator → ingest → enrich → ClickHouse events/s (after ``warmup`` events)."""
    ingest, enrich = pipeline_settings(bootstrap, tmp, "bench-e2e")
    asyncio.run(ensure_topics(enrich))
    warm, measured = events[:warmup], events[warmup:]
    with enrich_worker(enrich, tmp / "enrich.log"), server(ingest, free_port()) as url:
        warm_accepted = asyncio.run(_post_all(url, warm, 1, 500)) if warm else 0
        _wait_rows(enrich, warm_accepted)
        started = time.monotonic()
        accepted = asyncio.run(_post_all(url, measured, clients, 500))
        sent = time.monotonic()
        visible = _wait_rows(enrich, warm_accepted + accepted)
    return {
        "events": accepted,
        "ingest_s": round(sent - started, 2),
        "seconds": round(visible - started, 2),
        "eps": round(accepted / (visible - started)),
    }


async def _latency_run(
    enrich: EnrichSettings, producer: EventProducer, pool: list[dict[str, Any]], rate: float, seconds: float
) -> dict[str, Any]:
    """Send at ``rate`` for ``seconds`` while polling which rows became visible.

    Gives up early (``behind``) once an event stays unseen for ``GIVE_UP_S``: the pipeline is not
    keeping up, and waiting for the backlog to drain would only measure the backlog.
    """
    sent: dict[str, float] = {}
    seen: dict[str, float] = {}
    tick = 0.1
    per_tick = max(1, round(rate * tick))
    url = loader_settings(enrich).query_url()
    sending, behind = True, False

    async def poll() -> None:
        nonlocal behind
        last, moved = -1, time.monotonic()
        async with httpx.AsyncClient(timeout=60) as http:
            while sending or len(seen) < len(sent):
                if len(seen) != last:
                    last, moved = len(seen), time.monotonic()
                elif time.monotonic() - moved > STALL_S:
                    raise Stalled(f"no new rows for {STALL_S:.0f}s ({len(seen)} of {len(sent)} visible)")
                pending = [ms for eid, ms in sent.items() if eid not in seen]
                if pending:
                    low = int(min(pending))
                    if time.time() * 1000 - low > GIVE_UP_S * 1000:
                        behind = True
                        return
                    sql = (
                        "SELECT event_id, toUnixTimestamp64Milli(now64(3)) FROM events "
                        f"WHERE occurred_at >= fromUnixTimestamp64Milli({low})"
                    )
                    resp = await http.post(url, json={"sql": sql}, headers=query_headers(enrich))
                    resp.raise_for_status()
                    for event_id, now_ms in resp.json()["rows"]:
                        if event_id in sent and event_id not in seen:
                            seen[event_id] = float(now_ms)
                await asyncio.sleep(0.2)

    poller = asyncio.create_task(poll())
    began = time.monotonic()
    i = 0
    while time.monotonic() - began < seconds and i < len(pool) and not behind:
        ahead = i / rate - (time.monotonic() - began)
        if ahead > 0:
            await asyncio.sleep(ahead)
        now = datetime.now(UTC)
        batch = [dict(e, occurred_at=now.isoformat()) for e in pool[i : i + per_tick]]
        now_ms = now.timestamp() * 1000
        for e in batch:
            sent[e["event_id"]] = now_ms
        await producer.publish(candidates_from_objects(batch))
        i += len(batch)
    stopped = time.monotonic()
    sending = False
    await poller
    return {
        "sent": sent,
        "seen": seen,
        "send_s": stopped - began,
        "drain_s": time.monotonic() - stopped,
        "behind": behind,
        "ended_ms": time.time() * 1000,
    }


def run_latency(
    bootstrap: str, pool: list[dict[str, Any]], tmp: Path, rate: float, seconds: float, warmup_s: float = 3.0
) -> dict[str, Any]:
    """Latency percentiles from ``occurred_at`` to row visible at a fixed produce rate.

    When the pipeline falls behind, events still unseen count with the time they had waited when
    the run gave up, so the percentiles are lower bounds (``lower_bound``).
    """
    ingest, enrich = pipeline_settings(bootstrap, tmp, "bench-latency")
    asyncio.run(ensure_topics(enrich))

    async def go() -> dict[str, Any]:
        async with EventProducer(ingest, source="simulator") as producer:
            return await _latency_run(enrich, producer, pool, rate, seconds + warmup_s)

    with enrich_worker(enrich, tmp / "enrich.log"):
        run = asyncio.run(go())
    sent, seen = run["sent"], run["seen"]
    first = min(sent.values())
    measured = sorted(
        seen.get(e, run["ended_ms"]) - ms for e, ms in sent.items() if ms >= first + warmup_s * 1000
    ) or sorted(seen.get(e, run["ended_ms"]) - ms for e, ms in sent.items())

    def pct(q: float) -> float:
        return round(measured[min(len(measured) - 1, int(q * len(measured)))] / 1000, 3)

    achieved = len(sent) / run["send_s"]
    return {
        "rate_eps": rate,
        "achieved_send_eps": round(achieved),
        "events": len(sent),
        "measured_events": len(measured),
        "unseen_events": len(sent) - len(seen),
        "visible_eps": round(len(seen) / (run["send_s"] + run["drain_s"])),
        "p50_s": pct(0.50),
        "p95_s": pct(0.95),
        "p99_s": pct(0.99),
        "max_s": round(measured[-1] / 1000, 3),
        "drain_s": round(run["drain_s"], 2),
        "lower_bound": bool(run["behind"]),
        # Kept up: the sender held the rate and no backlog was left when sending stopped.
        "sustained": not run["behind"] and achieved >= 0.95 * rate and run["drain_s"] <= SUSTAINED_DRAIN_S,
    }
