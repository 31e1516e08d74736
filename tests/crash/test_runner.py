"""GameRunner on the real clock: two replicas contend for one game; exactly one leads, rounds
follow each other link by link, and when the leader stops the standby carries on."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta

import sqlalchemy as sa

from letsbet.crash import feed
from letsbet.crash.chains import ChainReader
from letsbet.crash.engine import GameRunner, RoundEngine
from letsbet.crash.fairness import derive_key
from letsbet.crash.tables import crash_rounds
from letsbet.platform.runtime import Runtime
from tests.crash.helpers import new_game
from tests.support import poll_until


async def test_one_leader_at_a_time_and_a_standby_takes_over(runtime: Runtime) -> None:
    game = await new_game(
        runtime,
        first=lambda points: all(p <= 120 for p in points),  # flights under 3.1 s
        look_ahead=5,
        betting_window=timedelta(milliseconds=300),
        cooldown=timedelta(0),
    )
    key = derive_key(runtime.settings.crash_chain_secret)

    def runner() -> GameRunner:
        engine = RoundEngine(
            runtime.db, game.config, feed=feed.NatsFeed(runtime.bus), reader=ChainReader(key)
        )
        return GameRunner(engine)

    runners = [runner(), runner()]
    stops = [asyncio.Event(), asyncio.Event()]
    tasks = [asyncio.create_task(r.run(s)) for r, s in zip(runners, stops, strict=True)]

    async def crashed_rounds() -> list[int]:
        async with runtime.db.connect() as conn:
            return list(
                (
                    await conn.execute(
                        sa.select(crash_rounds.c.game_number)
                        .where(
                            crash_rounds.c.game_id == game.game_id,
                            crash_rounds.c.status == "crashed",
                        )
                        .order_by(crash_rounds.c.game_number)
                    )
                ).scalars()
            )

    try:
        await poll_until(lambda: _at_least(crashed_rounds, 2), timeout=30)
        leading = [r.lock.connection is not None for r in runners]
        assert leading.count(True) == 1
        leader = leading.index(True)
        stops[leader].set()  # the leader shuts down (or dies): the standby takes over
        await tasks[leader]
        done = len(await crashed_rounds())
        await poll_until(lambda: _at_least(crashed_rounds, done + 1), timeout=30)
        assert runners[1 - leader].lock.connection is not None
        numbers = await crashed_rounds()
        assert numbers == list(range(1, len(numbers) + 1))  # no link reused or skipped
    finally:
        for stop in stops:
            stop.set()
        await asyncio.gather(*tasks)


async def _at_least(rounds: Callable[[], Awaitable[list[int]]], count: int) -> bool:
    return len(await rounds()) >= count
