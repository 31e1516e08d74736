"""Test harness: real PostgreSQL, Redis and NATS for the whole session.

By default the session starts embedded servers in a temporary dir (what CI does). With
LETSBET_TEST_EXTERNAL=1 it uses DATABASE_URL/REDIS_URL/NATS_URL (default: this machine's
services on the standard ports), in a fresh database per session.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from letsbet.app import create_app
from letsbet.platform import migrate
from letsbet.platform.config import Settings
from letsbet.platform.observability import configure_logging
from letsbet.platform.runtime import Runtime
from tests.support import drop_database, make_settings

EXTERNAL = os.environ.get("LETSBET_TEST_EXTERNAL") == "1"


@pytest.fixture(scope="session")
def server_urls() -> Iterator[dict[str, str]]:
    if EXTERNAL:
        base = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
        name = f"letsbet_test_{uuid.uuid4().hex[:8]}"
        database = base.rsplit("/", 1)[0] + f"/{name}"
        yield {
            "database": database,
            "redis": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/14"),
            "nats": os.environ.get("NATS_URL", "nats://127.0.0.1:4222"),
        }
        asyncio.run(drop_database(database))
        return
    from letsbet.platform.embedded import EmbeddedStack

    data_dir = Path(tempfile.mkdtemp(prefix="letsbet-test-"))
    stack = EmbeddedStack(data_dir, durable=False)
    stack.start()
    try:
        assert stack.postgres and stack.redis and stack.nats
        yield {
            "database": stack.postgres.url.rsplit("/", 1)[0] + "/letsbet_test",
            "redis": stack.redis.url,
            "nats": stack.nats.url,
        }
    finally:
        stack.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def settings(server_urls: dict[str, str]) -> Settings:
    configure_logging("warning", "console")
    s = make_settings(server_urls)
    migrate.upgrade(s.resolved_database_url() or "")
    return s


@pytest.fixture(scope="session")
async def runtime(settings: Settings) -> AsyncIterator[Runtime]:
    rt = Runtime.create(settings, role="test")
    await rt.start()
    await rt.redis.flushdb()
    yield rt
    await rt.close()


@pytest.fixture(scope="session")
def app(runtime: Runtime) -> FastAPI:
    return create_app(runtime)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c
