"""Resettling settled bets when their results change: corrections and rollbacks.

A settled bet (won, lost or void) whose legs' results changed is brought in line with them:

- every leg still resulted: the bet is **resettled**. One correcting transfer
  (`bet:{id}:resettle:{market_id}:{seq}`, type `bet.resettle`) posts the net difference between
  the settlement it had and the one it has now: player cash, withholding tax payable and
  sportsbook revenue each move by the difference; stakes in play do not move.
- a leg lost its result (its market's settlement was rolled back): the bet is **rolled back**
  to open. One reversing transfer (`bet:{id}:rollback:{market_id}:{seq}`, type `bet.rollback`)
  undoes its settlement, the net stake returns to stakes in play and the bet's liability is
  added back; a later result settles it again through `settlement.settle_locked`.

Winnings tax is recomputed with the regime in force when the bet first settled: a correction
amends that payout, so a regime change in between must not leak in.

Cash-outs are final: a cashed-out bet is never resettled or rolled back (the player accepted a
price for the bet as it stood; its legs' later results do not concern that contract).

A correction that takes back winnings the player has already spent or withdrawn takes them in
full: the player's balance may go below zero for these two transfer types only (a debt later
deposits repay, see `ledger.domain.OVERDRAFT_TYPES`); the ledger logs and counts each overdraft.

Keys carry the market and the catalogue's `seq` of the change, so a redelivered event is a no-op
and two successive corrections each apply once.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from letsbet.compliance.tax import PayoutBreakdown
from letsbet.ledger import service as ledger
from letsbet.ledger.domain import Entry, TransferSpec, net_entries
from letsbet.platform.bus.outbox import Event, record
from letsbet.platform.observability import (
    BETS_RESETTLED,
    BETS_RESETTLED_AMOUNT,
    BETS_ROLLED_BACK,
    get_logger,
)
from letsbet.sportsbook.bets import repository as repo
from letsbet.sportsbook.bets.domain import Settlement
from letsbet.sportsbook.bets.settlement import (
    ROLLED_BACK,
    SETTLED_STATUSES,
    outcome_of,
    payout_taxes,
    settlement_history,
    settlement_transfer,
    write_line_returns,
)

log = get_logger(__name__)

RESETTLED = "resettled"  # status history reason of a correction


class SettlementMismatch(RuntimeError):
    """The bet's stored payout is not what its settlement computes: refuse to move money on a
    guess (the consumer retries and logs it; someone must look)."""


async def correct_bet(
    conn: AsyncConnection,
    bet: Any,
    *,
    market_id: int,
    seq: int,
    now: datetime | None = None,
) -> bool:
    """Bring a settled bet, locked by the caller, in line with its legs' current results;
    False when nothing changed (a redelivery, or a correction that does not affect it)."""
    if bet.status not in SETTLED_STATUSES:
        return False
    now = now or datetime.now(UTC)
    legs = await repo.legs_of(conn, bet.id)
    lines = await repo.lines_of(conn, bet.id)
    if any(leg.result is None for leg in legs):
        await _roll_back(conn, bet, legs, lines, market_id=market_id, seq=seq, now=now)
        return True
    new = outcome_of(bet, legs, lines)
    if (new.status, new.returned) == (bet.status, bet.return_amount):
        await write_line_returns(conn, lines, new.line_returns)  # a cap can hide a line's change
        return False
    await _resettle(conn, bet, lines, new, market_id=market_id, seq=seq, now=now)
    return True


async def _old_settlement(
    conn: AsyncConnection, bet: Any, now: datetime
) -> tuple[datetime, PayoutBreakdown]:
    """(tax date, the tax breakdown the bet was paid with), checked against the bet row."""
    past = await settlement_history(conn, bet.id)
    taxed_at = past.first_settled_at or bet.settled_at or now
    old = payout_taxes(bet, bet.return_amount, taxed_at)
    if (old.tax, old.net_payout) != (bet.winnings_tax, bet.payout):
        raise SettlementMismatch(
            f"bet {bet.id}: stored tax/payout {bet.winnings_tax}/{bet.payout}, "
            f"recomputed {old.tax}/{old.net_payout}"
        )
    return taxed_at, old


async def _resettle(
    conn: AsyncConnection,
    bet: Any,
    lines: Sequence[Any],
    new: Settlement,
    *,
    market_id: int,
    seq: int,
    now: datetime,
) -> None:
    taxed_at, old_taxes = await _old_settlement(conn, bet, now)
    new_taxes = payout_taxes(bet, new.returned, taxed_at)
    entries = net_entries(
        settlement_transfer(bet, bet.return_amount, old_taxes).entries,
        settlement_transfer(bet, new.returned, new_taxes).entries,
    )
    spec = _spec(bet, "resettle", entries, market_id, seq, returned=new.returned)
    transfer = await ledger.post_transfer(conn, spec) if entries else None
    await write_line_returns(conn, lines, new.line_returns)
    await repo.update_bet(
        conn,
        bet.id,
        status=new.status,
        return_amount=new.returned,
        winnings_tax=new_taxes.tax,
        payout=new_taxes.net_payout,
    )
    await repo.record_status(conn, bet.id, new.status, RESETTLED, at=now)
    delta = new_taxes.net_payout - bet.payout
    direction = "pay" if delta > 0 else "clawback" if delta < 0 else "none"
    BETS_RESETTLED.labels(bet.currency, direction).inc()
    if delta:
        BETS_RESETTLED_AMOUNT.labels(bet.currency, direction).inc(abs(delta))
    data = _event_data(bet, market_id, seq, transfer)
    data.update(
        {
            "status": new.status,
            "return": new.returned,
            "old_winnings_tax": bet.winnings_tax,
            "winnings_tax": new_taxes.tax,
            "payout": new_taxes.net_payout,
            "payout_change": delta,
        }
    )
    await record(conn, Event("sportsbook.bet.resettled", data))
    log.info("bet.resettled", **data)


async def _roll_back(
    conn: AsyncConnection,
    bet: Any,
    legs: Sequence[Any],
    lines: Sequence[Any],
    *,
    market_id: int,
    seq: int,
    now: datetime,
) -> None:
    _, old_taxes = await _old_settlement(conn, bet, now)
    entries = net_entries(settlement_transfer(bet, bet.return_amount, old_taxes).entries, ())
    transfer = await ledger.post_transfer(
        conn, _spec(bet, "rollback", entries, market_id, seq, returned=None)
    )
    await write_line_returns(conn, lines, [None] * len(lines))
    await repo.update_bet(
        conn,
        bet.id,
        status="open",
        return_amount=None,
        winnings_tax=None,
        payout=None,
        settlement_transfer_id=None,
        settled_at=None,
    )
    await repo.record_status(conn, bet.id, "open", ROLLED_BACK, at=now)
    for event_id in sorted({leg.event_id for leg in legs}):
        # Back in play, so back in the event's liability; never refused by the cap: the bet
        # was accepted under it and only its result is in doubt.
        await repo.restore_exposure(
            conn, event_id=event_id, currency=bet.currency, amount=bet.potential_return
        )
    BETS_ROLLED_BACK.labels(bet.currency).inc()
    data = _event_data(bet, market_id, seq, transfer)
    data.update(status="open", payout_change=-bet.payout)
    await record(conn, Event("sportsbook.bet.settlement_rolled_back", data))
    log.info("bet.settlement_rolled_back", **data)


def _spec(
    bet: Any,
    kind: str,
    entries: tuple[Entry, ...],
    market_id: int,
    seq: int,
    *,
    returned: int | None,
) -> TransferSpec:
    return TransferSpec(
        idempotency_key=f"bet:{bet.id}:{kind}:{market_id}:{seq}",
        type=f"bet.{kind}",
        country=bet.country_code,
        currency=bet.currency,
        entries=entries,
        reference=str(bet.id),
        metadata={
            "bet_id": str(bet.id),
            "market_id": market_id,
            "seq": seq,
            "old_return": bet.return_amount,
            "return": returned,
        },
    )


def _event_data(bet: Any, market_id: int, seq: int, transfer: Any) -> dict[str, Any]:
    return {
        "bet_id": str(bet.id),
        "user_id": str(bet.user_id),
        "currency": bet.currency,
        "market_id": market_id,
        "seq": seq,
        "old_status": bet.status,
        "old_return": bet.return_amount,
        "old_payout": bet.payout,
        "transfer_id": str(transfer.id) if transfer is not None else None,
    }
