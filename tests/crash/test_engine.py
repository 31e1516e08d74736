"""Rounds driven end to end on real PostgreSQL, Redis and NATS with a clock moved by hand:
betting window, flight, cash-outs (manual, auto, cap), crash, settlement through the ledger."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from letsbet.accounts.tables import users
from letsbet.crash import domain, leaderboard
from letsbet.crash.curve import multiplier_at, time_to_reach
from letsbet.crash.fairness import crash_point, format_multiplier, previous_link, verify_chain
from letsbet.crash.tables import crash_chains
from letsbet.errors import LetsbetError
from letsbet.ledger.reconcile import check
from letsbet.ledger.tables import ledger_transfers
from letsbet.platform.bus.tables import outbox
from letsbet.platform.runtime import Runtime
from tests.crash.helpers import (
    SALT,
    Frames,
    ManualClock,
    balance,
    funded_players,
    new_game,
    step_until,
)


async def test_a_round_from_betting_to_crash(runtime: Runtime) -> None:
    game = await new_game(runtime, first=lambda p: p[0] >= 300)
    crash = game.crash_points[0]
    frames = await Frames.listen(runtime, game.game_id)
    engine, clock = game.engine(), game.clock
    manual, auto, rider = await funded_players(runtime, 3)
    try:
        closes = await engine.step()  # opens round 1
        assert closes == clock() + game.config.betting_window
        current = await game.latest_round()
        assert (current.status, current.game_number, current.crash_point) == ("betting", 1, crash)

        first = await game.place(manual, "100.00")
        second = await game.place(auto, "100.00", "2.00")
        third = await game.place(rider, "50.00", format_multiplier(crash + 1))
        assert (first.status, second.auto_cashout, third.amount) == ("active", 200, 50_00)
        assert await balance(runtime, manual) == 900_00

        clock.set(closes)
        await engine.step()  # takes off
        current = await game.latest_round()
        assert (current.status, current.started_at) == ("flying", closes)

        clock.advance(milliseconds=1000)  # 1.06x
        await engine.step()
        cashed = await game.cash_out(manual, first.id)
        assert (cashed.status, cashed.cashout_multiplier, cashed.payout) == (
            "cashed_out",
            106,
            106_00,
        )
        assert cashed.cashout_kind == "manual" and cashed.net_payout == 106_00

        clock.set(closes + timedelta(milliseconds=time_to_reach(230)))
        await engine.step()  # the 2.00 auto-cash-out was passed: paid at exactly 2.00
        assert (await game.bet(second.id)).cashout_multiplier == 200

        clock.set(closes + timedelta(milliseconds=time_to_reach(crash)))
        due = await engine.step()  # crashes
        current = await game.latest_round()
        assert current.status == "crashed"
        assert current.crashed_at == closes + timedelta(milliseconds=time_to_reach(crash))
        assert due == current.crashed_at + game.config.cooldown
        assert (await game.bet(third.id)).status == "lost"

        assert await balance(runtime, manual) == 1_000_00 - 100_00 + 106_00
        assert await balance(runtime, auto) == 1_000_00 - 100_00 + 200_00
        assert await balance(runtime, rider) == 1_000_00 - 50_00

        # The live feed, in order; nothing before `crashed` carries the crash point or hash.
        crashed = (await frames.wait_for("crashed"))[0]
        kinds = frames.types()
        assert kinds[:5] == [
            "round_starting",
            "bet_placed",
            "bet_placed",
            "bet_placed",
            "round_started",
        ]
        assert kinds[-1] == "crashed" and kinds.count("cashed_out") == 2
        assert [f["multiplier"] for f in frames.of("cashed_out")] == ["1.06", "2.00"]
        assert frames.of("tick")[0]["current_multiplier"] == "1.00"
        second_tick = frames.of("tick")[1]
        assert (second_tick["elapsed_ms"], second_tick["current_multiplier"]) == (1000, "1.06")
        before_crash = str(frames.items[:-1])
        assert current.game_hash not in before_crash and "crash_point" not in before_crash
        assert crashed["crash_point"] == format_multiplier(crash)
        assert crashed["game_hash"] == current.game_hash == game.game_hash(1)

        # Provably fair: the revealed hash is game 1 of the committed chain, and its crash point.
        async with runtime.db.connect() as conn:
            terminating = await conn.scalar(
                sa.select(crash_chains.c.terminating_hash).where(
                    crash_chains.c.game_id == game.game_id
                )
            )
        assert previous_link(crashed["game_hash"]) == terminating
        assert verify_chain(crashed["game_hash"], terminating, max_games=10) == 1
        assert crash_point(crashed["game_hash"], SALT) == crash

        # The durable record: every bet, cash-out and the crash went through the outbox.
        async with runtime.db.connect() as conn:
            subjects = (
                (
                    await conn.execute(
                        sa.select(outbox.c.subject)
                        .where(
                            outbox.c.subject.startswith("crash."),
                            sa.or_(
                                outbox.c.payload["data"]["round_id"].as_integer() == current.id,
                            ),
                        )
                        .order_by(outbox.c.seq)
                    )
                )
                .scalars()
                .all()
            )
        assert subjects == [
            *["crash.bet.placed"] * 3,
            *["crash.bet.cashed_out"] * 2,
            "crash.round.crashed",
        ]

        # A cash-out after the crash: the cashed bet answers with its cash-out, the lost one 409.
        again = await game.cash_out(manual, first.id)
        assert again.replayed and again.payout == 106_00
        with pytest.raises(domain.RoundCrashed):
            await game.cash_out(rider, third.id)
        assert (await check(runtime.db)).sound
    finally:
        await frames.close()


async def test_bets_only_in_the_betting_window(runtime: Runtime) -> None:
    game = await new_game(runtime, max_bets_per_player=2)
    engine, clock = game.engine(), game.clock
    (player,) = await funded_players(runtime, 1)
    with pytest.raises(domain.BettingClosed):  # no round yet
        await game.place(player, "10.00")
    closes = await engine.step()

    async def keyed(amount: int) -> Any:
        return await game.games.place_bet(
            user_id=player,
            country="KE",
            game_id=game.game_id,
            amount=Decimal(amount),
            auto_cashout=None,
            idempotency_key="same-key",
        )

    bet = await keyed(10)
    await game.place(player, "10.00")
    with pytest.raises(domain.TooManyBets):
        await game.place(player, "10.00")
    late, later, flying = await funded_players(runtime, 3)
    clock.set(closes - timedelta(milliseconds=1))
    await game.place(late, "10.00")  # the last millisecond counts
    clock.set(closes)
    with pytest.raises(domain.BettingClosed):  # window over, even before take-off
        await game.place(later, "10.00")
    await engine.step()
    with pytest.raises(domain.BettingClosed):  # in flight
        await game.place(flying, "10.00")
    # A retry of a bet taken in the window answers with that bet, not an error.
    replay = await keyed(10)
    assert replay.replayed and replay.id == bet.id
    with pytest.raises(LetsbetError) as conflict:
        await keyed(11)
    assert conflict.value.code == "idempotency_conflict"
    assert await balance(runtime, player) == 1_000_00 - 20_00


@pytest.mark.parametrize(
    ("amount", "auto", "code"),
    [
        ("0.50", None, "stake_below_minimum"),
        ("500001.00", None, "stake_above_maximum"),
        ("0", None, "invalid_amount"),
        ("1.001", None, "invalid_amount"),
        ("10.00", "1.00", "invalid_auto_cashout"),
        ("10.00", "abc", "invalid_auto_cashout"),
        ("2000.00", None, "insufficient_funds"),
    ],
)
async def test_bet_refusals(runtime: Runtime, amount: str, auto: str | None, code: str) -> None:
    game = await new_game(runtime)
    await game.engine().step()
    (player,) = await funded_players(runtime, 1)
    with pytest.raises(LetsbetError) as refused:
        await game.place(player, amount, auto)
    assert refused.value.code == code
    assert await balance(runtime, player) == 1_000_00


async def test_a_suspended_player_may_not_bet(runtime: Runtime) -> None:
    game = await new_game(runtime)
    await game.engine().step()
    (player,) = await funded_players(runtime, 1)
    async with runtime.db.transaction() as conn:
        await conn.execute(sa.update(users).where(users.c.id == player).values(status="suspended"))
    with pytest.raises(LetsbetError) as refused:
        await game.place(player, "10.00")
    assert refused.value.code == "player_not_eligible"


async def test_cash_out_during_betting_and_in_a_later_round(runtime: Runtime) -> None:
    game = await new_game(runtime, first=lambda p: p[0] < 150 and p[1] >= 200)
    engine, clock = game.engine(), game.clock
    (player,) = await funded_players(runtime, 1)
    closes = await engine.step()
    bet = await game.place(player, "10.00")
    with pytest.raises(domain.RoundNotStarted):
        await game.cash_out(player, bet.id)
    clock.set(closes)
    await step_until(engine, clock, "crashed")
    assert (await game.bet(bet.id)).status == "lost"
    opened = await step_until(engine, clock, "betting")
    assert opened.game_number == 2  # the next link of the chain, none skipped
    later = await game.place(player, "10.00")
    clock.set(opened.betting_closes_at)
    await engine.step()
    clock.advance(seconds=2)
    # The round-1 bet stays lost while round 2 flies; the round-2 bet cashes out.
    with pytest.raises(domain.RoundCrashed):
        await game.cash_out(player, bet.id)
    assert (await game.cash_out(player, later.id)).cashout_multiplier == multiplier_at(2000)
    (other,) = await funded_players(runtime, 1)
    with pytest.raises(domain.BetNotFound):  # someone else's bet
        await game.cash_out(other, later.id)


async def test_auto_cashouts_ascend_and_never_pass_the_crash(runtime: Runtime) -> None:
    game = await new_game(runtime, first=lambda p: 300 <= p[0] <= 2000)
    crash = game.crash_points[0]
    frames = await Frames.listen(runtime, game.game_id)
    engine, clock = game.engine(), game.clock
    players = await funded_players(runtime, 5)
    targets = ["1.50", format_multiplier(crash), format_multiplier(crash + 1), "1.20", "2.50"]
    try:
        closes = await engine.step()
        bets = [await game.place(p, "20.00", t) for p, t in zip(players, targets, strict=True)]
        clock.set(closes)
        await engine.step()
        # The leader was away for the whole flight: one step settles everything, in order.
        clock.advance(hours=1)
        await engine.step()
        settled = [await game.bet(b.id) for b in bets]
        assert [b.status for b in settled] == [
            "cashed_out",
            "cashed_out",
            "lost",
            "cashed_out",
            "cashed_out",
        ]
        assert [b.cashout_multiplier for b in settled] == [150, crash, None, 120, 250]
        assert [b.payout for b in settled] == [30_00, 20_00 * crash // 100, 0, 24_00, 50_00]
        await frames.wait_for("crashed")
        # Announced in ascending target order (the crash point is at least 3.00 here).
        assert [f["multiplier"] for f in frames.of("cashed_out")] == [
            "1.20",
            "1.50",
            "2.50",
            format_multiplier(crash),
        ]
        # The biggest win of the day is on the leaderboard.
        wins = await leaderboard.biggest_wins(
            runtime.redis, game_id=game.game_id, currency="KES", day=clock().date(), limit=5
        )
        assert wins[0]["multiplier"] == crash
        assert (await check(runtime.db)).sound
    finally:
        await frames.close()


async def test_max_profit_cap_force_cashes_everyone(runtime: Runtime) -> None:
    # Cap 50.00 KES of player profit per round; two 100.00 stakes riding reach it at 1.25x.
    game = await new_game(runtime, first=lambda p: p[0] >= 300, max_profit=50)
    engine, clock = game.engine(), game.clock
    a, b = await funded_players(runtime, 2)
    closes = await engine.step()
    first = await game.place(a, "100.00")
    second = await game.place(b, "100.00")
    clock.set(closes)
    await engine.step()
    assert (await game.latest_round()).cap_multiplier == 125
    # A cash-out at 1.10x frees room: 10.00 paid + 100.00 x (m - 1) <= 50.00 -> 1.40x.
    clock.set(closes + timedelta(milliseconds=time_to_reach(110)))
    assert (await game.cash_out(a, first.id)).cashout_multiplier == 110
    await engine.step()
    assert (await game.latest_round()).cap_multiplier == 140
    # The curve passes 1.40 before the engine steps: the cash-out is paid at the cap.
    clock.set(closes + timedelta(milliseconds=time_to_reach(150)))
    late = await game.cash_out(b, second.id)
    assert (late.cashout_multiplier, late.cashout_kind, late.payout) == (140, "cap", 140_00)
    await engine.step()
    # Profit paid this round: 10.00 + 40.00 = the cap, never more.
    assert await balance(runtime, a) + await balance(runtime, b) == 2_000_00 + 50_00


async def test_the_engine_force_cashes_at_the_cap(runtime: Runtime) -> None:
    game = await new_game(runtime, first=lambda p: p[0] >= 300, max_profit=50)
    engine, clock = game.engine(), game.clock
    players = await funded_players(runtime, 3)
    closes = await engine.step()
    bets = [
        await game.place(players[0], "100.00"),
        await game.place(players[1], "100.00", "1.10"),
        await game.place(players[2], "100.00", "5.00"),
    ]
    clock.set(closes)
    await engine.step()
    # 10.00 fixed by the 1.10 auto-cash-out, then 200.00 riding: 10 + 200 (m - 1) <= 50 -> 1.20
    assert (await game.latest_round()).cap_multiplier == 120
    clock.advance(seconds=10)
    await engine.step()
    settled = [await game.bet(bet.id) for bet in bets]
    assert [(s.cashout_multiplier, s.cashout_kind) for s in settled] == [
        (120, "cap"),
        (110, "auto"),
        (120, "cap"),
    ]
    assert sum(s.payout - s.amount for s in settled) <= 50_00


async def test_payouts_withhold_tax_per_country(runtime: Runtime) -> None:
    # Nigeria (Lagos): 5% withholding on net winnings at payout.
    game = await new_game(runtime, first=lambda p: p[0] >= 300)
    engine, clock = game.engine(), game.clock
    (player,) = await funded_players(runtime, 1, 1_000_00, "NG")
    closes = await engine.step()
    bet = await game.place(player, "200.00", "2.00", country="NG")
    clock.set(closes)
    await step_until(engine, clock, "crashed")
    settled = await game.bet(bet.id)
    # Won 400.00 on 200.00: 5% of the 200.00 net win withheld.
    assert (settled.payout, settled.winnings_tax, settled.net_payout) == (400_00, 10_00, 390_00)
    assert await balance(runtime, player, "NGN") == 1_000_00 - 200_00 + 390_00
    assert (await check(runtime.db)).sound


async def test_kenya_before_july_2025_took_excise_on_stakes(runtime: Runtime) -> None:
    from datetime import UTC, datetime

    clock = ManualClock(datetime(2025, 3, 1, 12, tzinfo=UTC))
    game = await new_game(runtime, clock, first=lambda p: p[0] >= 300)
    engine = game.engine()
    players = await funded_players(runtime, 2)
    closes = await engine.step()
    winner = await game.place(players[0], "100.00", "2.00")
    loser = await game.place(players[1], "100.00", format_multiplier(game.crash_points[0] + 1))
    assert winner.stake_tax == 15_00  # 15% excise on the stake
    clock.set(closes)
    await step_until(engine, clock, "crashed")
    won = await game.bet(winner.id)
    # 200.00 returned, 20% withholding on the 100.00 net win.
    assert (won.payout, won.winnings_tax, won.net_payout) == (200_00, 20_00, 180_00)
    assert (await game.bet(loser.id)).status == "lost"
    assert await balance(runtime, players[0]) == 1_000_00 - 100_00 + 180_00
    async with runtime.db.connect() as conn:
        types = (
            (
                await conn.execute(
                    sa.select(ledger_transfers.c.type).where(
                        ledger_transfers.c.reference == f"round:{won.round_id}"
                    )
                )
            )
            .scalars()
            .all()
        )
    assert types == ["crash.lost"]
    assert (await check(runtime.db)).sound


async def test_two_games_side_by_side(runtime: Runtime) -> None:
    clock = ManualClock()
    one = await new_game(runtime, clock)
    two = await new_game(runtime, clock)
    engines = [one.engine(), two.engine()]
    for _ in range(3):  # three rounds each
        for engine in engines:
            await step_until(engine, clock, "crashed")
            await step_until(engine, clock, "betting")
    for game in (one, two):
        current = await game.latest_round()
        assert current.game_number == 4 and current.game_hash == game.game_hash(4)
