"""Session fixtures shared by the test suite."""

from __future__ import annotations

import atexit
import os
import secrets
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import pytest

from services.common.clickhouse import Database, connect
from services.common.migrations import migrate
from services.local.kafka import LocalKafka, free_port

if TYPE_CHECKING:
    from tests.integration.pipeline import Pipeline

# The /query token of every worker the tests start (they inherit this environment through to_env) and
# of every query the tests route to them (services.common.query.client_token reads it).
os.environ.setdefault("ENGAGE_QUERY_TOKENS", f"test-{secrets.token_urlsafe(16)}")

# Shared assertion helpers get pytest's assertion introspection too (a bare "AssertionError" from a
# ground-truth check says nothing about which ids were lost or duplicated).
pytest.register_assert_rewrite("tests.integration.groundtruth_checks")


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalKafka]:
    """A real single-node KRaft Kafka broker on free ports, for the whole session."""
    broker = LocalKafka(tmp_path_factory.mktemp("kafka"), port=free_port(), controller_port=free_port())
    # The JVM runs in its own session, so an aborted run would leave it behind: stop it at interpreter
    # exit too, and turn SIGTERM into KeyboardInterrupt so that pytest still runs this finalizer.
    atexit.register(broker.stop)
    previous = None
    in_main_thread = threading.current_thread() is threading.main_thread()
    if in_main_thread and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        previous = signal.signal(signal.SIGTERM, _interrupt)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()
        atexit.unregister(broker.stop)
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


@pytest.fixture(scope="session")
def kafka_bootstrap(kafka_broker: LocalKafka) -> str:
    """``host:port`` of the session's Kafka broker."""
    return kafka_broker.bootstrap


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    """A migrated embedded ClickHouse of the test's own, owned by this process."""
    database = connect(f"chdb://{tmp_path / 'ch'}")
    migrate(database)
    try:
        yield database
    finally:
        database.close()


@pytest.fixture
def make_pipeline(
    kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Callable[..., Pipeline]]:
    """Builds (not starts) pipelines of this test, each in a namespace of its own named after the test;
    stops their workers at teardown. ``make_pipeline(bootstrap=None, **updates)``: on the session
    broker unless ``bootstrap``; ``updates`` as :func:`tests.integration.helpers.running_pipeline`."""
    from tests.integration.helpers import running_pipeline

    with ExitStack() as stack:

        def make(bootstrap: str | None = None, **updates: Any) -> Pipeline:
            prefix = request.node.name.removeprefix("test_")
            return stack.enter_context(
                running_pipeline(bootstrap or kafka_bootstrap, tmp_path_factory, prefix, (), **updates)
            )

        yield make
