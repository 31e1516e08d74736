"""Live bets wait out the sport's delay with the stake on hold, then are re-priced and
accepted (the hold is posted into stakes in play) or rejected (the hold is released).

The delay stops a player who sees a goal before the price moves from betting on it. Run by the
`settlement` role; each decision is one transaction that locks the bet, so replicas and
redeliveries cannot decide a bet twice.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from letsbet.compliance.tax import regime_for, stake_breakdown
from letsbet.errors import LetsbetError
from letsbet.ledger import service as ledger
from letsbet.platform.aio import wait_or_stop
from letsbet.platform.bus.outbox import Event, record
from letsbet.platform.db import Database, run_in_transaction
from letsbet.platform.observability import BETS_ACCEPTED, BETS_REJECTED, get_logger
from letsbet.sportsbook.bets import repository as repo
from letsbet.sportsbook.bets.domain import OddsChangePolicy, accept_price
from letsbet.sportsbook.bets.placement import stake_transfer
from letsbet.sportsbook.bets.tables import bet_legs, bets
from letsbet.tenants import get_tenant

log = get_logger(__name__)


async def decide(conn: AsyncConnection, bet_id: uuid.UUID, *, now: datetime) -> str | None:
    """Accept or reject one due pending bet; returns the new status (None if not due)."""
    bet = await repo.bet_by_id(conn, bet_id, for_update=True)
    if bet is None or bet.status != "pending" or bet.accept_after > now:
        return None
    legs = await repo.legs_of(conn, bet_id)
    rows = await repo.selection_rows(conn, [leg.outcome_id for leg in legs])
    reason = _rejection(bet, legs, rows)
    if reason is None:
        for leg in legs:  # the bet takes the server's price at acceptance
            await conn.execute(
                sa.update(bet_legs)
                .where(bet_legs.c.id == leg.id)
                .values(odds_milli=rows[leg.outcome_id].odds_milli)
            )
        tenant = get_tenant(bet.country_code)
        taxes = stake_breakdown(regime_for(tenant.code, now), bet.total_stake)
        spec = stake_transfer(bet.id, bet.user_id, tenant, bet.total_stake, taxes.lines)
        transfer = await ledger.post_hold(
            conn,
            hold_id=bet.hold_id,
            idempotency_key=spec.idempotency_key,
            type=spec.type,
            credits=list(spec.entries[1:]),
            reference=spec.reference,
            metadata=dict(spec.metadata),
        )
        await repo.update_bet(
            conn, bet_id, status="open", stake_transfer_id=transfer.id, stake_tax=taxes.tax
        )
        status = "open"
        BETS_ACCEPTED.labels(bet.currency).inc()
    else:
        await ledger.void_hold(conn, bet.hold_id)
        await repo.update_bet(conn, bet_id, status="rejected", reject_code=reason)
        await repo.release_exposure(
            conn,
            event_ids=sorted({leg.event_id for leg in legs}),
            currency=bet.currency,
            amount=bet.potential_return,
        )
        BETS_REJECTED.labels(reason).inc()
        status = "rejected"
    await repo.record_status(conn, bet_id, status, reason)
    await record(
        conn,
        Event(
            f"sportsbook.bet.{'accepted' if status == 'open' else 'rejected'}",
            {
                "bet_id": str(bet_id),
                "user_id": str(bet.user_id),
                "status": status,
                "reject_code": reason,
                "currency": bet.currency,
                "total_stake": bet.total_stake,
                "potential_return": bet.potential_return,
            },
        ),
    )
    return status


def _rejection(bet: Any, legs: Sequence[Any], rows: Mapping[int, Any]) -> str | None:
    policy = OddsChangePolicy(bet.odds_change)
    for leg in legs:
        row = rows.get(leg.outcome_id)
        if row is None:
            return "market_closed"
        if row.event_status == "suspended" or row.market_status == "suspended":
            return "market_suspended"
        if (
            row.market_status != "open"
            or not row.active
            or row.event_status not in ("live", "scheduled")
        ):
            return "market_closed"
        if not accept_price(leg.odds_milli, row.odds_milli, policy):
            return "odds_changed"
    return None


async def process_due(db: Database, *, now: datetime, batch: int = 100) -> int:
    async with db.connect() as conn:
        due = (
            (
                await conn.execute(
                    sa.select(bets.c.id)
                    .where(bets.c.status == "pending", bets.c.accept_after <= now)
                    .order_by(bets.c.accept_after)
                    .limit(batch)
                )
            )
            .scalars()
            .all()
        )
    decided = 0
    for bet_id in due:

        async def work(conn: AsyncConnection, b: uuid.UUID = bet_id) -> str | None:
            return await decide(conn, b, now=now)

        try:
            if await run_in_transaction(db, work):
                decided += 1
        except LetsbetError as exc:
            log.error("live.decide_failed", bet_id=str(bet_id), code=exc.code)
    return decided


async def live_loop(db: Database, stop: asyncio.Event, *, every: float = 0.2) -> None:
    while not stop.is_set():
        try:
            await process_due(db, now=datetime.now(UTC))
        except Exception as exc:
            log.warning("live.loop_failed", error=type(exc).__name__)
        await wait_or_stop(stop, every)
