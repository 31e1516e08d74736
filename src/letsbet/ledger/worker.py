"""Ledger housekeeping loops: release expired holds, reconcile periodically.

Run by the `settlement` role. Both are safe with several replicas: expiry locks each hold row
and skips holds already resolved; reconciliation only reads.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from letsbet.errors import LetsbetError
from letsbet.ledger import repository, service
from letsbet.ledger.domain import HoldStatus
from letsbet.ledger.reconcile import check
from letsbet.platform.aio import wait_or_stop
from letsbet.platform.db import Database, run_in_transaction
from letsbet.platform.observability import (
    HOLDS_EXPIRED,
    LEDGER_CHECK_BREAKS,
    LEDGER_CHECK_SOUND,
    get_logger,
)

log = get_logger(__name__)


async def expire_holds(db: Database, *, now: datetime, batch: int = 200) -> int:
    """Release pending holds whose expiry has passed; returns how many were released."""
    async with db.connect() as conn:
        due = await repository.expired_hold_ids(conn, now, batch)
    released = 0
    for hold_id in due:

        async def release(conn: AsyncConnection, hold: uuid.UUID = hold_id) -> object:
            return await service.void_hold(conn, hold, status=HoldStatus.EXPIRED)

        try:
            await run_in_transaction(db, release)
        except LetsbetError:  # posted or voided meanwhile: nothing to release
            continue
        released += 1
        HOLDS_EXPIRED.inc()
    return released


async def expiry_loop(db: Database, stop: asyncio.Event, *, every: float = 5.0) -> None:
    while not stop.is_set():
        try:
            released = await expire_holds(db, now=datetime.now(UTC))
            if released:
                log.info("ledger.holds_expired", count=released)
        except Exception as exc:
            log.warning("ledger.expiry_failed", error=type(exc).__name__)
        await wait_or_stop(stop, every)


async def reconcile_loop(db: Database, stop: asyncio.Event, *, every: float = 300.0) -> None:
    while not stop.is_set():
        try:
            report = await check(db)
            LEDGER_CHECK_SOUND.set(1 if report.sound else 0)
            LEDGER_CHECK_BREAKS.set(len(report.breaks))
            if report.sound:
                log.info("ledger.check", summary=report.summary())
            else:
                log.error("ledger.check_broken", report=report.lines()[:50])
        except Exception as exc:
            log.warning("ledger.check_failed", error=type(exc).__name__)
        await wait_or_stop(stop, every)
