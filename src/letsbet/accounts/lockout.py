"""Brute-force protection for login: failures counted per phone and per IP in Redis."""

from __future__ import annotations

import hashlib

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from letsbet.errors import TooManyRequests, Unavailable


class LoginLocked(TooManyRequests):
    code = "login_locked"
    message = "Too many failed logins; wait before trying again."


class LoginUnavailable(Unavailable):
    code = "login_unavailable"
    message = "Login is briefly unavailable; retry in a few seconds."


class LoginLockout:
    def __init__(self, redis: aioredis.Redis, *, max_failures: int, window_seconds: int) -> None:
        self.redis = redis
        self.max_failures = max_failures
        self.window = window_seconds

    @staticmethod
    def _keys(phone: str, ip: str) -> tuple[str, str]:
        # Hash the phone: Redis keys are visible to operators and must not hold PII.
        digest = hashlib.sha256(phone.encode()).hexdigest()[:32]
        return f"login:fail:phone:{digest}", f"login:fail:ip:{ip}"

    async def check(self, phone: str, ip: str) -> None:
        phone_key, ip_key = self._keys(phone, ip)
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for key in (phone_key, ip_key):
                    pipe.get(key)
                    pipe.ttl(key)
                phone_count, phone_ttl, ip_count, ip_ttl = await pipe.execute()
        except RedisError:
            # Without the counters brute force goes unchecked: refuse logins until Redis is back.
            raise LoginUnavailable() from None
        # An IP gets more room than a phone: many players share carrier NAT addresses.
        if int(phone_count or 0) >= self.max_failures:
            raise LoginLocked(retry_after=max(int(phone_ttl), 1))
        if int(ip_count or 0) >= self.max_failures * 10:
            raise LoginLocked(retry_after=max(int(ip_ttl), 1))

    async def failed(self, phone: str, ip: str) -> int:
        """Count a failure; the phone's failures in the window so far."""
        phone_key, ip_key = self._keys(phone, ip)
        async with self.redis.pipeline(transaction=False) as pipe:
            # SET NX EX starts the window once; INCR keeps the TTL (works on Redis 6 and 7).
            for key in (phone_key, ip_key):
                pipe.set(key, 0, ex=self.window, nx=True)
                pipe.incr(key)
            try:
                results = await pipe.execute()
            except RedisError:
                raise LoginUnavailable() from None
        return int(results[1])

    async def succeeded(self, phone: str) -> None:
        try:
            await self.redis.delete(self._keys(phone, "")[0])
        except RedisError:
            pass  # the counter expires by itself
