"""A real api server for WebSocket tests: uvicorn on a free port, the real outbox relay and the
api role's odds-cache writer, on the session's PostgreSQL, Redis and NATS."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn

from letsbet.app import create_app
from letsbet.platform.bus.relay import OutboxRelay
from letsbet.platform.roles import HttpServer
from letsbet.platform.runtime import Runtime
from letsbet.sportsbook.odds.cache import OddsCache
from tests.support import free_port, poll_until


@asynccontextmanager
async def api_server(runtime: Runtime, *, odds_cache: bool = True) -> AsyncIterator[str]:
    """Serve until the block ends; yields "127.0.0.1:<port>". With odds_cache, a fresh
    writer follows the catalogue (as `letsbet serve api` runs it) and is ready on entry."""
    port = free_port()
    server = HttpServer(
        uvicorn.Config(
            create_app(runtime),
            host="127.0.0.1",
            port=port,
            lifespan="off",
            log_config=None,
            ws="websockets-sansio",
            ws_per_message_deflate=False,  # as `letsbet serve` runs it (platform/roles.py)
        )
    )
    stop = asyncio.Event()
    previous = runtime.extras.pop("odds_cache", None)
    tasks = [
        asyncio.create_task(OutboxRelay(runtime.db, runtime.bus, idle_poll_seconds=0.02).run(stop)),
        asyncio.create_task(server.serve()),
    ]
    cache = None
    if odds_cache:
        cache = runtime.extras["odds_cache"] = OddsCache(runtime.redis, runtime.bus)
        tasks.append(asyncio.create_task(cache.run(stop)))
    try:
        await poll_until(lambda: _started(server), timeout=10)
        if cache is not None:
            await poll_until(lambda: _usable(cache), timeout=10)
        yield f"127.0.0.1:{port}"
    finally:
        stop.set()
        server.should_exit = True
        await asyncio.gather(*tasks)
        runtime.extras.pop("odds_cache", None)
        if previous is not None:
            runtime.extras["odds_cache"] = previous


async def _started(server: uvicorn.Server) -> bool:
    return bool(server.started)


async def _usable(cache: OddsCache) -> bool:
    return cache.usable
