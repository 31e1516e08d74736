"""Settling a bet whose legs are all resulted, through the ledger.

Per leg: factor = void_factor + (1 - void_factor) x (won ? odds x dead_heat_factor : 0); a line
multiplies its legs' factors, the bet returns the sum of its lines (capped at its max payout),
winnings tax per the country's regime at payout, and the money moves through the ledger. Each
step is idempotent: a redelivered result or a second settlement attempt changes nothing.

The consumer that calls this is `consumers.py`; corrections and rollbacks of a settled bet are
`resettlement.py`. A bet may settle more than once only through a rollback (its results were
withdrawn, it went back to open): each settlement after the n-th rollback has its own ledger key
`bet:{id}:settle:{n}`, and winnings tax always follows the regime in force when the bet FIRST
settled, so a correction delivered as rollback + new result is taxed like one delivered as a
correction (and a regime change in between does not leak in).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from letsbet.compliance.tax import PayoutBreakdown, payout_breakdown, regime_for
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
from letsbet.sportsbook.bets.domain import LegResult, Settlement, settle
from letsbet.sportsbook.bets.tables import bet_lines, bet_status_history

log = get_logger(__name__)

SETTLED_STATUSES = ("won", "lost", "void")  # cashed_out is final and never resettled
ROLLED_BACK = "settlement_rolled_back"  # status history reason of a rollback to open


async def settle_bet(
    conn: AsyncConnection, bet_id: uuid.UUID, *, now: datetime | None = None
) -> bool:
    """Settle one open bet whose legs all have results; False if it is not ready or done."""
    bet = await repo.bet_by_id(conn, bet_id, for_update=True)
    if bet is None or bet.status != "open":
        return False
    return await settle_locked(conn, bet, now=now)


async def settle_locked(conn: AsyncConnection, bet: Any, *, now: datetime | None = None) -> bool:
    """`settle_bet` for a bet row the caller has locked and found open."""
    legs = await repo.legs_of(conn, bet.id)
    if any(leg.result is None for leg in legs):
        return False
    now = now or datetime.now(UTC)
    lines = await repo.lines_of(conn, bet.id)
    outcome = outcome_of(bet, legs, lines)
    past = await settlement_history(conn, bet.id)
    taxes = payout_taxes(bet, outcome.returned, past.first_settled_at or now)
    spec = settlement_transfer(bet, outcome.returned, taxes, key=settle_key(bet.id, past.rollbacks))
    transfer = await ledger.post_transfer(conn, spec)
    await write_line_returns(conn, lines, outcome.line_returns)
    await repo.update_bet(
        conn,
        bet.id,
        status=outcome.status,
        return_amount=outcome.returned,
        winnings_tax=taxes.tax,
        payout=taxes.net_payout,
        settlement_transfer_id=transfer.id,
        settled_at=now,
    )
    await repo.record_status(conn, bet.id, outcome.status, at=now)
    await repo.release_exposure(
        conn,
        event_ids=sorted({leg.event_id for leg in legs}),
        currency=bet.currency,
        amount=bet.potential_return,
    )
    BETS_SETTLED.labels(outcome.status).inc()
    if taxes.net_payout:
        BETS_PAID.labels(bet.currency).inc(taxes.net_payout)
    await record(
        conn,
        Event(
            "sportsbook.bet.settled",
            {
                "bet_id": str(bet.id),
                "user_id": str(bet.user_id),
                "status": outcome.status,
                "currency": bet.currency,
                "total_stake": bet.total_stake,
                "return": outcome.returned,
                "winnings_tax": taxes.tax,
                "payout": taxes.net_payout,
            },
        ),
    )
    return True


def outcome_of(bet: Any, legs: Sequence[Any], lines: Sequence[Any]) -> Settlement:
    """How the bet settles on its legs' stored results (every leg must have one)."""
    results = [
        LegResult.of(leg.result == "won", leg.void_factor, leg.dead_heat_factor) for leg in legs
    ]
    return settle(
        bet.stake_per_line,
        [tuple(line.legs) for line in lines],
        [leg.odds_milli for leg in legs],
        results,
        max_payout=bet.max_payout,
    )


def payout_taxes(bet: Any, returned: int, at: datetime) -> PayoutBreakdown:
    """Winnings tax on a return, per the country's regime in force at `at`."""
    return payout_breakdown(
        regime_for(bet.country_code, at), stake=bet.total_stake, payout=returned
    )


async def write_line_returns(
    conn: AsyncConnection, lines: Sequence[Any], amounts: Sequence[int | None]
) -> None:
    """Store each line's return (None clears it), writing only the lines that change."""
    changed = [
        {"line_id": line.id, "amount": amount}
        for line, amount in zip(lines, amounts, strict=True)
        if line.return_amount != amount
    ]
    if changed:
        await conn.execute(
            sa.update(bet_lines)
            .where(bet_lines.c.id == sa.bindparam("line_id"))
            .values(return_amount=sa.bindparam("amount")),
            changed,
        )


@dataclass(frozen=True, slots=True)
class SettlementHistory:
    rollbacks: int  # how often the bet's settlement was rolled back
    first_settled_at: datetime | None  # when it first settled: the tax regime's date


async def settlement_history(conn: AsyncConnection, bet_id: uuid.UUID) -> SettlementHistory:
    h = bet_status_history
    row = (
        await conn.execute(
            sa.select(
                sa.func.count().filter(h.c.reason == ROLLED_BACK),
                sa.func.min(h.c.at).filter(h.c.status.in_(SETTLED_STATUSES)),
            ).where(h.c.bet_id == bet_id)
        )
    ).one()
    return SettlementHistory(rollbacks=int(row[0]), first_settled_at=row[1])


def settle_key(bet_id: uuid.UUID, rollbacks: int) -> str:
    """The ledger key of a bet's settlement: one per settlement between rollbacks."""
    return f"bet:{bet_id}:settle" if rollbacks == 0 else f"bet:{bet_id}:settle:{rollbacks}"


def settlement_transfer(
    bet: Any, returned: int, taxes: Any, *, key: str | None = None
) -> TransferSpec:
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
        idempotency_key=key or settle_key(bet.id, 0),
        type="bet.settle",
        country=bet.country_code,
        currency=bet.currency,
        entries=tuple(entries),
        reference=str(bet.id),
        metadata={"bet_id": str(bet.id), "return": returned},
    )
