"""platform.db on real PostgreSQL: driver statements inside SQLAlchemy's transaction, their
errors as SQLAlchemy's, deadlock retries, a dead connection left out of the pool, the pool
keeping its connections."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from letsbet.platform.bus.tables import inbox
from letsbet.platform.config import Settings
from letsbet.platform.db import Database, DriverSQL, driver, prefix_params, run_in_transaction

CONSUMER = "test-platform-db"  # inbox rows of this made-up consumer are these tests' own
_INSERT = DriverSQL("INSERT INTO inbox (consumer, event_id) VALUES (:consumer, :event_id)")
_LOCK = DriverSQL(
    "SELECT event_id FROM inbox WHERE consumer = :consumer AND event_id = :event_id FOR UPDATE"
)


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[Database]:
    database = Database(settings.resolved_database_url() or "", pool_size=1)
    yield database
    await database.close()


async def _rows(db: Database, *ids: uuid.UUID) -> set[uuid.UUID]:
    async with db.connect() as conn:
        found = await conn.scalars(
            sa.select(inbox.c.event_id).where(
                inbox.c.consumer == CONSUMER, inbox.c.event_id.in_(ids)
            )
        )
        return set(found)


async def _insert_both(conn: AsyncConnection, driver_id: uuid.UUID, sa_id: uuid.UUID) -> None:
    await _INSERT.fetch(conn, {"consumer": CONSUMER, "event_id": driver_id})
    await conn.execute(sa.insert(inbox).values(consumer=CONSUMER, event_id=sa_id))


async def test_driver_statements_commit_with_the_transaction(db: Database) -> None:
    a, b = uuid.uuid4(), uuid.uuid4()
    async with db.transaction() as conn:
        await _insert_both(conn, a, b)
    assert await _rows(db, a, b) == {a, b}


async def test_driver_statements_roll_back_with_the_transaction(db: Database) -> None:
    a, b = uuid.uuid4(), uuid.uuid4()
    with pytest.raises(KeyError):
        async with db.transaction() as conn:
            await _insert_both(conn, a, b)
            raise KeyError("undo")
    assert await _rows(db, a, b) == set()


async def test_a_connection_used_without_commit_rolls_back_when_closed(db: Database) -> None:
    a = uuid.uuid4()
    async with db.connect() as conn:
        await _INSERT.fetch(conn, {"consumer": CONSUMER, "event_id": a})
    assert await _rows(db, a) == set()
    async with db.connect() as conn:  # the pooled connection came back outside a transaction
        assert not (await conn.get_raw_connection()).driver_connection.is_in_transaction()


async def test_driver_errors_are_sqlalchemy_errors(db: Database) -> None:
    a = uuid.uuid4()
    with pytest.raises(IntegrityError) as caught:
        async with db.transaction() as conn:
            await _INSERT.fetch(conn, {"consumer": CONSUMER, "event_id": a})
            await _INSERT.fetch(conn, {"consumer": CONSUMER, "event_id": a})
    assert caught.value.orig.sqlstate == "23505"  # type: ignore[union-attr]
    assert await _rows(db, a) == set()  # the first insert went with the transaction


async def test_a_deadlock_between_driver_statements_is_retried(settings: Settings) -> None:
    db = Database(settings.resolved_database_url() or "", pool_size=2)
    one, two = uuid.uuid4(), uuid.uuid4()
    async with db.transaction() as conn:
        for event_id in (one, two):
            await _INSERT.fetch(conn, {"consumer": CONSUMER, "event_id": event_id})
    first_locked, second_locked = asyncio.Event(), asyncio.Event()
    attempts = {"a": 0, "b": 0}

    async def a(conn: AsyncConnection) -> None:
        attempts["a"] += 1
        await _LOCK.fetch(conn, {"consumer": CONSUMER, "event_id": one})
        first_locked.set()
        await second_locked.wait()
        await _LOCK.fetch(conn, {"consumer": CONSUMER, "event_id": two})

    async def b(conn: AsyncConnection) -> None:
        attempts["b"] += 1
        await first_locked.wait()
        await _LOCK.fetch(conn, {"consumer": CONSUMER, "event_id": two})
        second_locked.set()
        await _LOCK.fetch(conn, {"consumer": CONSUMER, "event_id": one})

    try:
        await asyncio.wait_for(
            asyncio.gather(run_in_transaction(db, a), run_in_transaction(db, b)), 30
        )
    finally:
        await db.close()
    assert sorted(attempts.values()) == [1, 2]  # PostgreSQL broke the cycle; the loser retried


async def test_a_dead_connection_raises_a_disconnect_and_leaves_the_pool(
    db: Database, settings: Settings
) -> None:
    async with db.transaction() as conn:
        pid = await (await driver(conn)).fetchval("SELECT pg_backend_pid()")
    other = Database(settings.resolved_database_url() or "", pool_size=1)
    try:
        async with other.connect() as conn:
            await conn.execute(sa.select(sa.func.pg_terminate_backend(pid)))
    finally:
        await other.close()
    with pytest.raises(DBAPIError) as caught:
        async with db.transaction() as conn:  # the pool hands out the killed connection
            await _INSERT.fetch(conn, {"consumer": CONSUMER, "event_id": uuid.uuid4()})
    assert caught.value.connection_invalidated
    a = uuid.uuid4()
    async with db.transaction() as conn:  # a fresh connection, not the dead one
        await _INSERT.fetch(conn, {"consumer": CONSUMER, "event_id": a})
    assert await _rows(db, a) == {a}


async def test_the_pool_keeps_the_connections_a_burst_opened(db: Database) -> None:
    both_in = asyncio.Barrier(2)

    async def hold(conn: AsyncConnection) -> None:
        await driver(conn)
        await both_in.wait()  # two transactions at once: pool_size=1 opens a second connection

    await asyncio.gather(run_in_transaction(db, hold), run_in_transaction(db, hold))
    assert db.engine.pool.checkedin() == 2  # type: ignore[attr-defined]


def test_prefixed_parameters_keep_casts_and_literals() -> None:
    sql = "SELECT CAST(:ids AS bigint[]), :name, 'a:b', x::text FROM t WHERE y = :name"
    assert prefix_params(sql, "t_") == (
        "SELECT CAST(:t_ids AS bigint[]), :t_name, 'a:b', x::text FROM t WHERE y = :t_name"
    )
    statement = DriverSQL(prefix_params(sql, "t_"))
    assert statement.names == ["t_ids", "t_name"]
    assert statement.args({"t_name": "n", "t_ids": [1]}) == ([1], "n")
