"""PostgreSQL access: one async engine per process, one transaction per command.

SQLAlchemy Core table definitions (each domain's `tables.py`, all on `metadata`) are the single
schema source; Alembic migrations are generated from them.
"""

from __future__ import annotations

import asyncio
import random
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any, NoReturn, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg
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
            # Up to 2 x pool_size connections, opened as load needs them and then kept: an
            # "overflow" connection that is closed when returned and reopened on the next burst
            # costs a connect, a PostgreSQL backend, type introspection and re-preparing every
            # statement (at placement load that churn was ~6 connections a second per process).
            pool_size=2 * pool_size,
            max_overflow=0,
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
        """The unit of work: commit on success, roll back on any error.

        BEGIN, COMMIT and ROLLBACK go straight to the asyncpg connection under SQLAlchemy's
        (the transaction SQLAlchemy's asyncpg adapter itself would open on the first statement,
        and every statement joins it), which spares SQLAlchemy's transaction bookkeeping: about
        130 µs of CPU per command, a tenth of a bet placement's database work.
        """
        async with self.engine.connect() as conn:
            await driver(conn)  # BEGIN
            try:
                yield conn
            except BaseException:
                await _end(conn, commit=False)
                raise
            await _end(conn, commit=True)

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


def _adapter(conn: AsyncConnection) -> Any:
    """SQLAlchemy's asyncpg adapter under `conn` (no I/O: the connection is checked out)."""
    return conn.sync_connection.connection.dbapi_connection  # type: ignore[union-attr]


async def driver(conn: AsyncConnection) -> asyncpg.Connection:
    """The asyncpg connection under `conn`, inside conn's transaction.

    For the hottest statements (bet placement, the ledger), through `DriverSQL`: a statement on
    it costs a fraction of the same statement through SQLAlchemy (docs/benchmarks.md, section
    4). It shares conn's transaction: BEGIN is sent here if nothing has begun one yet (the
    adapter begins lazily, on the first statement), and conn's COMMIT or ROLLBACK ends both.
    """
    adapted = _adapter(conn)
    # SQLAlchemy's adapter internals (`_transaction`, `_start_transaction`, `_call_and_discard`)
    # are pinned by constraints.txt and covered by tests/platform/test_db.py.
    if adapted._transaction is None:
        if not conn.in_transaction():
            # Outside Database.transaction(): let SQLAlchemy know, so that closing the
            # connection rolls back (the pool does not reset connections on return).
            await conn.begin()
        try:
            await adapted._start_transaction()
        except Exception as exc:
            await _raise_translated(conn, "BEGIN", exc)
    raw: asyncpg.Connection = adapted.driver_connection
    return raw


async def _end(conn: AsyncConnection, *, commit: bool) -> None:
    """COMMIT (or ROLLBACK) the transaction Database.transaction() began on the driver."""
    adapted = _adapter(conn)
    if adapted._transaction is None:  # rolled back already, or committed through SQLAlchemy
        return
    if commit:
        try:
            await adapted._call_and_discard(adapted._transaction.commit)
        except Exception as exc:
            await _raise_translated(conn, "COMMIT", exc)
        return
    try:
        await adapted._call_and_discard(adapted._transaction.rollback)
    except Exception:
        # The connection is broken (or busy with a cancelled query): never pool it again. The
        # caller re-raises the error that led here.
        await conn.invalidate()


async def _raise_translated(conn: AsyncConnection, statement: str, exc: Exception) -> NoReturn:
    """Raise a driver-level error as SQLAlchemy would have (a `sqlalchemy.exc.DBAPIError` with
    the asyncpg error as `orig`, connection invalidated when it died), so that retries, error
    pages and the pool treat it exactly like an error of a SQLAlchemy statement."""
    from sqlalchemy.exc import DBAPIError

    if isinstance(exc, DBAPIError):
        raise exc
    adapted = _adapter(conn)
    dbapi = conn.dialect.loaded_dbapi
    try:
        adapted._handle_exception(exc)  # raises the DB-API form of asyncpg's error
    except dbapi.Error as translated:
        dead = bool(adapted.driver_connection.is_closed())
        if dead:
            await conn.invalidate()
        raise DBAPIError.instance(
            statement, None, translated, dbapi.Error, connection_invalidated=dead
        ) from exc
    except BaseException:  # not a database error (a timeout, the socket): raised as it is
        if adapted.driver_connection.is_closed():
            await conn.invalidate()
        raise
    raise AssertionError("unreachable: _handle_exception always raises")


_PARAM = re.compile(r"(?<![:\w]):([a-z_][a-z0-9_]*)")


def prefix_params(sql: str, prefix: str) -> str:
    """`:name` → `:{prefix}name`, so SQL fragments can share one statement without clashes."""
    return _PARAM.sub(lambda m: f":{prefix}{m.group(1)}", sql)


class DriverSQL:
    """Hand-written SQL with `:name` parameters, pre-converted to asyncpg's `$n` form.

    `fetch`/`fetchrow`/`fetchval` run it on the asyncpg connection under `conn` (`driver`), in
    conn's transaction: a prepared statement asyncpg caches per connection, at a fraction of
    SQLAlchemy's per-statement cost; errors come out as SQLAlchemy's (`_raise_translated`).
    """

    def __init__(self, sql: str) -> None:
        self.names: list[str] = []

        def number(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in self.names:
                self.names.append(name)
            return f"${self.names.index(name) + 1}"

        self.text = sql
        self.sql = _PARAM.sub(number, sql)

    def args(self, values: Mapping[str, object]) -> tuple[object, ...]:
        return tuple(values[name] for name in self.names)

    async def fetch(self, conn: AsyncConnection, values: Mapping[str, object]) -> list[Any]:
        raw = await driver(conn)
        try:
            return list(await raw.fetch(self.sql, *self.args(values)))
        except Exception as exc:
            await _raise_translated(conn, self.text, exc)

    async def fetchrow(self, conn: AsyncConnection, values: Mapping[str, object]) -> Any:
        raw = await driver(conn)
        try:
            return await raw.fetchrow(self.sql, *self.args(values))
        except Exception as exc:
            await _raise_translated(conn, self.text, exc)

    async def fetchval(self, conn: AsyncConnection, values: Mapping[str, object]) -> Any:
        raw = await driver(conn)
        try:
            return await raw.fetchval(self.sql, *self.args(values))
        except Exception as exc:
            await _raise_translated(conn, self.text, exc)
