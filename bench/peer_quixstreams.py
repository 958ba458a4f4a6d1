"""The peer: the enrich stage written as a Quix Streams app, doing the same work per event.

It consumes the raw topic, decodes the Avro event, calls the same pure functions as the enrich
worker (``enrich_records`` for language, sentiment and complaints; the ``FeatureEngine`` for
virality, conversion, response time and fan loss, its four tables kept in Quix's RocksDB state with
changelog topics), and produces the enriched event and the feature snapshots to their topics.
Quix Streams processes one message at a time, so each call sees a batch of one: that is how the
library is meant to be used, and part of what is compared. It runs no ClickHouse loader, which the
enrich worker does in the same process, so the comparison favours the peer.

Run by ``bench/run_all.py`` as ``python bench/peer_quixstreams.py`` with the pipeline's ``ENGAGE_*``
settings in the environment; it is timed like the enrich worker, from partition assignment until
its consumer group has committed every raw offset.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator, MutableMapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import stop_process  # noqa: E402
from services.common.settings import EnrichSettings, to_env  # noqa: E402

SNAPSHOT_KINDS = ("posts", "funnels", "brands")


def output_topics(settings: EnrichSettings) -> dict[str, str]:
    """The peer's own output topics (same partitions as the pipeline's), so both runs write alike."""
    base = f"{settings.topic_raw}.quix"
    return {kind: f"{base}.{kind}" for kind in ("enriched", *SNAPSHOT_KINDS)}


class StateMapping(MutableMapping[str, Any]):
    """One feature table as a mapping over the current message's Quix state (keys prefixed by table)."""

    def __init__(self, table: str) -> None:
        self.prefix = f"{table}|"
        self.state: Any = None

    def __getitem__(self, key: str) -> Any:
        value = self.state.get(self.prefix + key)
        if value is None:
            raise KeyError(key)
        return value

    def get(self, key: str, default: Any = None) -> Any:
        return self.state.get(self.prefix + key, default)

    def __setitem__(self, key: str, value: Any) -> None:
        self.state.set(self.prefix + key, value)

    def __delitem__(self, key: str) -> None:
        self.state.delete(self.prefix + key)

    def __iter__(self) -> Iterator[str]:
        raise NotImplementedError("Quix state is not iterable")

    def __len__(self) -> int:
        raise NotImplementedError("Quix state has no length")


