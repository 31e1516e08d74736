"""Every payments query. The service decides; this module only reads and writes rows."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from letsbet.accounts.tables import users
from letsbet.payments.tables import payments

AnyRow = Row[Any]


async def claim(conn: AsyncConnection, **values: Any) -> bool:
    """Insert a new payment; False when its idempotency key is taken (race-free)."""
    result = await conn.execute(
        insert(payments)
        .values(**values)
        .on_conflict_do_nothing(index_elements=[payments.c.idempotency_key])
        .returning(payments.c.id)
    )
    return result.first() is not None


async def by_key(conn: AsyncConnection, key: str) -> AnyRow | None:
    return (
        await conn.execute(sa.select(payments).where(payments.c.idempotency_key == key))
    ).first()


async def by_id(
    conn: AsyncConnection, payment_id: uuid.UUID, *, for_update: bool = False
) -> AnyRow | None:
    query = sa.select(payments).where(payments.c.id == payment_id)
    if for_update:
        query = query.with_for_update()
    return (await conn.execute(query)).first()


async def by_reference(
    conn: AsyncConnection, provider: str, reference: str, *, for_update: bool = False
) -> AnyRow | None:
    query = sa.select(payments).where(
        payments.c.provider == provider, payments.c.provider_reference == reference
    )
    if for_update:
        query = query.with_for_update()
    return (await conn.execute(query)).first()


async def receipt_taken(
    conn: AsyncConnection, provider: str, receipt: str, payment_id: uuid.UUID
) -> bool:
    found = await conn.scalar(
        sa.select(payments.c.id).where(
            payments.c.provider == provider,
            payments.c.receipt == receipt,
            payments.c.id != payment_id,
        )
    )
    return found is not None


async def update(conn: AsyncConnection, payment_id: uuid.UUID, **values: Any) -> None:
    await conn.execute(
        sa.update(payments)
        .where(payments.c.id == payment_id)
        .values(**values, updated_at=sa.func.now())
    )


async def lock_user(conn: AsyncConnection, user_id: uuid.UUID) -> AnyRow:
    """The player's phone, locking the user row: one payment request per player at a time
    passes the limit checks (concurrent deposits cannot both fit under a cap)."""
    row = (
        await conn.execute(
            sa.select(users.c.phone)
            .where(users.c.id == user_id)
            .with_for_update(key_share=True)  # FOR NO KEY UPDATE: inserts citing the user pass
        )
    ).first()
    assert row is not None, "eligibility checked the user exists"
    return row


async def due_for_reconciliation(
    conn: AsyncConnection, *, older_than: datetime, queried_before: datetime, limit: int
) -> list[AnyRow]:
    """Open payments created before `older_than` and not queried since `queried_before`."""
    result = await conn.execute(
        sa.select(payments)
        .where(
            payments.c.status.in_(["initiated", "pending"]),
            payments.c.created_at < older_than,
            sa.or_(payments.c.last_query_at.is_(None), payments.c.last_query_at < queried_before),
        )
        .order_by(payments.c.created_at)
        .limit(limit)
    )
    return list(result.all())


async def history(
    conn: AsyncConnection,
    *,
    user_id: uuid.UUID,
    limit: int,
    before: tuple[datetime, uuid.UUID] | None = None,
    directions: Sequence[str] = (),
    statuses: Sequence[str] = (),
) -> list[AnyRow]:
    """The user's payments, newest first, keyset-paginated on (created_at, id)."""
    query = sa.select(payments).where(payments.c.user_id == user_id)
    if before is not None:
        query = query.where(sa.tuple_(payments.c.created_at, payments.c.id) < before)
    if directions:
        query = query.where(payments.c.direction.in_(list(directions)))
    if statuses:
        query = query.where(payments.c.status.in_(list(statuses)))
    query = query.order_by(payments.c.created_at.desc(), payments.c.id.desc()).limit(limit)
    return list((await conn.execute(query)).all())
