"""Single-leader loops: a session-level PostgreSQL advisory lock on a dedicated connection.

The holder leads until it releases the lock or its session ends (PostgreSQL then frees the lock
and a standby takes over). Used by the crash rounds (one lock per game) and the odds simulator.

    lock = AdvisoryLock(db, advisory_key("crash", game_id))
    if await lock.acquire():
        while await lock.held():   # ask PostgreSQL every step
            ...
        await lock.release()

`held()` asks `pg_locks`, not merely whether the connection answers: a connection silently
replaced by a reconnect (a pool pre-ping, a proxy) answers fine but no longer holds the lock,
and a leader that trusted it would run alongside the new one.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import Awaitable, Callable

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from letsbet.platform.aio import wait_or_stop
from letsbet.platform.db import Database
from letsbet.platform.observability import get_logger

log = get_logger(__name__)

_HELD = sa.text(
    "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted"
    " AND pid = pg_backend_pid() AND classid = :hi AND objid = :lo AND objsubid = 1)"
)


def advisory_key(*parts: str) -> int:
    """A stable signed 64-bit advisory-lock key for a name ("crash", game id)."""
    name = ":".join(("letsbet", *parts))
    digest = hashlib.blake2b(name.encode(), digest_size=8).digest()
    return int.from_bytes(digest, signed=True)


class AdvisoryLock:
    def __init__(self, db: Database, key: int) -> None:
        self.db, self.key = db, key
        # pg_locks shows a bigint advisory key as two 32-bit halves.
        self._hi, self._lo = (key >> 32) & 0xFFFFFFFF, key & 0xFFFFFFFF
        self._conn: AsyncConnection | None = None

    @property
    def connection(self) -> AsyncConnection | None:
        return self._conn

    async def acquire(self) -> bool:
        if self._conn is not None:
            return True
        conn = await self.db.engine.connect()
        try:
            got = bool(await conn.scalar(sa.select(sa.func.pg_try_advisory_lock(self.key))))
            await conn.commit()  # the lock outlives the transaction; an open one would pin xmin
        except BaseException:
            await conn.close()
            raise
        if not got:
            await conn.close()
            return False
        self._conn = conn
        return True

    async def held(self) -> bool:
        """Still the leader: this session holds the lock (ask PostgreSQL, not the connection)."""
        if self._conn is None:
            return False
        try:
            held = bool(await self._conn.scalar(_HELD, {"hi": self._hi, "lo": self._lo}))
            await self._conn.commit()
        except Exception:
            held = False
        if not held:
            log.warning("leader.lock_lost", key=self.key)  # the caller stops leading
            await self._drop()
        return held

    async def release(self) -> None:
        if self._conn is None:
            return
        try:
            await self._conn.execute(sa.select(sa.func.pg_advisory_unlock(self.key)))
            await self._conn.commit()
            await self._conn.close()
        except Exception:
            await self._drop()
        self._conn = None

    async def _drop(self) -> None:
        # A broken or unknown session must not go back to the pool still holding the lock.
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.invalidate()
                await self._conn.close()
        self._conn = None


async def lead_while_held(
    lock: AdvisoryLock,
    stop: asyncio.Event,
    lead: Callable[[], Awaitable[None]],
    *,
    name: str,
    retry_seconds: float,
    on_change: Callable[[bool], None] | None = None,
) -> None:
    """Until `stop`: take the lock when free and run `lead()` (which should return when
    `lock.held()` turns false or `stop` is set), release it, and retry every `retry_seconds`.
    `on_change(True/False)` is told when leadership starts and ends (logs, a gauge)."""
    while not stop.is_set():
        try:
            leading = await lock.acquire()
        except Exception:
            log.exception("leader.lock_failed", name=name)
            leading = False
        if leading:
            if on_change is not None:
                on_change(True)
            try:
                await lead()
            finally:
                if on_change is not None:
                    on_change(False)
                await lock.release()
        await wait_or_stop(stop, retry_seconds)
