"""Leader election for one game: a session-level PostgreSQL advisory lock on a dedicated
connection. The holder runs the game's rounds until it releases the lock or its connection dies
(then PostgreSQL frees the lock and a standby takes over).

The same mechanism as the odds simulator's lock (sportsbook/odds/simulator.py), keyed per game;
the two can become one platform helper.
"""

from __future__ import annotations

import contextlib
import hashlib

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from letsbet.platform.db import Database
from letsbet.platform.observability import get_logger

log = get_logger(__name__)


_HELD = sa.text(
    "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted"
    " AND pid = pg_backend_pid() AND classid = :hi AND objid = :lo AND objsubid = 1)"
)


def lock_key(game_id: str) -> int:
    """A stable signed 64-bit advisory-lock key per game."""
    digest = hashlib.blake2b(f"letsbet:crash:{game_id}".encode(), digest_size=8).digest()
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
        """Still the leader: this session holds the lock (a connection silently replaced by a
        reconnect would not, so ask PostgreSQL, not the connection)."""
        if self._conn is None:
            return False
        try:
            held = bool(await self._conn.scalar(_HELD, {"hi": self._hi, "lo": self._lo}))
            await self._conn.commit()
        except Exception:
            held = False
        if not held:
            log.warning("crash.leader_lock_lost", key=self.key)
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
