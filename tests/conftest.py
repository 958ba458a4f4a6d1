"""Session fixtures shared by the test suite."""

from __future__ import annotations

import atexit
from collections.abc import Iterator

import pytest

from services.common.kafka_local import LocalKafka, free_port


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalKafka]:
    """A real single-node KRaft Kafka broker on free ports, for the whole session."""
    broker = LocalKafka(tmp_path_factory.mktemp("kafka"), port=free_port(), controller_port=free_port())
    # The JVM runs in its own session, so an interrupted run would leave it behind: stop it at exit too.
    atexit.register(broker.stop)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()
        atexit.unregister(broker.stop)


@pytest.fixture(scope="session")
def kafka_bootstrap(kafka_broker: LocalKafka) -> str:
    """``host:port`` of the session's Kafka broker."""
    return kafka_broker.bootstrap
