"""KYC queries: checks, the status history, and the user's status."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from letsbet.accounts.tables import users
from letsbet.compliance.kyc.tables import kyc_checks, kyc_history


async def lock_user(conn: AsyncConnection, user_id: uuid.UUID) -> Any:
    return (
        await conn.execute(
            sa.select(
                users.c.id,
                users.c.country_code,
                users.c.status,
                users.c.kyc_status,
                users.c.first_name,
                users.c.last_name,
                users.c.date_of_birth,
            )
            .where(users.c.id == user_id)
            .with_for_update(key_share=True)
        )
    ).first()


async def set_status(
    conn: AsyncConnection,
    user_id: uuid.UUID,
    *,
    country: str,
    before: str,
    after: str,
    reason: str,
    at: datetime,
    check_id: uuid.UUID | None = None,
    actor: uuid.UUID | None = None,
) -> None:
    await conn.execute(
        sa.update(users).where(users.c.id == user_id).values(kyc_status=after, updated_at=at)
    )
    await conn.execute(
        sa.insert(kyc_history).values(
            user_id=user_id,
            country_code=country,
            from_status=before,
            to_status=after,
            reason=reason,
            check_id=check_id,
            actor_user_id=actor,
            at=at,
        )
    )


async def insert_check(conn: AsyncConnection, **values: Any) -> None:
    await conn.execute(sa.insert(kyc_checks).values(**values))


async def check_by_job(conn: AsyncConnection, job_id: str, *, for_update: bool = False) -> Any:
    query = sa.select(kyc_checks).where(kyc_checks.c.job_id == job_id)
    if for_update:
        query = query.with_for_update()
    return (await conn.execute(query)).first()


async def update_check(conn: AsyncConnection, check_id: uuid.UUID, **values: Any) -> None:
    await conn.execute(sa.update(kyc_checks).where(kyc_checks.c.id == check_id).values(**values))


async def checks_of(conn: AsyncConnection, user_id: uuid.UUID, limit: int = 50) -> list[Any]:
    rows = await conn.execute(
        sa.select(kyc_checks)
        .where(kyc_checks.c.user_id == user_id)
        .order_by(kyc_checks.c.created_at.desc())
        .limit(limit)
    )
    return list(rows)


async def history_of(conn: AsyncConnection, user_id: uuid.UUID, limit: int = 100) -> list[Any]:
    rows = await conn.execute(
        sa.select(kyc_history)
        .where(kyc_history.c.user_id == user_id)
        .order_by(kyc_history.c.id.desc())
        .limit(limit)
    )
    return list(rows)


async def previous_status(conn: AsyncConnection, check_id: uuid.UUID) -> str | None:
    """The status the player had when this check set them pending."""
    return await conn.scalar(
        sa.select(kyc_history.c.from_status)
        .where(kyc_history.c.check_id == check_id, kyc_history.c.to_status == "pending")
        .order_by(kyc_history.c.id)
        .limit(1)
    )
