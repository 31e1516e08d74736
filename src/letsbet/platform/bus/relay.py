"""The outbox relay: publishes committed events to JetStream with Nats-Msg-Id = event id.

Publish-then-mark gives at-least-once delivery; JetStream's duplicate window and each
consumer's inbox turn that into exactly-once effects. Several relays may run: rows are claimed
with FOR UPDATE SKIP LOCKED.
"""

from __future__ import annotations

import asyncio

import asyncpg
import orjson
import sqlalchemy as sa

from letsbet.platform.bus.nats import Bus
from letsbet.platform.bus.outbox import NOTIFY_CHANNEL
from letsbet.platform.bus.tables import outbox
from letsbet.platform.db import Database, plain_url
from letsbet.platform.observability import OUTBOX_BACKLOG, OUTBOX_PUBLISHED, get_logger

log = get_logger(__name__)


class OutboxRelay:
    def __init__(
        self, db: Database, bus: Bus, *, batch_size: int = 500, idle_poll_seconds: float = 1.0
    ) -> None:
        self.db = db
        self.bus = bus
        self.batch_size = batch_size
        self.idle_poll_seconds = idle_poll_seconds
        self._wake = asyncio.Event()

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
        listener = asyncio.create_task(self._listen(stop))
        failures = 0
        try:
            while not stop.is_set():
                try:
                    if not self.bus.connected:
                        raise ConnectionError("NATS is not connected")
                    count = await self.publish_batch()
                    failures = 0
                    if count == self.batch_size:
                        continue
                    OUTBOX_BACKLOG.set(await self.backlog())
                except Exception as exc:
                    failures += 1
                    delay = min(5.0, 0.1 * 2 ** min(failures, 6))
                    log.debug("relay.waiting", error=str(exc), retry_in=delay)
                    await _wait(stop, delay)
                    continue
                self._wake.clear()
                await _wait_any(stop, self._wake, self.idle_poll_seconds)
        finally:
            listener.cancel()
            await asyncio.gather(listener, return_exceptions=True)

    async def _listen(self, stop: asyncio.Event) -> None:
        """LISTEN for commits that recorded events, so delivery does not wait for the poll."""
        while not stop.is_set():
            try:
                conn = await asyncpg.connect(plain_url(self.db.url).replace("sslmode=", "ssl="))
                try:
                    await conn.add_listener(NOTIFY_CHANNEL, lambda *_: self._wake.set())
                    await stop.wait()
                finally:
                    await conn.close()
            except (OSError, asyncpg.PostgresError):
                await _wait(stop, 1.0)


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except TimeoutError:
        pass


async def _wait_any(stop: asyncio.Event, wake: asyncio.Event, seconds: float) -> None:
    waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(wake.wait())]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
