"""Redis: live odds, rate limits, sessions, leaderboards."""

from __future__ import annotations

import redis.asyncio as aioredis


def create_redis(url: str) -> aioredis.Redis:
    # Short timeouts: a slow Redis must fail a rate-limit check fast, not hang a request.
    return aioredis.Redis.from_url(
        url,
        socket_connect_timeout=2,
        socket_timeout=2,
        health_check_interval=15,
        decode_responses=False,
    )
