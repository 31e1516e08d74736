"""Every query on bets, their legs and lines, and per-event liability."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from letsbet.sportsbook.bets.tables import (
    bet_legs,
    bet_lines,
    bet_status_history,
    bets,
    event_liability,
)
from letsbet.sportsbook.catalogue.tables import events, markets, outcomes, sports


async def selection_rows(conn: AsyncConnection, outcome_ids: Sequence[int]) -> dict[int, Any]:
    """Outcome, market, event and sport of each selection: the server's own current prices."""
    rows = await conn.execute(
        sa.select(
            outcomes.c.id.label("outcome_id"),
            outcomes.c.odds_milli,
            outcomes.c.active,
            markets.c.id.label("market_id"),
            markets.c.status.label("market_status"),
            events.c.id.label("event_id"),
            events.c.status.label("event_status"),
            events.c.starts_at,
            events.c.countries,
            events.c.max_stake,
            events.c.max_payout,
            events.c.liability_cap,
            sports.c.live_delay_seconds,
        )
        .join(markets, markets.c.id == outcomes.c.market_id)
        .join(events, events.c.id == markets.c.event_id)
        .join(sports, sports.c.id == events.c.sport_id)
        .where(outcomes.c.id.in_(list(outcome_ids)))
    )
    return {row.outcome_id: row for row in rows}


async def claim_bet(conn: AsyncConnection, **values: Any) -> bool:
    """Insert the bet row; False if the idempotency key exists (a replay)."""
    result = await conn.execute(
        insert(bets)
        .values(**values)
        .on_conflict_do_nothing(index_elements=[bets.c.idempotency_key])
        .returning(bets.c.id)
    )
    return result.first() is not None


async def bet_by_key(conn: AsyncConnection, key: str) -> Any:
    return (await conn.execute(sa.select(bets).where(bets.c.idempotency_key == key))).first()


async def bet_by_id(conn: AsyncConnection, bet_id: uuid.UUID, *, for_update: bool = False) -> Any:
    query = sa.select(bets).where(bets.c.id == bet_id)
    if for_update:
        query = query.with_for_update()
    return (await conn.execute(query)).first()


async def insert_legs_and_lines(
    conn: AsyncConnection,
    bet_id: uuid.UUID,
    legs: Sequence[dict[str, Any]],
    lines: Sequence[tuple[int, ...]],
    stake_per_line: int,
) -> None:
    await conn.execute(sa.insert(bet_legs), [{"bet_id": bet_id, **leg} for leg in legs])
    await conn.execute(
        sa.insert(bet_lines),
        [
            {"bet_id": bet_id, "line_no": n, "legs": list(line), "stake": stake_per_line}
            for n, line in enumerate(lines)
        ],
    )


async def record_status(
    conn: AsyncConnection,
    bet_id: uuid.UUID,
    status: str,
    reason: str | None = None,
    *,
    at: datetime | None = None,
) -> None:
    values: dict[str, Any] = {"bet_id": bet_id, "status": status, "reason": reason}
    if at is not None:
        values["at"] = at
    await conn.execute(sa.insert(bet_status_history).values(**values))


async def update_bet(conn: AsyncConnection, bet_id: uuid.UUID, **values: Any) -> None:
    await conn.execute(sa.update(bets).where(bets.c.id == bet_id).values(**values))


async def add_exposure(
    conn: AsyncConnection, *, event_id: int, currency: str, amount: int, cap: int | None
) -> bool:
    """Add potential payout to an event's exposure; False if that would pass its cap."""
    statement = (
        insert(event_liability)
        .values(event_id=event_id, currency=currency, exposure=amount)
        .on_conflict_do_update(
            index_elements=[event_liability.c.event_id, event_liability.c.currency],
            set_={"exposure": event_liability.c.exposure + amount},
            where=(event_liability.c.exposure + amount <= cap) if cap is not None else None,
        )
        .returning(event_liability.c.exposure)
    )
    exposure = (await conn.execute(statement)).scalar_one_or_none()
    return exposure is not None and (cap is None or exposure <= cap)


async def release_exposure(
    conn: AsyncConnection, *, event_ids: Sequence[int], currency: str, amount: int
) -> None:
    await conn.execute(
        sa.update(event_liability)
        .where(
            event_liability.c.event_id.in_(list(event_ids)),
            event_liability.c.currency == currency,
        )
        .values(exposure=sa.func.greatest(event_liability.c.exposure - amount, 0))
    )


async def legs_of(conn: AsyncConnection, bet_id: uuid.UUID) -> list[Any]:
    result = await conn.execute(
        sa.select(bet_legs).where(bet_legs.c.bet_id == bet_id).order_by(bet_legs.c.leg_no)
    )
    return list(result.all())


async def lines_of(conn: AsyncConnection, bet_id: uuid.UUID) -> list[Any]:
    result = await conn.execute(
        sa.select(bet_lines).where(bet_lines.c.bet_id == bet_id).order_by(bet_lines.c.line_no)
    )
    return list(result.all())


async def history_of(conn: AsyncConnection, bet_id: uuid.UUID) -> list[Any]:
    result = await conn.execute(
        sa.select(bet_status_history)
        .where(bet_status_history.c.bet_id == bet_id)
        .order_by(bet_status_history.c.id)
    )
    return list(result.all())
