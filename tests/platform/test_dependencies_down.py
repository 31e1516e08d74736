"""Readiness and rate limits with a real dependency stopped: Redis or NATS of our own,
started for the test and stopped mid-test (never a mock)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import Depends, FastAPI

from letsbet.app import create_app
from letsbet.platform.config import Settings
from letsbet.platform.embedded import EmbeddedNats, EmbeddedRedis
from letsbet.platform.http.ratelimit import rate_limit
from letsbet.platform.runtime import Runtime
from tests.support import make_settings


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    server = EmbeddedRedis(tmp_path / "redis", durable=False)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def own_nats(tmp_path: Path) -> Iterator[EmbeddedNats]:
    server = EmbeddedNats(tmp_path / "nats", durable=False)
    server.start()
    yield server
    server.stop()


async def _runtime(settings: Settings, **urls: str) -> Runtime:
    base = {
        "database": settings.resolved_database_url() or "",
        "redis": settings.resolved_redis_url() or "",
        "nats": settings.nats_url or "",
    }
    base.update(urls)
    rt = Runtime.create(
        make_settings(
            base,
            rate_limit_default="3/minute",
            rate_limit_money="2/minute",
            trust_forwarded_for=True,
        ),
        role="test",
    )
    await rt.start()
    return rt


def _app_with_limited_routes(runtime: Runtime) -> FastAPI:
    app = create_app(runtime)

    @app.get("/limited/read", dependencies=[Depends(rate_limit("read"))])
    async def read() -> dict[str, str]:
        return {"ok": "read"}

    @app.post("/limited/money", dependencies=[Depends(rate_limit("money"))])
    async def money() -> dict[str, str]:
        return {"ok": "money"}

    return app


@pytest.fixture
async def redis_runtime(settings: Settings, own_redis: EmbeddedRedis) -> AsyncIterator[Runtime]:
    rt = await _runtime(settings, redis=own_redis.url)
    yield rt
    await rt.close()


def _client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


async def test_readiness_names_redis_down_and_recovers(
    redis_runtime: Runtime, own_redis: EmbeddedRedis
) -> None:
    async with _client(create_app(redis_runtime)) as client:
        assert (await client.get("/readyz")).status_code == 200
        own_redis.stop()
        down = await client.get("/readyz")
        assert down.status_code == 503
        checks = down.json()["checks"]
        assert checks["redis"]["status"] == "down"
        assert checks["postgres"]["status"] == "ok" and checks["nats"]["status"] == "ok"
        assert (await client.get("/healthz")).status_code == 200  # liveness has no deps
        own_redis.start()
        assert (await client.get("/readyz")).status_code == 200


async def test_readiness_names_nats_down(settings: Settings, own_nats: EmbeddedNats) -> None:
    rt = await _runtime(settings, nats=own_nats.url)
    try:
        async with _client(create_app(rt)) as client:
            assert (await client.get("/readyz")).status_code == 200
            own_nats.stop()
            down = await client.get("/readyz")
            assert down.status_code == 503
            assert down.json()["checks"]["nats"]["status"] == "down"
    finally:
        await rt.close()


async def test_readiness_is_503_while_draining(redis_runtime: Runtime) -> None:
    async with _client(create_app(redis_runtime)) as client:
        redis_runtime.draining = True
        response = await client.get("/readyz")
        assert response.status_code == 503 and response.json()["status"] == "draining"


async def test_rate_limit_answers_429_with_retry_after_per_ip(redis_runtime: Runtime) -> None:
    async with _client(_app_with_limited_routes(redis_runtime)) as client:
        ip_a = {"X-Forwarded-For": "203.0.113.7"}
        codes = [(await client.get("/limited/read", headers=ip_a)).status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        limited = await client.get("/limited/read", headers=ip_a)
        assert limited.json()["error"]["code"] == "rate_limited"
        assert 1 <= int(limited.headers["Retry-After"]) <= 61
        other_ip = await client.get("/limited/read", headers={"X-Forwarded-For": "203.0.113.8"})
        assert other_ip.status_code == 200


async def test_redis_down_reads_fail_open_money_fails_closed(
    redis_runtime: Runtime, own_redis: EmbeddedRedis
) -> None:
    async with _client(_app_with_limited_routes(redis_runtime)) as client:
        headers = {"X-Forwarded-For": "198.51.100.1"}
        own_redis.stop()
        read = await client.get("/limited/read", headers=headers)
        assert read.status_code == 200
        money = await client.post("/limited/money", headers=headers)
        assert money.status_code == 503
        assert money.json()["error"]["code"] == "rate_limiter_unavailable"


async def test_postgres_down_is_503_not_500(settings: Settings, tmp_path: Path) -> None:
    import asyncio

    from letsbet.platform import migrate
    from letsbet.platform.embedded import EmbeddedPostgres

    server = EmbeddedPostgres(tmp_path / "pg", durable=False)
    server.start()
    try:
        url = server.url.rsplit("/", 1)[0] + "/letsbet"
        await asyncio.to_thread(migrate.upgrade, url)
        rt = await _runtime(settings, database=url)
        try:
            async with _client(create_app(rt)) as client:
                body = {"phone": "+254712345678", "password": "whatever-123"}
                assert (await client.post("/api/auth/login", json=body)).status_code == 401
                server.stop()
                down = await client.post("/api/auth/login", json=body)
                assert down.status_code == 503, down.text
                assert down.json()["error"]["code"] == "service_unavailable"
                assert down.headers["Retry-After"] == "2"
                ready = await client.get("/readyz")
                assert ready.status_code == 503
                assert ready.json()["checks"]["postgres"]["status"] == "down"
                assert "127.0.0.1" not in ready.text  # no internal addresses in public output
        finally:
            await rt.close()
    finally:
        server.stop()


async def test_forwarded_for_uses_the_entry_our_proxy_appended(redis_runtime: Runtime) -> None:
    async with _client(_app_with_limited_routes(redis_runtime)) as client:
        # A client forging the left part of the header still lands in its own bucket.
        codes = [
            (
                await client.get(
                    "/limited/read", headers={"X-Forwarded-For": f"10.0.0.{i}, 203.0.113.99"}
                )
            ).status_code
            for i in range(4)
        ]
        assert codes == [200, 200, 200, 429]


async def test_process_started_while_nats_is_down_comes_up_and_connects_later(
    settings: Settings, tmp_path: Path
) -> None:
    from letsbet.platform.embedded import EmbeddedNats
    from tests.support import poll_until

    server = EmbeddedNats(tmp_path / "late-nats", durable=False)
    server.start()
    url = server.url
    server.stop()
    rt = await _runtime(settings, nats=url)  # must not hang while NATS is down
    try:
        async with _client(create_app(rt)) as client:
            down = await client.get("/readyz")
            assert down.status_code == 503 and down.json()["checks"]["nats"]["status"] == "down"
            server.start()  # same port: the background task finds it
            await poll_until(lambda: _ready(client), timeout=20)
    finally:
        await rt.close()
        server.stop()


async def _ready(client: httpx.AsyncClient) -> bool:
    return (await client.get("/readyz")).status_code == 200
