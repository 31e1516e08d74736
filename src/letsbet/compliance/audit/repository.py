"""Every query on the audit log and its chain head."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from letsbet.compliance.audit.domain import AuditRecord
from letsbet.compliance.audit.tables import audit_chain_head, audit_log

HEAD_ID = 1


async def lock_head(conn: AsyncConnection) -> tuple[int, str]:
    """(seq, hash) of the last row, locked until the caller's transaction ends: the lock that
    serialises appends. Taken last in a transaction, so it is held for one short step."""
    row = (
        await conn.execute(
            sa.select(audit_chain_head.c.seq, audit_chain_head.c.hash)
            .where(audit_chain_head.c.id == HEAD_ID)
            .with_for_update()
        )
    ).one()
    return int(row.seq), str(row.hash)


async def head(conn: AsyncConnection) -> tuple[int, str]:
    row = (
        await conn.execute(
            sa.select(audit_chain_head.c.seq, audit_chain_head.c.hash).where(
                audit_chain_head.c.id == HEAD_ID
            )
        )
    ).one()
    return int(row.seq), str(row.hash)


async def insert(conn: AsyncConnection, record: AuditRecord, digest: str) -> None:
    """The row and the head's move to it: one statement, so they cannot part."""
    inserted = (
        sa.insert(audit_log)
        .values(
            seq=record.seq,
            occurred_at=record.occurred_at,
            actor_user_id=record.actor_user_id,
            actor_role=record.actor_role,
            country_code=record.country,
            action=record.action,
            target_type=record.target_type,
            target_id=record.target_id,
            before=sa.null() if record.before is None else record.before,
            after=sa.null() if record.after is None else record.after,
            request_id=record.request_id,
            client_ip=record.client_ip,
            prev_hash=record.prev_hash,
            hash=digest,
        )
        .returning(audit_log.c.seq, audit_log.c.hash)
        .cte("inserted")
    )
    await conn.execute(
        sa.update(audit_chain_head)
        # The join condition doubles as a guard: the head moves only from the row before.
        .where(audit_chain_head.c.id == HEAD_ID, audit_chain_head.c.seq + 1 == inserted.c.seq)
        .values(seq=inserted.c.seq, hash=inserted.c.hash)
        .add_cte(inserted)
    )


def record_of(row: Any) -> AuditRecord:
    return AuditRecord(
        seq=row.seq,
        occurred_at=row.occurred_at,
        actor_user_id=row.actor_user_id,
        actor_role=row.actor_role,
        country=row.country_code,
        action=row.action,
        target_type=row.target_type,
        target_id=row.target_id,
        before=row.before,
        after=row.after,
        request_id=row.request_id,
        client_ip=row.client_ip,
        prev_hash=row.prev_hash,
    )


async def batch_after(conn: AsyncConnection, after_seq: int, limit: int) -> list[Any]:
    """The next `limit` rows in chain order (the primary key's)."""
    query = (
        sa.select(audit_log)
        .where(audit_log.c.seq > after_seq)
        .order_by(audit_log.c.seq)
        .limit(limit)
    )
    return list((await conn.execute(query)).all())


@dataclass(frozen=True, slots=True)
class AuditFilter:
    actor_user_id: uuid.UUID | None = None
    actions: Sequence[str] = ()
    target_type: str | None = None
    target_id: str | None = None
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive
    countries: Sequence[str] = ()


async def page(
    conn: AsyncConnection, where: AuditFilter, *, limit: int, before_seq: int | None
) -> list[Any]:
    """Newest first, keyset on seq: `before_seq` is the last seq of the previous page."""
    a = audit_log
    query = sa.select(a).order_by(a.c.seq.desc()).limit(limit)
    if before_seq is not None:
        query = query.where(a.c.seq < before_seq)
    if where.actor_user_id is not None:
        query = query.where(a.c.actor_user_id == where.actor_user_id)
    if where.actions:
        query = query.where(a.c.action.in_(list(where.actions)))
    if where.target_type is not None:
        query = query.where(a.c.target_type == where.target_type)
    if where.target_id is not None:
        query = query.where(a.c.target_id == where.target_id)
    if where.since is not None:
        query = query.where(a.c.occurred_at >= where.since)
    if where.until is not None:
        query = query.where(a.c.occurred_at < where.until)
    if where.countries:
        query = query.where(a.c.country_code.in_(list(where.countries)))
    return list((await conn.execute(query)).all())


async def about_target(conn: AsyncConnection, target_type: str, target_id: str) -> list[Any]:
    """Every row about one target, oldest first (a player's data export)."""
    a = audit_log
    query = (
        sa.select(a)
        .where(a.c.target_type == target_type, a.c.target_id == target_id)
        .order_by(a.c.seq)
    )
    return list((await conn.execute(query)).all())
