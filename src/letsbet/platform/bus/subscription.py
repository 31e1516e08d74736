"""One core NATS subscription per process, shared by the sockets of a hub.

The live hubs (/ws/odds, /ws/bets, /ws/games) each need every message on their subjects in every
api replica, so they use a plain (core) subscription, not a durable consumer (which splits a
stream between replicas). It is made lazily by the first socket, once per NATS connection, and
waits until the server has it, so a socket told "ready" cannot miss what follows. nats-py
re-subscribes by itself after a reconnect; a new connection (after the bus reconnected from
scratch) gets a new subscription.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from letsbet.platform.bus.nats import Bus
from letsbet.platform.observability import get_logger

log = get_logger(__name__)


class CoreSubscription:
    def __init__(
        self,
        bus: Bus,
        subject: str,
        handler: Callable[[Msg], Awaitable[None]],
        *,
        name: str,
        pending_msgs_limit: int | None = None,
    ) -> None:
        self.bus = bus
        self.subject = subject
        self.handler = handler
        self.name = name  # log events: "<name>.started", "<name>.subscribe_failed"
        self.pending_msgs_limit = pending_msgs_limit
        self._subscription: Subscription | None = None
        self._nc: object | None = None
        self._lock = asyncio.Lock()

    @property
    def started(self) -> bool:
        nc = self.bus.nc
        return self._subscription is not None and nc is self._nc and nc is not None

    async def start(self) -> bool:
        """Subscribe once per NATS connection; False while NATS is down (the next caller
        retries)."""
        if self.started:
            return True
        async with self._lock:
            nc = self.bus.nc
            if self.started:
                return True
            if nc is None or not nc.is_connected:
                return False
            try:
                if self.pending_msgs_limit is None:
                    self._subscription = await nc.subscribe(self.subject, cb=self.handler)
                else:
                    self._subscription = await nc.subscribe(
                        self.subject, cb=self.handler, pending_msgs_limit=self.pending_msgs_limit
                    )
                await nc.flush(timeout=2)  # the server has it before anyone is told "ready"
            except Exception as exc:  # closing or reconnecting: the next caller retries
                self._subscription = None
                log.warning(f"{self.name}.subscribe_failed", error=str(exc) or type(exc).__name__)
                return False
            self._nc = nc
            log.info(f"{self.name}.started", subject=self.subject)
            return True

    async def stop(self) -> None:
        subscription, self._subscription, self._nc = self._subscription, None, None
        if subscription is not None:
            try:
                await subscription.unsubscribe()
            except Exception:  # the connection is gone already: so is the subscription
                log.debug(f"{self.name}.unsubscribe_failed")