def app_main(ready_file: Path, group: str, state_dir: Path) -> None:
    """The Quix Streams application (runs until terminated)."""
    from quixstreams import Application, message_context
    from quixstreams.models.serializers import Serializer

    from services.common.avro import codec
    from services.common.keyed_state import Position
    from services.enrich.features.engine import FeatureEngine, Stores
    from services.enrich.processor import enrich_records

    settings = EnrichSettings()
    raw_codec, enriched_codec = codec("social_event"), codec("enriched_event")
    snapshot_codecs = {
        "posts": codec("post_virality"),
        "funnels": codec("follower_funnel"),
        "brands": codec("brand_backlog"),
    }
    snapshot_keys = {
        "posts": lambda r: f"{r['brand_id']}|{r['post_id']}",
        "funnels": lambda r: f"{r['brand_id']}|{r['actor_id']}",
        "brands": lambda r: r["brand_id"],
    }
    tables = {name: StateMapping(name) for name in ("posts", "funnels", "threads", "brands")}
    engine = FeatureEngine(
        Stores(tables["posts"], tables["funnels"], tables["threads"], tables["brands"]),
        attribution_window_s=settings.fan_loss_window_seconds,
    )

    class Payload(Serializer):
        """Outputs are (topic kind, key, Avro bytes): the topic and key are chosen in ``to_topic``."""

        def __call__(self, value: Any, ctx: Any) -> bytes:
            return bytes(value[2])

    class BenchApplication(Application):
        def _on_assign(self, _: Any, topic_partitions: Any) -> None:
            super()._on_assign(_, topic_partitions)
            if topic_partitions:
                ready_file.write_text(str(len(topic_partitions)))

    app = BenchApplication(
        broker_address=settings.kafka_bootstrap,
        consumer_group=group,
        auto_offset_reset="earliest",
        commit_interval=settings.enrich_commit_interval_seconds,  # the enrich worker's interval
        state_dir=str(state_dir),
        loglevel="WARNING",
        producer_extra_config={"acks": "all"},
    )
    topics = {
        kind: app.topic(name, key_serializer="bytes", value_serializer=Payload())
        for kind, name in output_topics(settings).items()
    }

    def process(value: bytes, key: bytes, timestamp: int, headers: Any, state: Any) -> list[tuple]:
        for table in tables.values():
            table.state = state
        ctx = message_context()
        raw = raw_codec.decode(value)
        [record] = enrich_records([raw])
        features = engine.process([record], [Position(ctx.partition, ctx.offset)])
        record.update(features.event_features[0])
        outputs: list[tuple] = [("enriched", key, enriched_codec.encode(record))]
        for kind in SNAPSHOT_KINDS:
            for row in getattr(features, kind):
                outputs.append((kind, snapshot_keys[kind](row).encode(), snapshot_codecs[kind].encode(row)))
        return outputs

    raw_topic = app.topic(settings.topic_raw, key_deserializer="bytes", value_deserializer="bytes")
    sdf = app.dataframe(topic=raw_topic)
    sdf = sdf.apply(process, stateful=True, expand=True, metadata=True)
    sdf.to_topic(lambda value, key, ts, headers: topics[value[0]], key=lambda value: value[1])
    app.run()


def run_peer(settings: EnrichSettings, events: int, tmp: Path) -> dict[str, float]:
    """Start the peer on the backlog already in ``settings.topic_raw``; time it like the enrich worker."""
    from bench.enrich_worker import wait_committed
    from services.common.kafka import ensure_topics, topic_end_offsets

    group = f"{settings.enrich_app_id}-quix"
    asyncio.run(ensure_topics(settings.model_copy(update=_topic_update(settings))))
    ready_file = tmp / "quix.ready"
    log_path = tmp / "quix.log"
    env = {**os.environ, **to_env(settings)}
    cmd = [sys.executable, str(Path(__file__)), "--ready-file", str(ready_file), "--group", group]
    cmd += ["--state-dir", str(tmp / "quix-state")]
    with (
        open(log_path, "wb") as log,
        _terminating(subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)) as proc,
    ):
        deadline = time.monotonic() + 180
        while not ready_file.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"quix peer not ready:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.02)
        ready = time.monotonic()
        done = asyncio.run(wait_committed(settings, group, [settings.topic_raw]))
    produced = asyncio.run(topic_end_offsets(settings, output_topics(settings)["enriched"]))
    if produced < events:
        raise RuntimeError(f"the peer consumed {events} events but produced {produced} enriched ones")
    return {"events": events, "seconds": round(done - ready, 2), "eps": round(events / (done - ready))}


def _topic_update(settings: EnrichSettings) -> dict[str, str]:
    """Settings whose enriched and snapshot topics are the peer's outputs, to create them alike."""
    out = output_topics(settings)
    return {
        "topic_enriched": out["enriched"],
        "topic_post_virality": out["posts"],
        "topic_follower_funnel": out["funnels"],
        "topic_brand_backlog": out["brands"],
    }


@contextlib.contextmanager
def _terminating(proc: subprocess.Popen[bytes]) -> Iterator[subprocess.Popen[bytes]]:
    try:
        yield proc
    finally:
        stop_process(proc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ready-file", type=Path, required=True)
    parser.add_argument("--group", required=True)
    parser.add_argument("--state-dir", type=Path, required=True)
    args = parser.parse_args()
    app_main(args.ready_file, args.group, args.state_dir)


if __name__ == "__main__":
    main()
