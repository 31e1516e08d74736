"""The simulated feed on real PostgreSQL: a week of fixtures made once, a whole match played in
fake time, margins as configured, and one leader among replicas."""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

import sqlalchemy as sa

from letsbet.platform.bus.tables import outbox
from letsbet.platform.runtime import Runtime
from letsbet.sportsbook.catalogue import service
from letsbet.sportsbook.markets import settle
from letsbet.sportsbook.odds.pricing import overround
from letsbet.sportsbook.odds.simulator import MARGIN, AdvisoryLock, Simulator, day_fixtures


class Script(random.Random):
    """Draws the given values first, then 0.999 (no goal) for ever."""

    def __init__(self, values: list[float]) -> None:
        super().__init__(0)
        self.values = values

    def random(self) -> float:
        return self.values.pop(0) if self.values else 0.999


def _prefix() -> str:
    return f"simtest{uuid.uuid4().hex[:10]}"


async def _view(runtime: Runtime, external_id: str) -> service.EventView:
    async with runtime.db.connect() as conn:
        event_id = await conn.scalar(
            sa.text("SELECT id FROM events WHERE external_id = :x"), {"x": external_id}
        )
        assert event_id is not None, external_id
        return await service.event_view(conn, event_id, country=None)


async def _recorded(runtime: Runtime, event_id: int) -> list[tuple[str, dict[str, Any]]]:
    async with runtime.db.connect() as conn:
        rows = await conn.execute(
            sa.select(outbox.c.subject, outbox.c.payload)
            .where(outbox.c.payload["data"]["event_id"].as_integer() == event_id)
            .order_by(outbox.c.seq)
        )
        return [(row.subject, row.payload["data"]) for row in rows]


def test_fixtures_are_deterministic_per_seed_and_day() -> None:
    day = date(2040, 1, 1)
    assert day_fixtures(day) == day_fixtures(day)
    assert day_fixtures(day, seed=1) != day_fixtures(day, seed=2)
    week = [f for n in range(7) for f in day_fixtures(day + timedelta(days=n))]
    assert all(3 <= len(day_fixtures(day + timedelta(days=n))) <= 5 for n in range(7))
    assert len({f.fixture.external_id for f in week}) == len(week)
    assert {f.fixture.region for f in week} == {"Kenya", "Nigeria", "Ghana", "England"}


async def test_a_week_of_fixtures_is_created_once_with_the_margin(runtime: Runtime) -> None:
    prefix, start = _prefix(), datetime(2040, 3, 1, tzinfo=UTC)
    expected = [
        f for n in range(7) for f in day_fixtures(start.date() + timedelta(days=n), prefix=prefix)
    ]
    simulator = Simulator(prefix=prefix, clock=lambda: start)
    assert await simulator.ensure_fixtures(runtime.db) == len(expected)
    assert await simulator.ensure_fixtures(runtime.db) == 0
    assert await Simulator(prefix=prefix, clock=lambda: start).ensure_fixtures(runtime.db) == 0

    view = await _view(runtime, expected[0].fixture.external_id)
    assert view.event.status == "scheduled" and len(view.markets) == 5
    for market in view.markets:
        book = overround([o.odds_milli for o in view.outcomes[market.id]])
        target = 1 + 2 * MARGIN if market.type == "double_chance" else MARGIN
        assert abs(book - Fraction(target)) < Fraction(5, 1000), (market.type, float(book))


