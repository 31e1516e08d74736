"""Responsible-gaming queries: the controls row, limits and history."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from letsbet.compliance.responsible_gaming.domain import Limit, LimitKind, Period
from letsbet.compliance.responsible_gaming.tables import rg_controls, rg_history, rg_limits


async def lock_controls(
    conn: AsyncConnection, user_id: uuid.UUID, country: str, now: datetime
) -> Any:
    """The player's controls row, created if missing, locked for this transaction: two changes
    of one player's controls queue instead of both reading the old state."""
    await conn.execute(
        insert(rg_controls)
        .values(user_id=user_id, country_code=country, updated_at=now)
        .on_conflict_do_nothing(index_elements=["user_id"])
    )
    return (
        await conn.execute(
            sa.select(rg_controls).where(rg_controls.c.user_id == user_id).with_for_update()
        )
    ).one()


async def controls(conn: AsyncConnection, user_id: uuid.UUID) -> Any:
    return (
        await conn.execute(sa.select(rg_controls).where(rg_controls.c.user_id == user_id))
    ).first()


async def update_controls(conn: AsyncConnection, user_id: uuid.UUID, **values: Any) -> None:
    await conn.execute(
        sa.update(rg_controls).where(rg_controls.c.user_id == user_id).values(**values)
    )


async def limits(conn: AsyncConnection, user_id: uuid.UUID) -> dict[tuple[str, str], Limit]:
    rows = await conn.execute(sa.select(rg_limits).where(rg_limits.c.user_id == user_id))
    return {
        (row.kind, row.period): Limit(row.amount, row.pending_amount, row.pending_from)
        for row in rows
    }


async def save_limit(
    conn: AsyncConnection,
    *,
    user_id: uuid.UUID,
    country: str,
    kind: LimitKind,
    period: Period,
    limit: Limit,
    now: datetime,
) -> None:
    values = {
        "amount": limit.amount,
        "pending_amount": limit.pending_amount,
        "pending_from": limit.pending_from,
        "updated_at": now,
    }
    await conn.execute(
        insert(rg_limits)
        .values(
            user_id=user_id, country_code=country, kind=kind.value, period=period.value, **values
        )
        .on_conflict_do_update(index_elements=["user_id", "kind", "period"], set_=values)
    )


async def add_history(
    conn: AsyncConnection,
    *,
    user_id: uuid.UUID,
    country: str,
    control: str,
    before: Any,
    after: Any,
    at: datetime,
) -> None:
    await conn.execute(
        sa.insert(rg_history).values(
            user_id=user_id,
            country_code=country,
            control=control,
            before=before,
            after=after,
            at=at,
        )
    )


async def history(conn: AsyncConnection, user_id: uuid.UUID, limit: int = 100) -> list[Any]:
    rows = await conn.execute(
        sa.select(rg_history)
        .where(rg_history.c.user_id == user_id)
        .order_by(rg_history.c.id.desc())
        .limit(limit)
    )
    return list(rows)
