"""Settling bets when their markets are resulted (role `settlement`).

Per leg: factor = void_factor + (1 - void_factor) x (won ? odds x dead_heat_factor : 0); a line
multiplies its legs' factors, the bet returns the sum of its lines (capped at its max payout),
winnings tax per the country's regime at payout, and the money moves through the ledger. Each
step is idempotent: a redelivered result or a second settlement attempt changes nothing.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from letsbet.compliance.tax import payout_breakdown, regime_for
from letsbet.ledger import service as ledger
from letsbet.ledger.domain import (
    Entry,
    House,
    HouseAccount,
    PlayerCash,
    TransferSpec,
    tax_entries,
)
from letsbet.platform.bus.outbox import Event, record
from letsbet.platform.observability import BETS_PAID, BETS_SETTLED, get_logger
from letsbet.sportsbook.bets import repository as repo
from letsbet.sportsbook.bets.domain import LegResult, bet_return, line_return
from letsbet.sportsbook.bets.tables import bet_legs, bet_lines, bets

log = get_logger(__name__)
SUBJECT = "sportsbook.market.resulted"


async def on_market_resulted(conn: AsyncConnection, event: Event) -> None:
    """Consumer of `sportsbook.market.resulted`: record leg results, settle finished bets."""
    data = event.data
    for outcome in data["outcomes"]:
        await conn.execute(
            sa.update(bet_legs)
            .where(bet_legs.c.outcome_id == int(outcome["outcome_id"]))
            .values(
                result=outcome["result"],
                void_factor=Decimal(str(outcome.get("void_factor") or "0")),
                dead_heat_factor=Decimal(str(outcome.get("dead_heat_factor") or "1")),
            )
        )
    bet_ids = (
        (
            await conn.execute(
                sa.select(bet_legs.c.bet_id)
                .distinct()
                .join(bets, bets.c.id == bet_legs.c.bet_id)
                .where(bet_legs.c.market_id == int(data["market_id"]), bets.c.status == "open")
            )
        )
        .scalars()
        .all()
    )
    for bet_id in sorted(bet_ids):
        await settle_bet(conn, bet_id)


async def settle_bet(
    conn: AsyncConnection, bet_id: uuid.UUID, *, now: datetime | None = None
) -> bool:
    """Settle one open bet whose legs all have results; False if it is not ready or done."""
    bet = await repo.bet_by_id(conn, bet_id, for_update=True)
    if bet is None or bet.status != "open":
        return False
    legs = await repo.legs_of(conn, bet_id)
    if any(leg.result is None for leg in legs):
        return False
    now = now or datetime.now(UTC)
    odds = [leg.odds_milli for leg in legs]
    results = [
        LegResult.of(leg.result == "won", leg.void_factor, leg.dead_heat_factor) for leg in legs
    ]
    lines = await repo.lines_of(conn, bet_id)
    combos = [tuple(line.legs) for line in lines]
    returned = bet_return(bet.stake_per_line, combos, odds, results, max_payout=bet.max_payout)
    all_void = all(r.void_factor == 1 for r in results)
    status = "void" if all_void else ("won" if returned > 0 else "lost")
    taxes = payout_breakdown(
        regime_for(bet.country_code, now), stake=bet.total_stake, payout=returned
    )
    transfer = await ledger.post_transfer(conn, settlement_transfer(bet, returned, taxes))
    for line in lines:
        amount = line_return(
            bet.stake_per_line, [odds[i] for i in line.legs], [results[i] for i in line.legs]
        )
        await conn.execute(
            sa.update(bet_lines).where(bet_lines.c.id == line.id).values(return_amount=amount)
        )
    await repo.update_bet(
        conn,
        bet_id,
        status=status,
        return_amount=returned,
        winnings_tax=taxes.tax,
        payout=taxes.net_payout,
        settlement_transfer_id=transfer.id,
        settled_at=now,
    )
    await repo.record_status(conn, bet_id, status)
    await repo.release_exposure(
        conn,
        event_ids=sorted({leg.event_id for leg in legs}),
        currency=bet.currency,
        amount=bet.potential_return,
    )
    BETS_SETTLED.labels(status).inc()
    if taxes.net_payout:
        BETS_PAID.labels(bet.currency).inc(taxes.net_payout)
    await record(
        conn,
        Event(
            "sportsbook.bet.settled",
            {
                "bet_id": str(bet_id),
                "user_id": str(bet.user_id),
                "status": status,
                "currency": bet.currency,
                "total_stake": bet.total_stake,
                "return": returned,
                "winnings_tax": taxes.tax,
                "payout": taxes.net_payout,
            },
        ),
    )
    return True


def settlement_transfer(bet: Any, returned: int, taxes: Any) -> TransferSpec:
    """Stakes in play release the net stake: the player gets the return less withholding,
    the tax goes to withholding payable, and the difference is the book's revenue."""
    net_stake = bet.total_stake - bet.stake_tax
    entries: list[Entry] = [Entry(House(HouseAccount.STAKES_IN_PLAY), -net_stake)]
    if taxes.net_payout:
        entries.append(Entry(PlayerCash(bet.user_id), taxes.net_payout))
    entries.extend(tax_entries(taxes.lines))
    if net_stake != returned:
        entries.append(Entry(House(HouseAccount.SPORTSBOOK_REVENUE), net_stake - returned))
    return TransferSpec(
        idempotency_key=f"bet:{bet.id}:settle",
        type="bet.settle",
        country=bet.country_code,
        currency=bet.currency,
        entries=tuple(entries),
        reference=str(bet.id),
        metadata={"bet_id": str(bet.id), "return": returned},
    )
