"""The settlement role's consumers of market results (durable, idempotent: see bus.consumer).

Both subjects mean "this market's results changed": `sportsbook.market.resulted` (a first
result or a correction) and `sportsbook.market.result_rolled_back` (results withdrawn). The
handler copies the market's CURRENT results from the catalogue onto the bets' legs and brings
every bet on the market in line with them: an open bet whose legs are all resulted settles; a
settled one is resettled or rolled back to open (`resettlement`).

Reading the catalogue's state rather than the event's payload makes the outcome independent of
delivery order: NATS redelivers a failed message after later ones, and two consumers (one per
subject) run side by side, yet a stale event only finds the newest results already applied.
"""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from letsbet.platform.bus.outbox import Event
from letsbet.sportsbook.bets import repository as repo
from letsbet.sportsbook.bets.resettlement import correct_bet
from letsbet.sportsbook.bets.settlement import SETTLED_STATUSES, settle_locked
from letsbet.sportsbook.bets.tables import bet_legs, bets

# Re-exported: the subjects these consumers subscribe to, as the catalogue records them.
from letsbet.sportsbook.catalogue.service import RESULTED as RESULTED
from letsbet.sportsbook.catalogue.service import ROLLED_BACK as ROLLED_BACK
from letsbet.sportsbook.catalogue.tables import outcomes

SUBJECTS = (RESULTED, ROLLED_BACK)


async def on_market_results(conn: AsyncConnection, event: Event) -> None:
    """Consumer of both subjects: settle, resettle or roll back the market's bets."""
    await sync_market(conn, int(event.data["market_id"]), seq=int(event.data["seq"]))


async def sync_market(
    conn: AsyncConnection, market_id: int, *, seq: int, now: datetime | None = None
) -> int:
    """Apply a market's current results to its bets; how many bets changed. `seq` is the
    catalogue's sequence number of the change (it keys the correcting transfers)."""
    touched = await copy_results(conn, market_id)
    # A settled bet needs work only when its legs just changed: legs and bet always change in
    # one transaction, so the others already agree with these results. Open bets are all
    # looked at, as before corrections existed (one may have become ready another way).
    candidates = set(touched) | set(await open_bets_on_market(conn, market_id))
    changed = 0
    for bet_id in sorted(candidates):
        bet = await repo.bet_by_id(conn, bet_id, for_update=True)
        if bet is None:
            continue
        if bet.status == "open":
            changed += await settle_locked(conn, bet, now=now)
        elif bet.status in SETTLED_STATUSES:
            changed += await correct_bet(conn, bet, market_id=market_id, seq=seq, now=now)
    return changed


async def copy_results(conn: AsyncConnection, market_id: int) -> list[uuid.UUID]:
    """Legs on the market take their outcome's result (none after a rollback); neutral factors
    are stored as void 0 and dead heat 1 on a resulted leg. Unchanged legs are not written.
    The ids of the bets whose legs changed."""
    resulted = outcomes.c.result.is_not(None)
    void = sa.case((resulted, sa.func.coalesce(outcomes.c.void_factor, 0)), else_=None)
    dead_heat = sa.case((resulted, sa.func.coalesce(outcomes.c.dead_heat_factor, 1)), else_=None)
    result = await conn.execute(
        sa.update(bet_legs)
        .where(
            bet_legs.c.market_id == market_id,
            bet_legs.c.outcome_id == outcomes.c.id,
            sa.or_(
                bet_legs.c.result.is_distinct_from(outcomes.c.result),
                bet_legs.c.void_factor.is_distinct_from(void),
                bet_legs.c.dead_heat_factor.is_distinct_from(dead_heat),
            ),
        )
        .values(result=outcomes.c.result, void_factor=void, dead_heat_factor=dead_heat)
        .returning(bet_legs.c.bet_id)
    )
    return list(result.scalars().all())


async def open_bets_on_market(conn: AsyncConnection, market_id: int) -> list[uuid.UUID]:
    query = (
        sa.select(bet_legs.c.bet_id)
        .distinct()
        .join(bets, bets.c.id == bet_legs.c.bet_id)
        .where(bet_legs.c.market_id == market_id, bets.c.status == "open")
    )
    return list((await conn.execute(query)).scalars().all())
