"""/ws/odds snapshots: read from PostgreSQL (what every subscribe did before the cache) against
read from the Redis cache of current odds. Run alone: `python -m bench.odds`."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from bench.common import fmt_ms, fmt_rate, fmt_ratio, percentile
from bench.report import Report
from letsbet.platform.bus.nats import Bus
from letsbet.platform.cache import create_redis
from letsbet.platform.db import Database
from letsbet.sportsbook.catalogue.service import NewEvent, NewMarket, create_event, event_view
from letsbet.sportsbook.odds.cache import OddsCache
from letsbet.sportsbook.odds.snapshot import frame_of

SECONDS = 2.0
WARMUP_SECONDS = 0.3
CONCURRENCY = (1, 8)
POOL_SIZE = 10


def _markets(lines: int) -> list[NewMarket]:
    """1X2, BTTS and double chance, plus `lines` over/under and Asian handicap lines."""
    markets = [
        NewMarket("1x2", None, {"home": 2100, "draw": 3400, "away": 3250}),
        NewMarket("btts", None, {"yes": 1800, "no": 1950}),
        NewMarket("double_chance", None, {"1X": 1300, "12": 1330, "X2": 1650}),
    ]
    for n in range(lines):
        markets.append(NewMarket("over_under", 50 + 25 * n, {"over": 1900, "under": 1900}))
        markets.append(NewMarket("asian_handicap", -300 + 25 * n, {"home": 2050, "away": 1800}))
    return markets


async def _event(db: Database, lines: int) -> int:
    async with db.transaction() as conn:
        return await create_event(
            conn,
            NewEvent(
                sport_id="football",
                competition="Bench League",
                region="Kenya",
                home=f"Home {lines}",
                away=f"Away {lines}",
                starts_at=datetime.now(UTC) + timedelta(days=1),
                markets=_markets(lines),
            ),
        )


async def _timed(op: Callable[[], Awaitable[Any]], concurrency: int) -> dict[str, Any]:
    async def loop(end: float, latencies: list[float] | None) -> int:
        count = 0
        while (now := time.perf_counter()) < end:
            await op()
            count += 1
            if latencies is not None:
                latencies.append(time.perf_counter() - now)
        return count

    await asyncio.gather(*(loop(time.perf_counter() + WARMUP_SECONDS, None) for _ in range(2)))
    latencies: list[float] = []
    started = time.perf_counter()
    counts = await asyncio.gather(*(loop(started + SECONDS, latencies) for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
    return {
        "rate": sum(counts) / elapsed,
        "p50_ms": None if p50 is None else p50 * 1000,
        "p99_ms": None if p99 is None else p99 * 1000,
    }


async def run(urls: dict[str, str], report: Report) -> None:
    db = Database(urls["database"], pool_size=POOL_SIZE, application_name="letsbet-bench")
    redis = create_redis(urls["redis"])
    cache = OddsCache(redis, Bus(urls["nats"], name="letsbet-bench"))  # reads and fills only
    section = report.section(
        "7. /ws/odds snapshots: PostgreSQL against the Redis cache",
        "Snapshots per second and latency of one event's snapshot frame, by `concurrency` "
        "tasks. PostgreSQL (every subscribe before the cache, and a cache miss now): a pooled "
        "connection, REPEATABLE READ, the event, its markets and outcomes (3 queries), the frame "
        "encoded. Cache: one HMGET of the event's hash, which holds the encoded frame.",
        ["case", "markets", "concurrency", "snapshots/s", "p50 ms", "p99 ms", "vs PostgreSQL"],
    )
    try:
        for lines in (0, 20):
            event_id = await _event(db, lines)

            async def from_postgres(event_id: int = event_id) -> str:
                async with db.connect() as conn:
                    await conn.execution_options(isolation_level="REPEATABLE READ")
                    view = await event_view(conn, event_id, country=None)
                return orjson.dumps(frame_of(view)).decode()

            async def from_cache(event_id: int = event_id) -> str:
                cached = await cache.read(event_id)
                assert cached is not None
                return cached.frame

            frame = await from_postgres()
            assert await cache.fill(event_id, orjson.loads(frame)["seq"], frame)
            markets = 3 + 2 * lines
            for concurrency in CONCURRENCY:
                base = await _timed(from_postgres, concurrency)
                ours = await _timed(from_cache, concurrency)
                for name, result in (("PostgreSQL (before)", base), ("Redis cache", ours)):
                    section.add(
                        [
                            name,
                            str(markets),
                            str(concurrency),
                            fmt_rate(result["rate"]),
                            fmt_ms(result["p50_ms"]),
                            fmt_ms(result["p99_ms"]),
                            fmt_ratio(result["rate"] / base["rate"]),
                        ]
                    )
    finally:
        await redis.aclose()
        await db.close()


def main() -> None:
    import shutil
    import tempfile
    from pathlib import Path

    import uvloop

    from bench import machine
    from letsbet.platform import migrate
    from letsbet.platform.embedded import EmbeddedStack
    from letsbet.platform.observability import configure_logging

    configure_logging("warning", "console")
    data_dir = Path(tempfile.mkdtemp(prefix="letsbet-bench-odds-"))
    stack = EmbeddedStack(data_dir, durable=False)
    try:
        stack.start()
        assert stack.postgres and stack.redis and stack.nats
        urls = {
            "database": stack.postgres.url.rsplit("/", 1)[0] + "/letsbet_bench",
            "redis": stack.redis.url,
            "nats": stack.nats.url,
        }
        migrate.upgrade(urls["database"])
        uvloop.run(run(urls, Report(machine.info(machine.background_load(), 0.0))))
    finally:
        stack.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
