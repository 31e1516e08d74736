"""Idempotent JetStream consumers.

Replicas of a role share one durable pull consumer (a consumer group). Each event is handled in
one DB transaction that first claims (consumer, event_id) in the inbox, so a redelivery after a
crash, a relay retry or a NATS restart changes nothing twice.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import sqlalchemy as sa
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from letsbet.platform.aio import wait_or_stop
from letsbet.platform.bus.nats import EVENTS_STREAM, Bus
from letsbet.platform.bus.outbox import Event
from letsbet.platform.bus.tables import inbox
from letsbet.platform.db import Database
from letsbet.platform.observability import EVENTS_CONSUMED, get_logger

log = get_logger(__name__)

Handler = Callable[[AsyncConnection, Event], Awaitable[None]]


async def claim(conn: AsyncConnection, consumer: str, event: Event) -> bool:
    """True the first time this consumer sees this event (inside the caller's transaction)."""
    result = await conn.execute(
        insert(inbox)
        .values(consumer=consumer, event_id=event.event_id)
        .on_conflict_do_nothing()
        .returning(sa.literal(1))
    )
    return result.first() is not None


class Consumer:
    def __init__(
        self,
        db: Database,
        bus: Bus,
        *,
        name: str,
        subject: str,
        handler: Handler,
        batch_size: int = 100,
    ) -> None:
        self.db = db
        self.bus = bus
        self.name = name
        self.subject = subject
        self.handler = handler
        self.batch_size = batch_size

    async def handle(self, event: Event) -> bool:
        """Handle one event exactly once; returns False for a duplicate."""
        async with self.db.transaction() as conn:
            if not await claim(conn, self.name, event):
                EVENTS_CONSUMED.labels(self.name, "duplicate").inc()
                return False
            await self.handler(conn, event)
        EVENTS_CONSUMED.labels(self.name, "handled").inc()
        return True

    async def run(self, stop: asyncio.Event) -> None:
        subscription = None
        failures = 0
        while not stop.is_set():
            try:
                if subscription is None:
                    subscription = await self.bus.js.pull_subscribe(
                        self.subject,
                        durable=self.name,
                        stream=EVENTS_STREAM,
                        config=ConsumerConfig(
                            ack_policy=AckPolicy.EXPLICIT,
                            ack_wait=30,
                            deliver_policy=DeliverPolicy.ALL,
                            max_ack_pending=1000,
                        ),
                    )
                try:
                    messages = await subscription.fetch(self.batch_size, timeout=1)
                except TimeoutError:
                    continue
                failures = 0
                for message in messages:
                    try:
                        await self.handle(Event.from_envelope(message.data))
                        await message.ack()
                    except Exception:
                        EVENTS_CONSUMED.labels(self.name, "failed").inc()
                        log.exception(
                            "consumer.handler_failed", consumer=self.name, subject=message.subject
                        )
                        await message.nak(delay=min(30.0, 2.0 * message.metadata.num_delivered))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures += 1
                log.debug("consumer.waiting", consumer=self.name, error=str(exc))
                subscription = None if failures > 3 else subscription
                await wait_or_stop(stop, min(5.0, 0.2 * 2 ** min(failures, 5)))
