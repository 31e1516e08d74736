"""Helpers shared by tests (fixtures live in conftest.py)."""

from __future__ import annotations

import asyncio
import socket
import uuid
from typing import Any

from letsbet.platform.config import Settings, load_settings


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_settings(urls: dict[str, str], **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "environment": "test",
        "database_url": urls["database"],
        "redis_url": urls["redis"],
        "nats_url": urls["nats"],
        "jwt_secret": "test-secret-" + "x" * 32,
        "rate_limit_default": "100000/minute",
        "rate_limit_auth": "100000/minute",
        "rate_limit_money": "100000/minute",
        "log_level": "warning",
        "log_format": "console",
        "_env_file": None,
    }
    values.update(overrides)
    return load_settings(**values)


def random_phone(country: str = "KE") -> str:
    """A valid, unused-looking mobile number for the country."""
    tail = uuid.uuid4().int
    return {
        "KE": f"+2547{tail % 10**8:08d}",
        "NG": f"+234803{tail % 10**7:07d}",
        "GH": f"+23324{tail % 10**7:07d}",
    }[country]


async def poll_until(predicate: Any, *, timeout: float = 10.0, interval: float = 0.05) -> Any:
    """Await `predicate()` until it returns a truthy value or the deadline passes."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s (last value {value!r})")
        await asyncio.sleep(interval)


async def create_players(conn: Any, count: int, country: str = "KE") -> list[uuid.UUID]:
    """Insert player rows directly (no argon2): for ledger tests and benchmarks."""
    import datetime

    import sqlalchemy as sa

    from letsbet.accounts.tables import users

    ids = [uuid.uuid4() for _ in range(count)]
    await conn.execute(
        sa.insert(users),
        [
            {
                "id": user_id,
                "phone": f"+test-{user_id.hex}",
                "password_hash": "!",
                "country_code": country,
                "date_of_birth": datetime.date(1990, 1, 1),
            }
            for user_id in ids
        ],
    )
    return ids


async def drop_database(url: str) -> None:
    """Drop a database the tests created (external servers keep what tests leave)."""
    import asyncpg

    base, name = url.rsplit("/", 1)
    conn = await asyncpg.connect(base + "/postgres")
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()
