"""NATS JetStream connection and the domain-event stream."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError

from letsbet.platform.observability import get_logger

log = get_logger(__name__)

EVENTS_STREAM = "EVENTS"
# Subjects are `domain.entity.verb`; one stream holds every domain's events.
EVENT_DOMAINS = ("platform", "accounts", "ledger", "sportsbook", "crash", "payments", "compliance")
# JetStream drops a re-publish with a Nats-Msg-Id seen inside this window (relay retries);
# consumers' inbox covers anything older.
DUPLICATE_WINDOW_SECONDS = 300.0


class Bus:
    """One NATS connection per process; reconnects forever, so an outage is only a pause."""

    def __init__(self, url: str, *, name: str) -> None:
        self.url = url
        self.name = name
        self.nc: NATS | None = None
        self._js: JetStreamContext | None = None
        self._lock = asyncio.Lock()

    @property
    def connected(self) -> bool:
        return self.nc is not None and self.nc.is_connected

    async def connect(self, *, attempts: int = 1) -> None:
        """Connect (the first connection must succeed; later drops reconnect by themselves)."""
        async with self._lock:
            if self.nc is not None and not self.nc.is_closed:
                return
            last: Exception | None = None
            for attempt in range(attempts):
                client = NATS()
                try:
                    # nats-py retries a failed *first* connect forever when reconnects are
                    # unlimited; bound it so a process started during an outage still comes up
                    # (serving /readyz 503) and keeps trying in the background.
                    await asyncio.wait_for(
                        client.connect(
                            servers=[u.strip() for u in self.url.split(",")],
                            name=self.name,
                            allow_reconnect=True,
                            max_reconnect_attempts=-1,
                            reconnect_time_wait=0.5,  # type: ignore[arg-type]  # float works
                            connect_timeout=2,
                            ping_interval=5,
                            max_outstanding_pings=2,
                            error_cb=self._on_error,
                            disconnected_cb=self._on_disconnect,
                            reconnected_cb=self._on_reconnect,
                        ),
                        timeout=3,
                    )
                    self.nc = client
                    self._js = client.jetstream(timeout=2)
                    return
                except Exception as exc:  # nats raises several unrelated types here
                    last = exc
                    await _close_quietly(client)
                    if attempt + 1 < attempts:
                        await asyncio.sleep(min(2.0, 0.2 * (attempt + 1)))
            raise ConnectionError(f"cannot reach NATS: {last}") from last

    @property
    def js(self) -> JetStreamContext:
        if self._js is None:
            raise ConnectionError("NATS is not connected")
        return self._js

    async def ensure_streams(self) -> None:
        config = StreamConfig(
            name=EVENTS_STREAM,
            subjects=[f"{domain}.>" for domain in EVENT_DOMAINS],
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            discard=DiscardPolicy.OLD,
            max_age=7 * 86_400.0,
            duplicate_window=DUPLICATE_WINDOW_SECONDS,
        )
        try:
            await self.js.stream_info(EVENTS_STREAM)
            await self.js.update_stream(config)
        except NotFoundError:
            await self.js.add_stream(config)

    async def publish(self, subject: str, payload: bytes, *, msg_id: str) -> Any:
        return await self.js.publish(subject, payload, headers={"Nats-Msg-Id": msg_id}, timeout=2)

    async def ping(self) -> None:
        if not self.connected or self.nc is None:
            raise ConnectionError("NATS is not connected")
        await self.nc.flush(timeout=1)

    async def close(self) -> None:
        """Flush what we published, then close. Not `drain()`: it waits for every subscription's
        pending messages to be handled, and by now the tasks handling them (hubs, consumers) are
        stopped, so it would sit out its timeout. Nothing is lost: JetStream redelivers what was
        not acked, and the core subscriptions (live frames) are best effort by design."""
        if self.nc is not None and not self.nc.is_closed:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.nc.flush(), timeout=2)
            await self.nc.close()
        self.nc = None
        self._js = None

    async def _on_error(self, exc: Exception) -> None:
        log.debug("nats.error", error=str(exc))

    async def _on_disconnect(self) -> None:
        log.warning("nats.disconnected", client=self.name)

    async def _on_reconnect(self) -> None:
        log.info("nats.reconnected", client=self.name)
        # A server that lost its storage comes back without our stream: recreate it.
        try:
            await self.ensure_streams()
        except Exception as exc:
            log.warning("nats.ensure_streams_failed", error=str(exc) or type(exc).__name__)


async def _close_quietly(client: NATS) -> None:
    try:
        await asyncio.wait_for(client.close(), timeout=1)
    except Exception:  # a half-open client may refuse to close; it is dropped anyway
        log.debug("nats.close_failed")
