"""Outbox → relay → JetStream → idempotent consumer, across a real NATS outage."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from letsbet.platform.bus.consumer import Consumer
from letsbet.platform.bus.nats import Bus
from letsbet.platform.bus.outbox import Event, record
from letsbet.platform.bus.relay import OutboxRelay
from letsbet.platform.bus.tables import inbox, outbox
from letsbet.platform.db import Database
from letsbet.platform.embedded import EmbeddedNats
from letsbet.platform.runtime import Runtime
from tests.support import poll_until

# A scratch table standing in for a consumer's state change.
EFFECTS = sa.Table(
    "test_event_effects",
    sa.MetaData(),
    sa.Column("event_id", sa.Uuid, primary_key=False),
    sa.Column("run", sa.Text),
)


@pytest.fixture(scope="module")
def own_nats(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedNats]:
    server = EmbeddedNats(tmp_path_factory.mktemp("nats-outbox"), durable=True)
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def bus(own_nats: EmbeddedNats) -> AsyncIterator[Bus]:
    b = Bus(own_nats.url, name="test-outbox")
    await b.connect(attempts=5)
    await b.ensure_streams()
    yield b
    await b.close()


@pytest.fixture
async def effects(runtime: Runtime) -> str:
    async with runtime.db.transaction() as conn:
        await conn.run_sync(lambda sync: EFFECTS.create(sync, checkfirst=True))
        # Earlier tests' unpublished rows belong to other NATS servers; publish-once semantics
        # are per test here, so start from a clean outbox.
        await conn.execute(
            sa.update(outbox)
            .where(outbox.c.published_at.is_(None))
            .values(published_at=sa.func.now())
        )
    return uuid.uuid4().hex  # this test's run id


async def _count(db: Database, run: str) -> tuple[int, int]:
    async with db.connect() as conn:
        rows = await conn.scalar(
            sa.select(sa.func.count()).select_from(EFFECTS).where(EFFECTS.c.run == run)
        )
        distinct = await conn.scalar(
            sa.select(sa.func.count(sa.distinct(EFFECTS.c.event_id))).where(EFFECTS.c.run == run)
        )
    return int(rows or 0), int(distinct or 0)


def _handler(run: str):  # type: ignore[no-untyped-def]
    async def handle(conn: AsyncConnection, event: Event) -> None:
        if event.data.get("run") == run:
            await conn.execute(sa.insert(EFFECTS).values(event_id=event.event_id, run=run))

    return handle


async def _record(db: Database, run: str, n: int) -> list[uuid.UUID]:
    events = [Event("platform.test.happened", {"run": run, "n": i}) for i in range(n)]
    async with db.transaction() as conn:
        await record(conn, *events)
    return [e.event_id for e in events]


async def test_rolled_back_transaction_records_no_event(runtime: Runtime, effects: str) -> None:
    with pytest.raises(RuntimeError):
        async with runtime.db.transaction() as conn:
            await record(conn, Event("platform.test.happened", {"run": effects}))
            raise RuntimeError("business rule failed after recording")
    async with runtime.db.connect() as conn:
        count = await conn.scalar(
            sa.select(sa.func.count())
            .select_from(outbox)
            .where(outbox.c.payload["data"]["run"].astext == effects)
        )
    assert count == 0


async def test_events_survive_a_nats_outage_without_loss_or_duplicates(
    runtime: Runtime, bus: Bus, own_nats: EmbeddedNats, effects: str
) -> None:
    db = runtime.db
    relay = OutboxRelay(db, bus, batch_size=50, idle_poll_seconds=0.1)
    consumer = Consumer(
        db, bus, name=f"test-{effects[:8]}", subject="platform.test.>", handler=_handler(effects)
    )
    stop = asyncio.Event()
    tasks = [asyncio.create_task(relay.run(stop)), asyncio.create_task(consumer.run(stop))]
    try:
        await _record(db, effects, 20)
        await poll_until(lambda: _done(db, effects, 20), timeout=20)

        own_nats.stop()
        await poll_until(lambda: _disconnected(bus), timeout=10)
        # Writes still commit while NATS is down; the events wait in the outbox.
        await _record(db, effects, 30)
        assert await relay.backlog() >= 30

        own_nats.start()
        await poll_until(lambda: _done(db, effects, 50), timeout=30)
        assert await relay.backlog() == 0
    finally:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
    rows, distinct = await _count(db, effects)
    assert (rows, distinct) == (50, 50)


async def test_redelivery_is_handled_once(runtime: Runtime, bus: Bus, effects: str) -> None:
    db = runtime.db
    consumer = Consumer(
        db, bus, name=f"dup-{effects[:8]}", subject="platform.test.>", handler=_handler(effects)
    )
    event = Event("platform.test.happened", {"run": effects})
    assert await consumer.handle(event) is True
    assert await consumer.handle(event) is False  # a redelivery or a relay re-publish
    assert await _count(db, effects) == (1, 1)
    async with db.connect() as conn:
        claimed = await conn.scalar(
            sa.select(sa.func.count()).select_from(inbox).where(inbox.c.event_id == event.event_id)
        )
    assert claimed == 1


async def test_republished_event_id_is_deduplicated_by_jetstream(bus: Bus) -> None:
    msg_id = str(uuid.uuid4())
    first = await bus.publish("platform.test.dedupe", b"{}", msg_id=msg_id)
    second = await bus.publish("platform.test.dedupe", b"{}", msg_id=msg_id)
    assert second.duplicate is True and second.seq == first.seq


async def _done(db: Database, run: str, expected: int) -> bool:
    return (await _count(db, run))[1] >= expected


async def _disconnected(bus: Bus) -> bool:
    return not bus.connected
