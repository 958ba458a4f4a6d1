"""Benchmark (not a test): microseconds per record of the enrich worker's Avro work, without Kafka.

On the raw events of the default simulation (fixed seed), encoded as ingest writes them:

- ``raw_decode_us``: decoding a raw message (``AvroCodec.decode``), as the worker does for each input;
- ``enriched_encode_full_us``: encoding the enriched record with every field (``AvroCodec.encode``),
  how the worker wrote enriched events before the extending encoder;
- ``enriched_encode_extending_us``: the extending encoder (``ExtendingEncoder.encode``): the raw body as
  it came plus the enrichment fields, the bytes of the full encode (checked here for every record).

Each figure is the best of ``--repeat`` timed passes over all records.

    .venv/bin/python bench/codec_micro.py [--events 5000] [--repeat 5]

Results go to stdout and ``bench/results/codec_micro.json``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import machine, simulated_events, write_report  # noqa: E402
from services.common.avro import codec, extending_encoder  # noqa: E402
from services.common.events import parse_event  # noqa: E402
from services.enrich.processor import enrich_records  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "codec_micro.json"


def best_us(run: Callable[[], object], records: int, repeat: int) -> float:
    """Best of ``repeat`` passes, in microseconds per record."""
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        run()
        times.append(time.perf_counter() - began)
    return round(min(times) / records * 1e6, 2)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    raw, enriched = codec("social_event"), codec("enriched_event")
    extending = extending_encoder("enriched_event", "social_event")
    received = datetime(2026, 1, 1, tzinfo=UTC)
    messages = [raw.encode(parse_event(e, received_at=received)) for e in simulated_events(args.events)]
    decoded = [raw.decode(m) for m in messages]
    bodies = [extending.base_body(m) for m in messages]
    records: list[dict[str, Any]] = enrich_records(decoded)
    full = [enriched.encode(r) for r in records]
    if [extending.encode(r, b) for r, b in zip(records, bodies, strict=True)] != full:
        raise SystemExit("the extending encoder's bytes differ from the full encode")
    n = len(messages)
    report = {
        "benchmark": "codec_micro",
        "what": "µs per record: raw decode, enriched encode in full and with the raw body reused",
        "records": n,
        "repeat": args.repeat,
        "raw_decode_us": best_us(lambda: [raw.decode(m) for m in messages], n, args.repeat),
        "enriched_encode_full_us": best_us(lambda: [enriched.encode(r) for r in records], n, args.repeat),
        "enriched_encode_extending_us": best_us(
            lambda: [extending.encode(r, b) for r, b in zip(records, bodies, strict=True)], n, args.repeat
        ),
        **machine(),
    }
    write_report(
        RESULTS,
        report,
        f"enriched encode {report['enriched_encode_full_us']} µs full → "
        f"{report['enriched_encode_extending_us']} µs extending; raw decode {report['raw_decode_us']} µs",
    )


if __name__ == "__main__":
    main()
