import asyncio
from types import SimpleNamespace

from aiokafka import AIOKafkaProducer
from aiokafka.structs import TopicPartition

from services.runtime.taskdump import await_chain, format_producer, format_tasks


async def _innermost(fut: asyncio.Future[None]) -> None:
    await fut


async def _outer(fut: asyncio.Future[None]) -> None:
    await _innermost(fut)


async def _gen(fut: asyncio.Future[None]):  # type: ignore[no-untyped-def]
    await fut
    yield 1


def test_await_chain_reaches_the_innermost_future() -> None:
    async def main() -> tuple[list[str], str]:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        task = asyncio.create_task(_outer(fut), name="stuck-one")
        gen = _gen(fut)
        consumer = asyncio.create_task(anext(gen), name="gen-consumer")  # type: ignore[arg-type]
        await asyncio.sleep(0)
        chain = list(await_chain(task.get_coro()))
        dump = format_tasks()
        fut.set_result(None)
        await task
        await consumer
        return chain, dump

    chain, dump = asyncio.run(main())
    assert [link.rsplit(" in ", 1)[-1] for link in chain[:2]] == ["_outer", "_innermost"]
    assert chain[-1] == "waits on FutureIter"
    stuck = dump.split("task stuck-one (pending):\n", 1)[1].splitlines()
    assert stuck[3].startswith("    task waits on <Future pending")
    assert "async generator _gen:" in dump


def test_the_producer_dump_names_queued_partitions_and_their_leaders() -> None:
    async def main() -> str:
        producer = AIOKafkaProducer(bootstrap_servers="127.0.0.1:9")  # never started: no broker needed
        tp = TopicPartition("brand.alerts", 0)
        for value in (b"a", b"b"):
            await producer._message_accumulator.add_message(tp, None, value, timeout=1.0)
        app = SimpleNamespace(producer=SimpleNamespace(_producer=producer))
        return format_producer(app)

    dump = asyncio.run(main()).splitlines()
    assert dump[0] == "producer: in flight to nodes [], muted [], sender task done"
    assert "  queued brand.alerts[0] leader=None records per batch=[2]" in dump
    assert "  sent, unanswered: 0 []" in dump
    assert dump[-1] == "  metadata update pending=False, tracked topics=all"
    assert format_producer(SimpleNamespace()) == "producer: not started"
