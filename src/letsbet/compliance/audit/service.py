"""Audit use cases: append a row in the caller's transaction, verify the whole chain."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from letsbet.compliance.audit import repository as repo
from letsbet.compliance.audit.domain import Actor, AuditRecord, ChainBreak, ChainWalk, jsonable
from letsbet.platform.db import Database
from letsbet.platform.observability import AUDIT_APPENDED, get_logger

log = get_logger(__name__)
VERIFY_BATCH = 2000


async def append(
    conn: AsyncConnection,
    actor: Actor,
    *,
    action: str,
    target_type: str,
    target_id: object,
    before: Any = None,
    after: Any = None,
    country: str | None = None,
) -> int:
    """Append one audit row in the caller's transaction (like outbox.record): the action and
    its row commit together or not at all. Returns the row's seq.

    Appends are serialised on the chain head's row lock, held until the caller commits, so
    call this as the last step of the transaction. `before`/`after` are made JSON-safe and
    secrets are redacted (domain.jsonable); never pass personal data of players: the log is
    permanent and survives account closure. `country` defaults to the actor's.
    """
    old, new = jsonable(before), jsonable(after)
    seq, prev_hash = await repo.lock_head(conn)
    record = AuditRecord(
        seq=seq + 1,
        occurred_at=datetime.now(UTC),  # taken under the lock: times rise along the chain
        actor_user_id=actor.user_id,
        actor_role=actor.role,
        country=country or actor.country,
        action=action,
        target_type=target_type,
        target_id=str(target_id),
        before=old,
        after=new,
        request_id=actor.request_id,
        client_ip=actor.client_ip,
        prev_hash=prev_hash,
    )
    await repo.insert(conn, record, record.digest())
    AUDIT_APPENDED.labels(action).inc()
    return record.seq


@dataclass(frozen=True, slots=True)
class VerifyReport:
    rows: int
    head_seq: int
    broken: ChainBreak | None

    @property
    def sound(self) -> bool:
        return self.broken is None

    def summary(self) -> str:
        if self.broken is not None:
            return self.broken.line()
        return f"audit chain sound: {self.rows} rows, head at seq {self.head_seq}"


async def verify(db: Database, *, batch: int = VERIFY_BATCH) -> VerifyReport:
    """Walk the chain from the first row and stop at the first break (one consistent
    snapshot, so rows appended meanwhile are left for the next run)."""
    walk = ChainWalk()
    async with db.connect() as conn:
        await conn.execution_options(isolation_level="REPEATABLE READ")
        async with conn.begin():
            await conn.execute(sa.text("SET TRANSACTION READ ONLY"))
            head_seq, head_hash = await repo.head(conn)
            after = 0
            while True:
                rows = await repo.batch_after(conn, after, batch)
                for row in rows:
                    broken = walk.feed(repo.record_of(row), row.hash)
                    if broken is not None:
                        log.error("audit.chain_broken", seq=broken.seq, reason=broken.reason)
                        return VerifyReport(walk.rows, head_seq, broken)
                if len(rows) < batch:
                    break
                after = rows[-1].seq
            broken = walk.finish(head_seq, head_hash)
    if broken is not None:
        log.error("audit.chain_broken", seq=broken.seq, reason=broken.reason)
    return VerifyReport(walk.rows, head_seq, broken)
