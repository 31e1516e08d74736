"""Outbox benchmarks: recording events in transactions, and relaying them to JetStream."""

from __future__ import annotations

import asyncio
import resource
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any

import asyncpg
import orjson
import sqlalchemy as sa

from bench.common import fmt_ms, fmt_rate, fmt_ratio, percentile
from bench.report import Report
from letsbet.platform.bus.nats import EVENTS_STREAM, Bus
from letsbet.platform.bus.outbox import Event, record
from letsbet.platform.bus.relay import OutboxRelay
from letsbet.platform.bus.tables import outbox
from letsbet.platform.db import Database, plain_url

RECORD_SECONDS = 3.0
READ_SECONDS = 2.0
WARMUP_SECONDS = 0.5
CONCURRENCY = (1, 8)
POOL_SIZE = 10
RELAY_EVENTS = 10_000
PIPELINE = 64
SUBJECT = "platform.bench.recorded"
# For the "+ NOTIFY" comparison row only (nobody listens; the cost is the commit-time queue).
NOTIFY_CHANNEL = "letsbet_bench"

_INSERT = "INSERT INTO outbox (event_id, subject, payload) VALUES ($1, $2, $3)"


def _event() -> Event:
    # Roughly the shape later domain events have (ids, country, an amount as a decimal string).
    return Event(
        SUBJECT,
        {
            "user_id": str(uuid.uuid4()),
            "bet_id": str(uuid.uuid4()),
            "country": "KE",
            "stake": "100.00",
            "currency": "KES",
            "odds": "2.35",
            "selections": 3,
        },
    )