async def test_a_match_is_played_suspended_around_a_goal_and_settled(runtime: Runtime) -> None:
    prefix, day = _prefix(), date(2040, 6, 1)
    now = [datetime.combine(day, datetime.min.time(), tzinfo=UTC)]
    # speed 3: a match minute every 20 s; a home goal at the 30th minute's draw.
    goal = Script([0.999] * 58 + [0.0])
    simulator = Simulator(prefix=prefix, days=1, speed=3.0, clock=lambda: now[0], rng=goal)
    await simulator.ensure_fixtures(runtime.db)
    first = day_fixtures(day, prefix=prefix)[0].fixture

    now[0] = first.starts_at
    await simulator.tick(runtime.db)
    view = await _view(runtime, first.external_id)
    assert view.event.status == "live"
    assert {m.status for m in view.markets} == {"open"}
    for minute in range(1, 90):
        now[0] = first.starts_at + timedelta(seconds=20 * minute)
        await simulator.tick(runtime.db)
    view = await _view(runtime, first.external_id)
    assert (view.event.status, view.event.home_score, view.event.away_score) == ("live", 1, 0)

    recorded = await _recorded(runtime, view.event.id)
    scored = next(
        i
        for i, (subject, data) in enumerate(recorded)
        if subject == "sportsbook.event.updated" and data["changes"].get("home_score") == 1
    )
    before, after = recorded[scored - 5 : scored], recorded[scored + 1 : scored + 7]
    assert [(s, d["status"]) for s, d in before] == [
        ("sportsbook.market.status_changed", "suspended")
    ] * 5
    assert after[0][0] == "sportsbook.odds.changed"
    assert [(s, d["status"]) for s, d in after[1:]] == [
        ("sportsbook.market.status_changed", "open")
    ] * 5
    seqs = [d["seq"] for _, d in before + after]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)

    now[0] = first.starts_at + timedelta(minutes=30)  # the 90th match minute
    await simulator.tick(runtime.db)
    view = await _view(runtime, first.external_id)
    assert view.event.status == "ended"
    for market in view.markets:
        assert market.status == "settled"
        expected = settle(market.type, market.line_hundredths, 1, 0)
        for outcome in view.outcomes[market.id]:
            result = expected[outcome.key]
            assert outcome.result == ("won" if result.won else "lost")
            assert (outcome.void_factor or 0) == Decimal(result.void_factor.numerator) / Decimal(
                result.void_factor.denominator
            )
            assert outcome.dead_heat_factor is None
    seq = view.event.seq
    now[0] += timedelta(minutes=5)
    await simulator.tick(runtime.db)
    assert (await _view(runtime, first.external_id)).event.seq == seq


async def test_one_simulator_leads_the_others_idle(runtime: Runtime) -> None:
    key = random.randrange(1, 2**62)
    first, second = AdvisoryLock(runtime.db, key), AdvisoryLock(runtime.db, key)
    assert await first.acquire() and await first.held()
    assert not await second.acquire()
    await first.release()
    assert await second.acquire()
    await second.release()

    # Two replicas: the leader makes fixtures, the other waits without touching anything.
    leader_prefix, idle_prefix = _prefix(), _prefix()
    clock = datetime(2041, 1, 1, tzinfo=UTC)
    leader = Simulator(prefix=leader_prefix, days=1, clock=lambda: clock, lock_key=key)
    idle = Simulator(prefix=idle_prefix, days=1, clock=lambda: clock, lock_key=key)
    stop = asyncio.Event()
    leading = asyncio.create_task(leader.run(runtime.db, stop))
    for _ in range(100):
        if await _count(runtime, leader_prefix):
            break
        await asyncio.sleep(0.05)
    idling = asyncio.create_task(idle.run(runtime.db, stop))
    await asyncio.sleep(0.3)
    assert not await AdvisoryLock(runtime.db, key).acquire()
    stop.set()
    await asyncio.wait_for(asyncio.gather(leading, idling), 5)
    assert await _count(runtime, leader_prefix) == len(day_fixtures(clock.date()))
    assert await _count(runtime, idle_prefix) == 0
    lock = AdvisoryLock(runtime.db, key)  # released on stop
    assert await lock.acquire()
    await lock.release()


async def _count(runtime: Runtime, prefix: str) -> int:
    async with runtime.db.connect() as conn:
        found = await conn.scalar(
            sa.text("SELECT count(*) FROM events WHERE external_id LIKE :p"), {"p": f"{prefix}:%"}
        )
    return int(found or 0)
