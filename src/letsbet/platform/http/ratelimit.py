"""Rate limits in Redis through the `limits` library: per client IP and per user.

Scopes: `read` (default), `auth` (login/register), `money` (anything that moves money). When
Redis is unreachable, reads fail open and money fails closed (both configurable).
"""

from __future__ import annotations

import time
from typing import Literal

from fastapi import Request
from limits import RateLimitItem, parse_many
from limits.aio.storage import RedisStorage
from limits.aio.strategies import SlidingWindowCounterRateLimiter

from letsbet.errors import TooManyRequests, Unavailable
from letsbet.platform.http.deps import peek_principal
from letsbet.platform.http.middleware import client_ip
from letsbet.platform.observability import RATE_LIMITED, get_logger

log = get_logger(__name__)

Scope = Literal["read", "auth", "money"]


class RateLimiterUnavailable(Unavailable):
    code = "rate_limiter_unavailable"
    message = "Money actions are paused while a required service recovers; retry shortly."


class RateLimiter:
    def __init__(self, redis_url: str) -> None:
        self.storage = RedisStorage(
            "async+" + redis_url,
            implementation="redispy",
            socket_timeout=1,
            socket_connect_timeout=1,
        )
        self.strategy = SlidingWindowCounterRateLimiter(self.storage)
        self._parsed: dict[str, list[RateLimitItem]] = {}

    def _items(self, spec: str) -> list[RateLimitItem]:
        if spec not in self._parsed:  # specs change only on SIGHUP; parse each once
            self._parsed[spec] = parse_many(spec)
        return self._parsed[spec]

    async def check(
        self, scope: Scope, spec: str, identities: list[str], *, fail_open: bool
    ) -> None:
        try:
            for item in self._items(spec):
                for identity in identities:
                    if not await self.strategy.hit(item, scope, identity):
                        stats = await self.strategy.get_window_stats(item, scope, identity)
                        RATE_LIMITED.labels(scope).inc()
                        raise TooManyRequests(retry_after=int(stats.reset_time - time.time()) + 1)
        except TooManyRequests:
            raise
        except Exception as exc:
            log.warning(
                "ratelimit.storage_unavailable", scope=scope, error=str(exc), fail_open=fail_open
            )
            if not fail_open:
                raise RateLimiterUnavailable() from None


def rate_limit(scope: Scope = "read"):  # type: ignore[no-untyped-def]
    """A route dependency: `dependencies=[Depends(rate_limit("money"))]`."""

    async def dependency(request: Request) -> None:
        runtime = request.app.state.runtime
        limiter: RateLimiter = request.app.state.rate_limiter
        settings = runtime.settings
        spec = {
            "read": settings.rate_limit_default,
            "auth": settings.rate_limit_auth,
            "money": settings.rate_limit_money,
        }[scope]
        identities = [f"ip:{client_ip(request.scope, settings.trust_forwarded_for)}"]
        principal = peek_principal(request)
        if principal is not None:
            identities.append(f"user:{principal.user_id}")
        fail_open = (
            settings.rate_limit_fail_open_money
            if scope == "money"
            else settings.rate_limit_fail_open_reads
        )
        await limiter.check(scope, spec, identities, fail_open=fail_open)

    return dependency