async def _timed(
    op: Callable[[], Awaitable[None]], concurrency: int, seconds: float
) -> dict[str, Any]:
    async def loop(end: float, latencies: list[float] | None) -> int:
        count = 0
        while (now := time.perf_counter()) < end:
            await op()
            count += 1
            if latencies is not None:
                latencies.append(time.perf_counter() - now)
        return count

    warm_end = time.perf_counter() + WARMUP_SECONDS
    await asyncio.gather(*(loop(warm_end, None) for _ in range(concurrency)))
    latencies: list[float] = []
    cpu0 = _cpu()
    started = time.perf_counter()
    counts = await asyncio.gather(*(loop(started + seconds, latencies) for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    cpu = _cpu() - cpu0
    latencies.sort()
    p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
    total = sum(counts)
    return {
        "rate": total / elapsed,
        "count": total,
        "p50_ms": p50 * 1000 if p50 is not None else None,
        "p99_ms": p99 * 1000 if p99 is not None else None,
        "cpu_us": cpu / total * 1e6 if total else None,
    }


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _cpu_text(result: dict[str, Any], base: dict[str, Any]) -> str:
    if result["cpu_us"] is None:
        return "-"
    text = f"{result['cpu_us']:,.0f}"
    if base.get("cpu_us") and result is not base:
        text += f" ({result['cpu_us'] / base['cpu_us']:.1f}x)"
    return text


async def _stream_messages(bus: Bus) -> int:
    info = await bus.js.stream_info(EVENTS_STREAM)
    return int(info.state.messages)


async def run(urls: dict[str, str], report: Report) -> None:
    db = Database(urls["database"], pool_size=POOL_SIZE, application_name="letsbet-bench")
    pool = await asyncpg.create_pool(
        plain_url(urls["database"]), min_size=POOL_SIZE, max_size=POOL_SIZE
    )
    bus = Bus(urls["nats"], name="letsbet-bench")
    try:
        await bus.connect(attempts=5)
        await bus.ensure_streams()
        await _record(db, pool, report)
        await _relay(db, bus, report)
        await _reads(db, pool, report)
    finally:
        await bus.close()
        await pool.close()
        await db.close()


async def _record(db: Database, pool: asyncpg.Pool, report: Report) -> None:
    section = report.section(
        "3a. Outbox: recording events",
        "Events recorded per second, one event per transaction, by `concurrency` tasks sharing "
        f"a pool of {POOL_SIZE} connections. `outbox.record` runs inside `Database.transaction()` "
        "(SQLAlchemy Core on asyncpg, JSONB payload). Baseline: the same row (event id, "
        "subject, the same JSON envelope) as a plain asyncpg `INSERT` in a transaction, on an "
        "asyncpg pool of the same size; the `+ NOTIFY` row shows what a LISTEN/NOTIFY wake-up "
        "per transaction would cost (the relay polls instead). p50/p99 are per transaction; "
        '"Python CPU µs/event" is the bench '
        "process's own CPU (PostgreSQL excluded), which is what limits an api process.",
        [
            "case",
            "concurrency",
            "events/s",
            "p50 ms",
            "p99 ms",
            "vs raw INSERT",
            "Python CPU µs/event",
        ],
    )

    async def raw_insert() -> None:
        e = _event()
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute(_INSERT, e.event_id, e.subject, orjson.dumps(e.envelope()).decode())

    async def raw_insert_notify() -> None:
        e = _event()
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute(_INSERT, e.event_id, e.subject, orjson.dumps(e.envelope()).decode())
            await conn.execute(f"NOTIFY {NOTIFY_CHANNEL}")

    async def recorded() -> None:
        async with db.transaction() as conn:
            await record(conn, _event())

    # Warm PostgreSQL (plans, buffers, the fresh table's first pages) before any baseline.
    for op in (raw_insert, recorded):
        await _timed(op, 4, 0.5)

    for concurrency in CONCURRENCY:
        base = await _timed(raw_insert, concurrency, RECORD_SECONDS)
        section.add(
            [
                "raw asyncpg INSERT (baseline)",
                str(concurrency),
                fmt_rate(base["rate"]),
                fmt_ms(base["p50_ms"]),
                fmt_ms(base["p99_ms"]),
                "1.00x",
                _cpu_text(base, base),
            ]
        )
        notify = await _timed(raw_insert_notify, concurrency, RECORD_SECONDS)
        section.add(
            [
                "raw asyncpg INSERT + NOTIFY",
                str(concurrency),
                fmt_rate(notify["rate"]),
                fmt_ms(notify["p50_ms"]),
                fmt_ms(notify["p99_ms"]),
                fmt_ratio(notify["rate"] / base["rate"]),
                _cpu_text(notify, base),
            ]
        )
        ours = await _timed(recorded, concurrency, RECORD_SECONDS)
        section.add(
            [
                "outbox.record in Database.transaction",
                str(concurrency),
                fmt_rate(ours["rate"]),
                fmt_ms(ours["p50_ms"]),
                fmt_ms(ours["p99_ms"]),
                fmt_ratio(ours["rate"] / base["rate"]),
                _cpu_text(ours, base),
            ]
        )


async def _relay(db: Database, bus: Bus, report: Report) -> None:
    section = report.section(
        "3b. Outbox relay: publishing to JetStream",
        f"{RELAY_EVENTS:,} recorded events drained by `OutboxRelay.publish_batch()` (batches of "
        "500 claimed `FOR UPDATE SKIP LOCKED`, one `js.publish` with `Nats-Msg-Id` awaited per "
        "event, then one `UPDATE … published_at`) into the file-backed EVENTS stream. Baseline: "
        "the same number of raw `js.publish` calls with the same payloads and headers, each "
        f"awaiting its ack; the pipelined row keeps {PIPELINE} publishes in flight (the ceiling "
        "a batching relay could approach).",
        ["case", "events", "events/s", "vs raw publish"],
    )

    # Leave exactly the newest RELAY_EVENTS rows unpublished (the record benchmark made more).
    async with db.transaction() as conn:
        await conn.execute(
            sa.text(
                "UPDATE outbox SET published_at = now() WHERE published_at IS NULL AND seq <= "
                "(SELECT max(seq) FROM outbox) - :keep"
            ),
            {"keep": RELAY_EVENTS},
        )
        payloads = [
            orjson.dumps(row.payload)
            for row in (
                await conn.execute(
                    sa.select(outbox.c.payload)
                    .where(outbox.c.published_at.is_(None))
                    .order_by(outbox.c.seq)
                )
            ).all()
        ]

    async def raw(payload: bytes) -> None:
        await bus.js.publish(
            SUBJECT, payload, headers={"Nats-Msg-Id": str(uuid.uuid4())}, timeout=2
        )

    started = time.perf_counter()
    for payload in payloads:
        await raw(payload)
    raw_rate = len(payloads) / (time.perf_counter() - started)
    section.add(
        [
            "raw js.publish, awaited one by one (baseline)",
            f"{len(payloads):,}",
            fmt_rate(raw_rate),
            "1.00x",
        ]
    )

    semaphore = asyncio.Semaphore(PIPELINE)

    async def limited(payload: bytes) -> None:
        async with semaphore:
            await raw(payload)

    started = time.perf_counter()
    await asyncio.gather(*(limited(p) for p in payloads))
    pipelined_rate = len(payloads) / (time.perf_counter() - started)
    section.add(
        [
            f"raw js.publish, {PIPELINE} in flight",
            f"{len(payloads):,}",
            fmt_rate(pipelined_rate),
            fmt_ratio(pipelined_rate / raw_rate),
        ]
    )

    relay = OutboxRelay(db, bus)
    backlog = await relay.backlog()
    before = await _stream_messages(bus)
    started = time.perf_counter()
    published = 0
    while count := await relay.publish_batch():
        published += count
    relay_rate = published / (time.perf_counter() - started)
    stored = await _stream_messages(bus) - before
    section.add(
        [
            "OutboxRelay.publish_batch",
            f"{published:,}",
            fmt_rate(relay_rate),
            fmt_ratio(relay_rate / raw_rate),
        ]
    )
    if published != backlog or stored != published or await relay.backlog():
        report.warn(f"relay published {published} of {backlog} rows; the stream gained {stored}")


async def _reads(db: Database, pool: asyncpg.Pool, report: Report) -> None:
    """The read path every authenticated request takes, layer by layer."""
    from letsbet.accounts import repository

    section = report.section(
        "4. PostgreSQL access path (context for 1 and 3)",
        "One primary-key read of a `users` row, the query `/api/me` makes, by `concurrency` "
        f"tasks on pools of {POOL_SIZE}. Baseline: raw asyncpg `fetchrow`. `Database.connect()` "
        "is how the api reads today: SQLAlchemy Core through its asyncpg adapter, which also "
        "opens a transaction on first use and rolls it back on release (BEGIN + SELECT + "
        "ROLLBACK). The AUTOCOMMIT row is a what-if (the same engine with "
        '`isolation_level="AUTOCOMMIT"`, not used by the code today).',
        ["case", "concurrency", "reads/s", "p50 ms", "p99 ms", "vs raw", "Python CPU µs/read"],
    )
    user_id = uuid.uuid4()
    async with db.transaction() as conn:
        await repository.insert_user(
            conn,
            user_id=user_id,
            phone=f"+2547{user_id.int % 10**8:08d}",
            password_hash="not-a-hash",  # noqa: S106 - never logs in
            country="KE",
            role="player",
            date_of_birth=date(1990, 1, 1),
            first_name=None,
            last_name=None,
        )
    autocommit = db.engine.execution_options(isolation_level="AUTOCOMMIT")

    async def raw() -> None:
        async with pool.acquire() as conn:
            await conn.fetchrow("SELECT * FROM users WHERE id = $1", user_id)

    async def raw_tx() -> None:
        async with pool.acquire() as conn, conn.transaction():
            await conn.fetchrow("SELECT * FROM users WHERE id = $1", user_id)

    async def ours() -> None:
        async with db.connect() as conn:
            await repository.user_by_id(conn, user_id)

    async def ours_autocommit() -> None:
        async with autocommit.connect() as conn:
            await repository.user_by_id(conn, user_id)

    for concurrency in CONCURRENCY:
        base = await _timed(raw, concurrency, READ_SECONDS)
        section.add(
            [
                "raw asyncpg fetchrow (baseline)",
                str(concurrency),
                fmt_rate(base["rate"]),
                fmt_ms(base["p50_ms"]),
                fmt_ms(base["p99_ms"]),
                "1.00x",
                _cpu_text(base, base),
            ]
        )
        for name, op in (
            ("raw asyncpg BEGIN + fetchrow + COMMIT", raw_tx),
            ("Database.connect + repository.user_by_id", ours),
            ("same, AUTOCOMMIT engine (what-if)", ours_autocommit),
        ):
            r = await _timed(op, concurrency, READ_SECONDS)
            section.add(
                [
                    name,
                    str(concurrency),
                    fmt_rate(r["rate"]),
                    fmt_ms(r["p50_ms"]),
                    fmt_ms(r["p99_ms"]),
                    fmt_ratio(r["rate"] / base["rate"]),
                    _cpu_text(r, base),
                ]
            )
