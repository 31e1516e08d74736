"""Many players at once: concurrent bets and cash-outs against the engine's own settlement,
round after round; no money created or lost (`letsbet ledger check` sound) and every bet
settled exactly once."""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from letsbet.crash.curve import payout, time_to_reach
from letsbet.crash.tables import crash_bets
from letsbet.ledger.reconcile import check
from letsbet.ledger.tables import ledger_transfers
from letsbet.platform.runtime import Runtime
from tests.crash.helpers import balance, funded_players, new_game, step_until

PLAYERS = 40
ROUNDS = 2


async def test_many_players_keep_the_books_sound(runtime: Runtime) -> None:
    rng = random.Random(5)
    game = await new_game(
        runtime, first=lambda p: all(150 <= x <= 400 for x in p), look_ahead=ROUNDS
    )
    clock, engine = game.clock, game.engine()
    players = await funded_players(runtime, PLAYERS)
    placed: list[Any] = []
    for number in range(ROUNDS):
        opened = await step_until(engine, clock, "betting")
        crash = game.crash_points[number]

        async def bet(player: uuid.UUID) -> list[Any]:
            autos = [None, "1.10", "1.50", "2.00", "3.00", "9.99"]
            return [
                await game.place(player, f"{rng.randint(1, 50)}.00", rng.choice(autos))
                for _ in range(rng.randint(1, 2))
            ]

        bets = [b for group in await asyncio.gather(*(bet(p) for p in players)) for b in group]
        placed.extend(bets)
        clock.set(opened.betting_closes_at)
        await engine.step()
        # Cash-outs from every player race the engine's auto-cash-outs, steps and the crash.
        for ms in range(0, time_to_reach(crash) + 500, 600):
            clock.set(opened.betting_closes_at + timedelta(milliseconds=ms))
            chosen = rng.sample(bets, k=len(bets) // 8)
            await asyncio.gather(
                engine.step(),
                *(game.cash_out(b.user_id, b.id) for b in chosen),
                return_exceptions=True,
            )
        await step_until(engine, clock, "crashed")

    ids = [b.id for b in placed]
    async with runtime.db.connect() as conn:
        rows = (await conn.execute(sa.select(crash_bets).where(crash_bets.c.id.in_(ids)))).all()
        settle_keys = (
            (
                await conn.execute(
                    sa.select(ledger_transfers.c.idempotency_key).where(
                        ledger_transfers.c.idempotency_key.in_([f"crash:{i}:settle" for i in ids])
                    )
                )
            )
            .scalars()
            .all()
        )
    assert len(rows) == len(placed) and all(r.status in ("cashed_out", "lost") for r in rows)
    cashed = [r for r in rows if r.status == "cashed_out"]
    assert len(settle_keys) == len(set(settle_keys)) == len(cashed)  # one payout per winner
    for r in cashed:
        assert r.payout == payout(r.amount, r.cashout_multiplier) and r.net_payout == r.payout
        if r.auto_cashout is not None:
            assert r.cashout_multiplier <= r.auto_cashout
    # Each player's balance is exactly what their bets say.
    spent: dict[uuid.UUID, int] = {p: 0 for p in players}
    for r in rows:
        spent[r.user_id] += (r.net_payout or 0) - r.amount
    for player in players:
        assert await balance(runtime, player) == 1_000_00 + spent[player]
    report = await check(runtime.db)
    assert report.sound, report.lines()
