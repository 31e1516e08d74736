"""Every query on users and refresh tokens."""

from __future__ import annotations

import uuid
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from letsbet.accounts.tables import refresh_tokens, users


async def insert_user(
    conn: AsyncConnection,
    *,
    user_id: uuid.UUID,
    phone: str,
    password_hash: str,
    country: str,
    role: str,
    date_of_birth: date,
    first_name: str | None,
    last_name: str | None,
) -> bool:
    """False when the phone is taken (the unique index decides, race-free)."""
    result = await conn.execute(
        insert(users)
        .values(
            id=user_id,
            phone=phone,
            password_hash=password_hash,
            country_code=country,
            role=role,
            date_of_birth=date_of_birth,
            first_name=first_name,
            last_name=last_name,
        )
        .on_conflict_do_nothing(index_elements=[users.c.phone])
        .returning(users.c.id)
    )
    return result.first() is not None


async def user_by_phone(conn: AsyncConnection, phone: str) -> Row[tuple[object, ...]] | None:
    return (await conn.execute(sa.select(users).where(users.c.phone == phone))).first()


async def user_by_id(conn: AsyncConnection, user_id: uuid.UUID) -> Row[tuple[object, ...]] | None:
    return (await conn.execute(sa.select(users).where(users.c.id == user_id))).first()


async def insert_refresh_token(
    conn: AsyncConnection,
    *,
    token_id: uuid.UUID,
    family_id: uuid.UUID,
    user_id: uuid.UUID,
    country: str,
    issued_at: datetime,
    expires_at: datetime,
) -> None:
    await conn.execute(
        sa.insert(refresh_tokens).values(
            id=token_id,
            family_id=family_id,
            user_id=user_id,
            country_code=country,
            issued_at=issued_at,
            expires_at=expires_at,
        )
    )


async def lock_refresh_token(
    conn: AsyncConnection, token_id: uuid.UUID
) -> Row[tuple[object, ...]] | None:
    # Row lock: two concurrent refreshes with one token cannot both rotate it.
    return (
        await conn.execute(
            sa.select(refresh_tokens).where(refresh_tokens.c.id == token_id).with_for_update()
        )
    ).first()


async def mark_rotated(conn: AsyncConnection, token_id: uuid.UUID, at: datetime) -> None:
    await conn.execute(
        sa.update(refresh_tokens).where(refresh_tokens.c.id == token_id).values(rotated_at=at)
    )


async def revoke_family(conn: AsyncConnection, family_id: uuid.UUID, at: datetime) -> int:
    result = await conn.execute(
        sa.update(refresh_tokens)
        .where(refresh_tokens.c.family_id == family_id, refresh_tokens.c.revoked_at.is_(None))
        .values(revoked_at=at)
    )
    return result.rowcount


async def lock_user(conn: AsyncConnection, user_id: uuid.UUID) -> Row[tuple[object, ...]] | None:
    return (
        await conn.execute(sa.select(users).where(users.c.id == user_id).with_for_update())
    ).first()


async def anonymise_user(
    conn: AsyncConnection,
    user_id: uuid.UUID,
    *,
    phone: str,
    password_hash: str,
    date_of_birth: date,
    at: datetime,
) -> None:
    """Close the account and overwrite its personal data (the row and its id stay: the ledger,
    bets and tax records point at it)."""
    await conn.execute(
        sa.update(users)
        .where(users.c.id == user_id)
        .values(
            status="closed",
            phone=phone,
            password_hash=password_hash,
            first_name=None,
            last_name=None,
            date_of_birth=date_of_birth,
            updated_at=at,
        )
    )


async def revoke_all_refresh_tokens(conn: AsyncConnection, user_id: uuid.UUID, at: datetime) -> int:
    result = await conn.execute(
        sa.update(refresh_tokens)
        .where(refresh_tokens.c.user_id == user_id, refresh_tokens.c.revoked_at.is_(None))
        .values(revoked_at=at)
    )
    return result.rowcount


async def sessions_of(conn: AsyncConnection, user_id: uuid.UUID) -> list[Row[tuple[object, ...]]]:
    query = (
        sa.select(refresh_tokens)
        .where(refresh_tokens.c.user_id == user_id)
        .order_by(refresh_tokens.c.issued_at)
    )
    return list((await conn.execute(query)).all())
