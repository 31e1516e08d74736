"""The process's shared resources: settings, PostgreSQL, Redis, NATS, and lifecycle flags.

One `Runtime` per process, built by the composition root (cli / app / tests) and closed on exit.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import redis.asyncio as aioredis

from letsbet.accounts.tokens import TokenSigner
from letsbet.platform.aio import wait_or_stop
from letsbet.platform.bus.nats import Bus
from letsbet.platform.cache import create_redis
from letsbet.platform.config import Settings, load_settings, reload_changes
from letsbet.platform.db import Database
from letsbet.platform.http.websockets import WebSocketRegistry
from letsbet.platform.observability import configure_logging, get_logger

log = get_logger(__name__)


@dataclass
class Runtime:
    settings: Settings
    db: Database
    redis: aioredis.Redis
    bus: Bus
    role: str = "api"
    draining: bool = False
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    websockets: WebSocketRegistry = field(default_factory=WebSocketRegistry)
    extras: dict[str, Any] = field(default_factory=dict)
    _nats_task: asyncio.Task[None] | None = field(default=None, repr=False)

    @classmethod
    def create(cls, settings: Settings, *, role: str) -> Runtime:
        database_url = settings.resolved_database_url()
        redis_url = settings.resolved_redis_url()
        if not (database_url and redis_url and settings.nats_url):
            raise RuntimeError("server URLs must be resolved (embedded or external) first")
        return cls(
            settings=settings,
            db=Database(
                database_url,
                pool_size=settings.database_pool_size,
                application_name=f"letsbet-{role}",
            ),
            redis=create_redis(redis_url),
            bus=Bus(settings.nats_url, name=f"letsbet-{role}"),
            role=role,
        )

    @property
    def signer(self) -> TokenSigner:
        s = self.settings
        return TokenSigner(
            secret=s.signing_secret,
            issuer=s.jwt_issuer,
            audience=s.jwt_audience,
            access_ttl=timedelta(seconds=s.access_token_ttl_seconds),
            refresh_ttl=timedelta(seconds=s.refresh_token_ttl_seconds),
        )

    async def start(self) -> None:
        """Connect to NATS and make sure the event stream exists.

        NATS down at start is not fatal: writes still commit to the outbox, /readyz reports
        NATS down, and a background task keeps connecting until it is back.
        """
        try:
            await self.bus.connect(attempts=3)
            await self.bus.ensure_streams()
        except Exception as exc:
            log.warning("runtime.nats_unavailable", error=str(exc) or type(exc).__name__)
            self._nats_task = asyncio.create_task(self._connect_nats_until_up())

    async def _connect_nats_until_up(self) -> None:
        delay = 0.5
        while not self.stopping.is_set():
            try:
                await self.bus.connect()
                await self.bus.ensure_streams()
                log.info("runtime.nats_connected")
                return
            except Exception:
                await wait_or_stop(self.stopping, delay)
                delay = min(delay * 2, 5.0)

    async def close(self) -> None:
        if self._nats_task is not None:
            self._nats_task.cancel()
            await asyncio.gather(self._nats_task, return_exceptions=True)
        await self.bus.close()
        await self.redis.aclose()
        await self.db.close()

    def reload(self) -> dict[str, tuple[Any, Any]]:
        """SIGHUP: re-read the environment/.env and apply the reloadable subset."""
        try:
            fresh = load_settings()
        except Exception as exc:
            log.error("config.reload_rejected", error=str(exc))
            return {}
        changes = reload_changes(self.settings, fresh)
        if changes:
            self.settings = self.settings.model_copy(
                update={name: new for name, (_, new) in changes.items()}
            )
            if "log_level" in changes:
                configure_logging(self.settings.log_level, self.settings.effective_log_format)
        log.info("config.reloaded", changed={k: [str(o), str(n)] for k, (o, n) in changes.items()})
        return changes
