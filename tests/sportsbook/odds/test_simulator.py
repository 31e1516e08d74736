"""The simulated feed on real PostgreSQL: a week of fixtures across sports and countries made
once, matches of each sport played in fake time to results that settle bets through the real
pipeline, margins as configured, a restart mid-match, and one leader among replicas."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from letsbet.platform.bus.tables import outbox
from letsbet.platform.config import ConfigError, load_settings
from letsbet.platform.leader import AdvisoryLock
from letsbet.platform.observability import ODDS_OVERROUND
from letsbet.platform.runtime import Runtime
from letsbet.sportsbook.catalogue import service
from letsbet.sportsbook.markets import GAME_MARKETS, PUSH, settle
from letsbet.sportsbook.odds import tennis
from letsbet.sportsbook.odds.feed import FixtureChange, apply_message
from letsbet.sportsbook.odds.pricing import MarginMethod, overround
from letsbet.sportsbook.odds.simulator import (
    MARGIN,
    METHOD,
    SimFixture,
    Simulator,
    day_fixtures,
)
from tests.sportsbook.bets.helpers import balance, bet_body, funded_player, post, settle_from_outbox

Now = list[datetime]
Placed = list[tuple[str, tuple[str, int | None], str, int]]  # bet, market, outcome key, odds


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


async def _only(
    runtime: Runtime, sport_id: str, day: date, **options: Any
) -> tuple[Simulator, SimFixture, Now]:
    """A simulator with a day of fixtures of which only the first of `sport_id` stays on."""
    prefix, now = _prefix(), [datetime(day.year, day.month, day.day, tzinfo=UTC)]
    simulator = Simulator(prefix=prefix, days=1, clock=lambda: now[0], **options)
    await simulator.ensure_fixtures(runtime.db)
    fixtures = day_fixtures(day, prefix=prefix)
    chosen = next(f for f in fixtures if f.fixture.sport_id == sport_id)
    async with runtime.db.transaction() as conn:
        for other in fixtures:
            if other is not chosen:
                message = FixtureChange(other.fixture.external_id, status="cancelled")
                await apply_message(conn, message)
    return simulator, chosen, now


async def _bet_on_everything(
    client: httpx.AsyncClient, runtime: Runtime, view: service.EventView, headers: dict[str, str]
) -> Placed:
    """A 10.00 single on every outcome at its price before kick-off."""
    placed: Placed = []
    for market in view.markets:
        for outcome in view.outcomes[market.id]:
            odds = service.format_odds(outcome.odds_milli)
            response = await post(client, bet_body([(outcome.id, odds)], stake="10.00"), headers)
            assert response.status_code == 201, response.text
            key = (market.type, market.line_hundredths)
            placed.append((response.json()["id"], key, outcome.key, outcome.odds_milli))
    return placed


async def _check_settled(
    client: httpx.AsyncClient,
    runtime: Runtime,
    view: service.EventView,
    placed: Placed,
    expected: dict[tuple[str, int | None], dict[str, Any]],
    user: uuid.UUID,
    headers: dict[str, str],
) -> None:
    """Every bet settled as `expected` (markets.settle results) says, paid through the ledger."""
    assert await settle_from_outbox(runtime, view.event.id) == len(view.markets)
    paid = 0
    for bet_id, market, key, odds in placed:
        bet = (await client.get(f"/api/bets/{bet_id}", headers=headers)).json()
        result = expected[market][key]
        returned = int(1000 * result.factor(odds))  # 10.00 in minor units, rounded down
        status = "void" if result.void_factor == 1 else "won" if returned else "lost"
        assert (bet["status"], bet["returned"]) == (
            status,
            f"{returned // 100}.{returned % 100:02d}",
        )
        paid += int(Decimal(bet["payout"]) * 100)
    assert (await balance(runtime, user)).balance == 10_000_00 - 10_00 * len(placed) + paid


# -- fixtures ---------------------------------------------------------------------------------
def test_fixtures_are_deterministic_per_seed_and_day() -> None:
    day = date(2040, 1, 1)
    assert day_fixtures(day) == day_fixtures(day)
    assert day_fixtures(day, seed=1) != day_fixtures(day, seed=2)
    days = [day_fixtures(day + timedelta(days=n)) for n in range(7)]
    assert all(10 <= len(fixtures) <= 20 for fixtures in days)
    week = [f.fixture for fixtures in days for f in fixtures]
    assert len({f.external_id for f in week}) == len(week)
    assert {f.region for f in week} >= {"Kenya", "Nigeria", "Ghana", "International"}
    assert Counter(f.sport_id for f in week).keys() == {"football", "basketball", "tennis"}
    regions_by_sport = {(f.sport_id, f.region) for f in week}
    for sport in ("football", "basketball", "tennis"):
        assert {(sport, r) for r in ("Kenya", "Nigeria", "Ghana", "International")} <= (
            regions_by_sport
        )
    for fixtures in days:
        starts = [f.fixture.starts_at for f in fixtures]
        assert starts == sorted(starts)
        sides = [s for f in fixtures for s in (f.fixture.home, f.fixture.away)]
        assert len(sides) == len(set(sides))


@pytest.mark.parametrize(("margin", "method"), [(MARGIN, METHOD), (0.08, "proportional")])
async def test_a_week_of_fixtures_is_created_once_with_the_margin(
    runtime: Runtime, margin: float, method: MarginMethod
) -> None:
    prefix, start = _prefix(), datetime(2040, 3, 1, tzinfo=UTC)
    days = 7 if method == METHOD else 2
    expected = [
        f
        for n in range(days)
        for f in day_fixtures(start.date() + timedelta(days=n), prefix=prefix)
    ]
    options: dict[str, Any] = {"margin": margin, "method": method, "days": days}
    simulator = Simulator(prefix=prefix, clock=lambda: start, **options)
    assert await simulator.ensure_fixtures(runtime.db) == len(expected)
    assert await simulator.ensure_fixtures(runtime.db) == 0
    assert (
        await Simulator(prefix=prefix, clock=lambda: start, **options).ensure_fixtures(runtime.db)
        == 0
    )

    shapes = {
        "football": {"1x2", "double_chance", "btts", "over_under", "asian_handicap"},
        "basketball": {"moneyline", "over_under", "asian_handicap"},
        "tennis": {"moneyline", "asian_handicap", "total_games", "game_handicap"},
    }
    for sport, types in shapes.items():
        sim = next(f for f in expected if f.fixture.sport_id == sport)
        view = await _view(runtime, sim.fixture.external_id)
        assert view.event.status == "scheduled" and view.event.sport_id == sport
        assert {m.type for m in view.markets} == types
        for market in view.markets:
            book = overround([o.odds_milli for o in view.outcomes[market.id]])
            target = 1 + 2 * margin if market.type == "double_chance" else margin
            assert abs(book - Fraction(target)) < Fraction(5, 1000), (market.type, float(book))
        gauge = ODDS_OVERROUND.labels(sport=sport)._value.get()
        assert gauge == pytest.approx(margin, abs=2e-3)


def test_the_margin_is_configured_and_checked() -> None:
    settings = load_settings()
    assert (settings.odds_margin, settings.odds_margin_method) == (MARGIN, METHOD)
    assert settings.odds_sim_speed == 1.0
    tuned = load_settings(odds_margin="0.045", odds_margin_method="proportional")
    assert (tuned.odds_margin, tuned.odds_margin_method) == (0.045, "proportional")
    for variable, value in (
        ("odds_margin", "0.6"),
        ("odds_margin", "-0.01"),
        ("odds_margin", "nan"),
        ("odds_margin_method", "shin"),
        ("odds_sim_speed", "0"),
    ):
        with pytest.raises(ConfigError) as caught:
            load_settings(**{variable: value})
        assert caught.value.variable == variable.upper()


# -- play -------------------------------------------------------------------------------------
async def test_a_football_match_is_suspended_around_a_goal_and_settles_bets(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    # speed 3: a match minute every 20 s; a home goal at the 30th minute's draw.
    goal = Script([0.999] * 58 + [0.0])
    simulator, sim, now = await _only(runtime, "football", date(2040, 6, 1), speed=3.0, rng=goal)
    first = sim.fixture
    user, headers = await funded_player(runtime)
    placed = await _bet_on_everything(
        client, runtime, await _view(runtime, first.external_id), headers
    )

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

    results = {
        (m.type, m.line_hundredths): settle(m.type, m.line_hundredths, 1, 0) for m in view.markets
    }
    await _check_settled(client, runtime, view, placed, results, user, headers)


async def test_a_basketball_game_is_played_by_quarters_and_settles_bets(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    # speed 60: a game minute a second; ticks every game minute.
    simulator, sim, now = await _only(
        runtime, "basketball", date(2040, 6, 2), speed=60.0, rng=random.Random(4)
    )
    fixture = sim.fixture
    user, headers = await funded_player(runtime)
    placed = await _bet_on_everything(
        client, runtime, await _view(runtime, fixture.external_id), headers
    )
    for minute in range(0, 120):
        now[0] = fixture.starts_at + timedelta(seconds=minute)
        await simulator.tick(runtime.db)
        if (await _view(runtime, fixture.external_id)).event.status == "ended":
            break
    view = await _view(runtime, fixture.external_id)
    home, away = view.event.home_score, view.event.away_score
    assert view.event.status == "ended" and home != away and 100 < home + away < 260
    assert {m.status for m in view.markets} == {"settled"}

    recorded = await _recorded(runtime, view.event.id)
    suspended = [
        d
        for s, d in recorded
        if s == "sportsbook.market.status_changed" and d["status"] == "suspended"
    ]
    assert len(suspended) >= 3 * len(view.markets)  # three breaks at least
    moves = [s for s, _ in recorded if s == "sportsbook.odds.changed"]
    assert len(moves) > 30  # prices move about every game minute

    results = {
        (m.type, m.line_hundredths): settle(m.type, m.line_hundredths, home, away)
        for m in view.markets
    }
    await _check_settled(client, runtime, view, placed, results, user, headers)


async def _play_tennis(
    runtime: Runtime, simulator: Simulator, sim: SimFixture, now: Now, minutes: range
) -> service.EventView:
    for minute in minutes:
        now[0] = sim.fixture.starts_at + timedelta(seconds=minute)  # speed 60
        await simulator.tick(runtime.db)
        view = await _view(runtime, sim.fixture.external_id)
        if view.event.status == "ended":
            break
    return view


async def test_a_tennis_match_is_played_game_by_game_and_settles_bets(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    simulator, sim, now = await _only(
        runtime, "tennis", date(2040, 6, 3), speed=60.0, rng=random.Random(9)
    )
    user, headers = await funded_player(runtime)
    placed = await _bet_on_everything(
        client, runtime, await _view(runtime, sim.fixture.external_id), headers
    )
    view = await _play_tennis(runtime, simulator, sim, now, range(0, 400, 4))
    assert view.event.status == "ended"
    sets = (view.event.home_score, view.event.away_score)
    assert max(sets) == 2 and min(sets) < 2
    assert {m.status for m in view.markets} == {"settled"}

    recorded = await _recorded(runtime, view.event.id)
    stops = [
        d
        for s, d in recorded
        if s == "sportsbook.market.status_changed" and d["status"] == "suspended"
    ]
    assert len(stops) >= sum(sets) * len(view.markets)  # each set's end at least
    # The simulator drew one number a game from its rng: the same draws replay the match.
    replay = tennis.advance(sim.model, tennis.Match(), 10_000, random.Random(9))[-1].state
    assert (replay.home_sets, replay.away_sets) == sets
    games = (replay.home_total, replay.away_total)
    results = {}
    for m in view.markets:
        counts = games if m.type in GAME_MARKETS else sets
        results[m.type, m.line_hundredths] = settle(m.type, m.line_hundredths, *counts)
    await _check_settled(client, runtime, view, placed, results, user, headers)


async def test_a_restart_mid_match_voids_what_it_cannot_settle(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    simulator, sim, now = await _only(
        runtime, "tennis", date(2040, 6, 4), speed=60.0, rng=random.Random(2)
    )
    user, headers = await funded_player(runtime)
    placed = await _bet_on_everything(
        client, runtime, await _view(runtime, sim.fixture.external_id), headers
    )
    view = await _play_tennis(runtime, simulator, sim, now, range(0, 60, 4))  # 15 games in
    assert view.event.status == "live"
    # A new leader knows the sets from the database, not the games of the sets before: it
    # suspends the game markets for good and plays on.
    successor = Simulator(
        prefix=simulator.prefix, days=1, clock=simulator.clock, speed=60.0, rng=random.Random(3)
    )
    view = await _play_tennis(runtime, successor, sim, now, range(60, 61))
    statuses = {m.type: m.status for m in view.markets}
    assert statuses == {
        "moneyline": "open",
        "asian_handicap": "open",
        "total_games": "suspended",
        "game_handicap": "suspended",
    }
    view = await _play_tennis(runtime, successor, sim, now, range(64, 400, 4))
    assert view.event.status == "ended"
    sets = (view.event.home_score, view.event.away_score)
    results: dict[tuple[str, int | None], dict[str, Any]] = {}
    for m in view.markets:
        outcomes = view.outcomes[m.id]
        if m.type in GAME_MARKETS:
            assert {(o.result, o.void_factor) for o in outcomes} == {("lost", Decimal(1))}
            results[m.type, m.line_hundredths] = {o.key: PUSH for o in outcomes}
        else:
            results[m.type, m.line_hundredths] = settle(m.type, m.line_hundredths, *sets)
    await _check_settled(client, runtime, view, placed, results, user, headers)


# -- leadership -------------------------------------------------------------------------------
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
    expected = len(day_fixtures(clock.date()))
    for _ in range(200):
        if await _count(runtime, leader_prefix) == expected:
            break
        await asyncio.sleep(0.05)
    idling = asyncio.create_task(idle.run(runtime.db, stop))
    await asyncio.sleep(0.3)
    assert not await AdvisoryLock(runtime.db, key).acquire()
    stop.set()
    await asyncio.wait_for(asyncio.gather(leading, idling), 5)
    assert await _count(runtime, leader_prefix) == expected
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
