"""PostgreSQL access: one async engine per process, one transaction per command.

SQLAlchemy Core table definitions (each domain's `tables.py`, all on `metadata`) are the single
schema source; Alembic migrations are generated from them.
"""

from __future__ import annotations

import asyncio
import random
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

COUNTRY_CODES = ("KE", "NG", "GH")
T = TypeVar("T")


def country_code_column() -> sa.Column[str]:
    """Every tenant-scoped table carries this: NOT NULL, indexed, one of our countries."""
    return sa.Column(
        "country_code",
        sa.CHAR(2),
        sa.CheckConstraint("country_code IN ('KE','NG','GH')", name="country_code"),
        nullable=False,
        index=True,
    )


def asyncpg_url(url: str) -> str:
    """postgresql://… (libpq style, as operators write it) → SQLAlchemy's asyncpg form."""
    parts = urlsplit(url)
    scheme = "postgresql+asyncpg"
    query = []
    for key, value in parse_qsl(parts.query):
        # asyncpg takes `ssl` where libpq takes `sslmode`, with the same values.
        query.append(("ssl", value) if key == "sslmode" else (key, value))
    return urlunsplit((scheme, parts.netloc, parts.path, urlencode(query), parts.fragment))


def plain_url(url: str) -> str:
    """The libpq form asyncpg.connect() and psql understand."""
    parts = urlsplit(url)
    return urlunsplit(("postgresql", parts.netloc, parts.path, parts.query, parts.fragment))


class Database:
    def __init__(self, url: str, *, pool_size: int = 10, application_name: str = "letsbet") -> None:
        self.url = url
        self.engine: AsyncEngine = create_async_engine(
            asyncpg_url(url),
            pool_size=pool_size,
            max_overflow=pool_size,
            pool_pre_ping=False,
            pool_recycle=1800,
            # Every checkout ends in COMMIT or ROLLBACK (engine.begin / Connection.close), so the
            # pool's extra reset ROLLBACK is a wasted round trip on every command.
            pool_reset_on_return=None,
            connect_args={
                "server_settings": {"application_name": application_name},
                "command_timeout": 30,
                "timeout": 5,  # connect timeout: a black-holed host must fail fast
            },
        )

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """The unit of work: commit on success, roll back on any error."""
        async with self.engine.begin() as conn:
            yield conn

    @asynccontextmanager
    async def connect(self) -> AsyncIterator[AsyncConnection]:
        async with self.engine.connect() as conn:
            yield conn

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(sa.text("SELECT 1"))

    async def close(self) -> None:
        await self.engine.dispose()


async def ensure_database(url: str) -> None:
    """Create the target database if the server lacks it (embedded and fresh local servers)."""
    import asyncpg

    parts = urlsplit(plain_url(url))
    name = parts.path.lstrip("/") or "postgres"
    if name == "postgres":
        return
    admin = urlunsplit((parts.scheme, parts.netloc, "/postgres", parts.query, ""))
    conn = await asyncpg.connect(admin.replace("sslmode=", "ssl="))
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


# PostgreSQL asks the client to retry these: the transaction lost a race, nothing was written.
RETRYABLE_SQLSTATES = frozenset({"40001", "40P01"})  # serialization_failure, deadlock_detected


def is_retryable(exc: BaseException) -> bool:
    from sqlalchemy.exc import DBAPIError

    return isinstance(exc, DBAPIError) and (
        getattr(exc.orig, "sqlstate", None) in RETRYABLE_SQLSTATES
    )


async def run_in_transaction(
    db: Database,
    work: Callable[[AsyncConnection], Awaitable[T]],
    *,
    attempts: int = 6,
    base_delay: float = 0.005,
) -> T:
    """Run `work` in one transaction, retrying deadlocks and serialisation failures with
    bounded, jittered exponential backoff. `work` must be safe to re-run from the start."""
    for attempt in range(1, attempts + 1):
        try:
            async with db.transaction() as conn:
                return await work(conn)
        except Exception as exc:
            if not is_retryable(exc) or attempt == attempts:
                raise
            # Full jitter (AWS architecture blog): spreads retries of colliding transactions.
            await asyncio.sleep(random.uniform(0, base_delay * 2**attempt))  # noqa: S311
    raise AssertionError("unreachable")


class DriverSQL:
    """Hand-written SQL with `:name` parameters, pre-converted to asyncpg's `$n` form.

    For the hottest statements (the ledger's lock and write): `conn.exec_driver_sql` skips
    SQLAlchemy's statement compilation and parameter processing (a few percent more transfers
    per second in the ledger benchmark; the rest of SQLAlchemy's cost is per transaction).
    """

    def __init__(self, sql: str) -> None:
        self.names: list[str] = []

        def number(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in self.names:
                self.names.append(name)
            return f"${self.names.index(name) + 1}"

        self.text = sql
        self.sql = re.sub(r"(?<![:\w]):([a-z_][a-z0-9_]*)", number, sql)

    def args(self, values: dict[str, object]) -> tuple[object, ...]:
        return tuple(values[name] for name in self.names)

    async def execute(self, conn: AsyncConnection, values: dict[str, object]) -> Any:
        return await conn.exec_driver_sql(self.sql, self.args(values))
