"""The outbox relay: publishes committed events to JetStream with Nats-Msg-Id = event id.

Publish-then-mark gives at-least-once delivery; JetStream's duplicate window and each
consumer's inbox turn that into exactly-once effects. Several relays may run: rows are claimed
with FOR UPDATE SKIP LOCKED.
"""

from __future__ import annotations

import asyncio

import orjson
import sqlalchemy as sa

from letsbet.platform.aio import wait_or_stop
from letsbet.platform.bus.nats import Bus
from letsbet.platform.bus.tables import outbox
from letsbet.platform.db import Database
from letsbet.platform.observability import OUTBOX_BACKLOG, OUTBOX_PUBLISHED, get_logger

log = get_logger(__name__)


class OutboxRelay:
    def __init__(
        self, db: Database, bus: Bus, *, batch_size: int = 500, idle_poll_seconds: float = 0.05
    ) -> None:
        self.db = db
        self.bus = bus
        self.batch_size = batch_size
        self.idle_poll_seconds = idle_poll_seconds

    async def publish_batch(self) -> int:
        """Publish up to one batch; returns how many were published (0 when idle or blocked)."""
        published: list[int] = []
        async with self.db.transaction() as conn:
            rows = (
                await conn.execute(
                    sa.select(outbox.c.seq, outbox.c.event_id, outbox.c.subject, outbox.c.payload)
                    .where(outbox.c.published_at.is_(None))
                    .order_by(outbox.c.seq)
                    .limit(self.batch_size)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            try:
                for row in rows:
                    await self.bus.publish(
                        row.subject, orjson.dumps(row.payload), msg_id=str(row.event_id)
                    )
                    published.append(row.seq)
                    OUTBOX_PUBLISHED.labels(row.subject).inc()
            except Exception as exc:
                log.warning(
                    "relay.publish_failed",
                    error=str(exc) or type(exc).__name__,
                    published=len(published),
                    pending=len(rows) - len(published),
                )
                if rows and not published:
                    raise
            finally:
                if published:
                    await conn.execute(
                        sa.update(outbox)
                        .where(outbox.c.seq.in_(published))
                        .values(published_at=sa.func.now())
                    )
        return len(published)

    async def backlog(self) -> int:
        async with self.db.connect() as conn:
            count = await conn.scalar(
                sa.select(sa.func.count())
                .select_from(outbox)
                .where(outbox.c.published_at.is_(None))
            )
        return int(count or 0)

    async def run(self, stop: asyncio.Event) -> None:
        """Publish until `stop`: back to back while there is a backlog, else every poll interval.

        Polling (a partial-index probe, microseconds) instead of LISTEN/NOTIFY: notifying
        transactions serialise their commits on one global lock in PostgreSQL.
        """
        failures = 0
        last_gauge = 0.0
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            try:
                if not self.bus.connected:
                    raise ConnectionError("NATS is not connected")
                count = await self.publish_batch()
                failures = 0
                if loop.time() - last_gauge > 1.0:
                    OUTBOX_BACKLOG.set(await self.backlog())
                    last_gauge = loop.time()
                if count == self.batch_size:
                    continue
            except Exception as exc:
                failures += 1
                delay = min(5.0, 0.1 * 2 ** min(failures, 6))
                log.debug("relay.waiting", error=str(exc) or type(exc).__name__, retry_in=delay)
                if loop.time() - last_gauge > 1.0:
                    try:
                        OUTBOX_BACKLOG.set(await self.backlog())
                        last_gauge = loop.time()
                    except Exception:  # PostgreSQL down too: nothing to report
                        log.debug("relay.backlog_unknown")
                await wait_or_stop(stop, delay)
                continue
            await wait_or_stop(stop, self.idle_poll_seconds)
