"""Leader election and failover: two engines contend for one game's lock; the leader dies in
mid-flight and the standby finishes the round from the database alone, settling every bet
exactly once, even when the old leader wakes up and acts too."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from decimal import Decimal

import sqlalchemy as sa

from letsbet.crash.curve import multiplier_at, time_to_reach
from letsbet.crash.fairness import format_multiplier
from letsbet.crash.games import CrashGames
from letsbet.crash.leader import lock_key
from letsbet.crash.tables import crash_bets, crash_rounds
from letsbet.errors import LetsbetError
from letsbet.ledger.reconcile import check
from letsbet.ledger.tables import ledger_transfers
from letsbet.platform.leader import AdvisoryLock
from letsbet.platform.runtime import Runtime
from tests.crash.helpers import ManualClock, balance, funded_players, new_game
from tests.support import poll_until


async def _settlements(runtime: Runtime, bet_ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
    """How many cash-out transfers each bet has (exactly-once means at most one)."""
    keys = {f"crash:{bet_id}:settle": bet_id for bet_id in bet_ids}
    async with runtime.db.connect() as conn:
        rows = await conn.execute(
            sa.select(ledger_transfers.c.idempotency_key, sa.func.count())
            .where(ledger_transfers.c.idempotency_key.in_(list(keys)))
            .group_by(ledger_transfers.c.idempotency_key)
        )
        return {keys[key]: count for key, count in rows}


async def test_standby_finishes_the_round_of_a_dead_leader(runtime: Runtime) -> None:
    game = await new_game(runtime, first=lambda p: 400 <= p[0] <= 3000)
    crash, clock = game.crash_points[0], game.clock
    first, second = game.engine(), game.engine()  # two replicas, nothing shared but PostgreSQL
    lock_a = AdvisoryLock(runtime.db, lock_key(game.game_id))
    lock_b = AdvisoryLock(runtime.db, lock_key(game.game_id))
    players = await funded_players(runtime, 6)
    try:
        assert await lock_a.acquire()
        assert not await lock_b.acquire()  # one leader per game

        closes = await first.step()
        autos = ["1.30", "2.00", "3.50", format_multiplier(crash), format_multiplier(crash + 1)]
        bets = [
            await game.place(player, "10.00", auto)
            for player, auto in zip(players, [*autos, None], strict=True)
        ]
        clock.set(closes)
        await first.step()  # take-off
        clock.set(closes + timedelta(milliseconds=time_to_reach(250)))
        await first.step()  # the 1.30 and 2.00 auto-cash-outs
        settled = [await game.bet(b.id) for b in bets]
        assert [s.status for s in settled].count("cashed_out") == 2

        # The leader dies in mid-flight: its session ends and PostgreSQL frees the lock.
        assert await lock_a.held()
        connection = lock_a.connection
        assert connection is not None
        pid = await connection.scalar(sa.select(sa.func.pg_backend_pid()))
        await connection.commit()
        async with runtime.db.connect() as conn:
            await conn.execute(sa.select(sa.func.pg_terminate_backend(pid)))
        assert await poll_until(lock_b.acquire)
        assert not await lock_a.held() and await lock_b.held()

        # While nobody led, the api still served a cash-out at the curve's multiplier.
        clock.set(closes + timedelta(milliseconds=time_to_reach(260)))
        manual = await game.cash_out(players[5], bets[5].id)
        assert manual.cashout_multiplier == multiplier_at(time_to_reach(260))

        # The standby, with no memory of the round, flies it to its known crash point.
        clock.set(closes + timedelta(milliseconds=time_to_reach(crash) + 1000))
        await second.step()
        await first.step()  # the old leader wakes up late and acts too: nothing changes
        current = await game.latest_round()
        assert current.status == "crashed"
        assert current.crashed_at == closes + timedelta(milliseconds=time_to_reach(crash))

        settled = [await game.bet(b.id) for b in bets]
        assert [s.cashout_multiplier for s in settled] == [
            130,
            200,
            350,
            crash,
            None,
            manual.cashout_multiplier,
        ]
        assert [s.status for s in settled].count("lost") == 1
        counts = await _settlements(runtime, [b.id for b in bets])
        assert sorted(counts.values()) == [1] * 5  # five cash-outs, each paid once
        for player, bet in zip(players, settled, strict=True):
            assert await balance(runtime, player) == 1_000_00 - 10_00 + (bet.payout or 0)

        # The next round takes the next link, once, whoever opens it.
        clock.advance(hours=1)
        await asyncio.gather(second.step(), first.step())
        async with runtime.db.connect() as conn:
            numbers = (
                (
                    await conn.execute(
                        sa.select(crash_rounds.c.game_number)
                        .where(crash_rounds.c.game_id == game.game_id)
                        .order_by(crash_rounds.c.id)
                    )
                )
                .scalars()
                .all()
            )
        assert numbers == [1, 2]
        assert (await check(runtime.db)).sound
    finally:
        await lock_a.release()
        await lock_b.release()


async def test_two_engines_acting_at_once_settle_each_bet_once(runtime: Runtime) -> None:
    # Split brain (say, a leader stalled past its lock): both step the same round concurrently.
    game = await new_game(runtime, first=lambda p: 300 <= p[0] <= 5000)
    crash, clock = game.crash_points[0], game.clock
    engines = [game.engine(), game.engine()]
    players = await funded_players(runtime, 20)
    closes = await engines[0].step()
    targets = [f"{1 + (i % 10) * 0.25 + 0.01:.2f}" for i in range(20)]
    bets = [await game.place(p, "5.00", t) for p, t in zip(players, targets, strict=True)]
    clock.set(closes)
    await asyncio.gather(*(engine.step() for engine in engines))
    for ms in range(0, time_to_reach(crash) + 2000, 700):
        clock.set(closes + timedelta(milliseconds=ms))
        await asyncio.gather(*(engine.step() for engine in engines))
    assert (await game.latest_round()).status == "crashed"
    counts = await _settlements(runtime, [b.id for b in bets])
    assert all(count == 1 for count in counts.values())
    async with runtime.db.connect() as conn:
        statuses = (
            await conn.execute(
                sa.select(crash_bets.c.status, sa.func.count())
                .where(crash_bets.c.id.in_([b.id for b in bets]))
                .group_by(crash_bets.c.status)
            )
        ).all()
    winners = sum(1 for t in targets if int(Decimal(t) * 100) <= crash)
    assert dict(statuses) == {
        k: v for k, v in {"cashed_out": winners, "lost": 20 - winners}.items() if v
    }
    assert len(counts) == winners
    assert (await check(runtime.db)).sound


async def test_a_cash_out_racing_the_crash_settles_once(runtime: Runtime) -> None:
    game = await new_game(runtime, first=lambda p: 200 <= p[0] <= 1000)
    crash, clock = game.crash_points[0], game.clock
    engine = game.engine()
    players = await funded_players(runtime, 12)
    closes = await engine.step()
    bets = [await game.place(p, "10.00") for p in players]
    clock.set(closes)
    await engine.step()
    crash_at = closes + timedelta(milliseconds=time_to_reach(crash))
    # The api received these cash-outs 1 ms before the crash; the engine crashes concurrently.
    just_before = ManualClock(crash_at - timedelta(milliseconds=1))
    api = CrashGames(runtime, games={game.game_id: game.config}, clock=just_before)
    clock.set(crash_at)
    results = await asyncio.gather(
        engine.step(),
        *(api.cash_out(user_id=p, bet_id=b.id) for p, b in zip(players, bets, strict=True)),
        return_exceptions=True,
    )
    outcomes = results[1:]
    for player, bet, outcome in zip(players, bets, outcomes, strict=True):
        row = await game.bet(bet.id)
        if isinstance(outcome, LetsbetError):
            assert outcome.code == "round_crashed" and row.status == "lost"
            assert await balance(runtime, player) == 1_000_00 - 10_00
        else:
            assert not isinstance(outcome, BaseException), outcome
            assert row.status == "cashed_out" and row.cashout_multiplier < crash
            assert await balance(runtime, player) == 1_000_00 - 10_00 + row.payout
    counts = await _settlements(runtime, [b.id for b in bets])
    assert all(count == 1 for count in counts.values())
    assert (await check(runtime.db)).sound
