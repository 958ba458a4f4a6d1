"""Static checks of the local Kafka files: version in sync, config template renders."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from services.local.kafka import KAFKA_DIR, KAFKA_VERSION, LocalKafka, free_port, kafka_cache_dir

POM_NS = {"m": "http://maven.apache.org/POM/4.0.0"}


def test_kafka_version_matches_pom() -> None:
    root = ET.parse(KAFKA_DIR / "pom.xml").getroot()
    version = root.find("m:properties/m:kafka.version", POM_NS)
    assert version is not None and version.text == KAFKA_VERSION


def test_template_formats_with_the_three_placeholders(tmp_path: Path) -> None:
    template = (KAFKA_DIR / "server.properties.template").read_text()
    text = template.format(port=19092, controller_port=19093, log_dir=tmp_path / "kraft")
    props = dict(
        line.split("=", 1) for line in text.splitlines() if line.strip() and not line.startswith("#")
    )
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093"
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:19092"
    assert props["controller.quorum.bootstrap.servers"] == "127.0.0.1:19093"
    assert props["log.dirs"] == str(tmp_path / "kraft")
    assert props["auto.create.topics.enable"] == "false"
    assert "controller.quorum.voters" not in props
    assert "{" not in text and "}" not in text


def test_defaults_and_cache_dir(monkeypatch, tmp_path: Path) -> None:
    k = LocalKafka(tmp_path, port=free_port())
    assert k.controller_port == k.port + 1
    assert k.bootstrap == f"127.0.0.1:{k.port}"
    assert not k.is_running()
    k.stop()  # no error when not running
    monkeypatch.setenv("ENGAGE_KAFKA_CACHE", str(tmp_path / "cache"))
    assert kafka_cache_dir() == tmp_path / "cache"
    monkeypatch.delenv("ENGAGE_KAFKA_CACHE")
    assert kafka_cache_dir().name == f"kafka-{KAFKA_VERSION}"


def test_free_port_stays_out_of_the_ephemeral_range_and_keeps_its_span_free(monkeypatch) -> None:
    """A port from the range the kernel gives outgoing connections can be taken before the broker binds it."""
    from services.local import kafka

    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    ports = [free_port(span=2) for _ in range(20)]
    assert all(p >= 10_000 and p + 1 < low for p in ports)
    assert len({q for p in ports for q in (p, p + 1)}) == 40  # never handed out twice

    # Only odd ports are "in use": a span of two never fits, a single even port does.
    monkeypatch.setattr(kafka, "_bindable", lambda port: port % 2 == 0)
    assert free_port() % 2 == 0
    with pytest.raises(kafka.KafkaLocalError, match="consecutive free ports"):
        free_port(span=2)
