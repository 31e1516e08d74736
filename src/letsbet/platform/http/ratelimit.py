"""Rate limits in Redis: per client IP and per user, sliding window counters.

Scopes: `read` (default), `auth` (login/register), `money` (anything that moves money). When
Redis is unreachable, reads fail open and money fails closed (both configurable).

One Redis round trip per request: a Lua script counts the hit against every limit and identity
(the `limits` library's sliding window counter, same keys and arithmetic, first refusal wins)
and, for a caller with a token, answers whether the token is on the logout denylist, which
`deps.current_principal` then uses instead of asking Redis again. `limits` still parses the
specs and, on a refusal only, computes Retry-After.
"""

from __future__ import annotations

import time
from typing import Literal

from fastapi import Request
from limits import RateLimitItem, parse_many
from limits.aio.storage import RedisStorage
from limits.aio.storage.redis.redispy import RedispyBridge
from limits.aio.strategies import SlidingWindowCounterRateLimiter

from letsbet.errors import TooManyRequests, Unavailable
from letsbet.platform.http.deps import DENYLIST_CHECKED, peek_principal, revoked_key
from letsbet.platform.http.middleware import client_ip
from letsbet.platform.observability import RATE_LIMITED, get_logger

log = get_logger(__name__)

Scope = Literal["read", "auth", "money"]

# limits' acquire_sliding_window.lua (amount 1) over several limits, then the denylist.
# KEYS: each limit's previous and current window keys, then the denylist key (may be absent).
# ARGV: the number of limits, then each limit's amount and window in seconds.
# Returns {n, denylisted}: n is the first limit that refused (1-based), 0 if none did.
_HIT = """
local checks = tonumber(ARGV[1])
local denylisted = 0
if #KEYS > 2 * checks then
    denylisted = redis.call('exists', KEYS[#KEYS])
end
for i = 1, checks do
    local previous_key, current_key = KEYS[2 * i - 1], KEYS[2 * i]
    local limit = tonumber(ARGV[2 * i])
    local expiry = tonumber(ARGV[2 * i + 1]) * 1000
    local current_ttl = tonumber(redis.call('pttl', current_key))
    if current_ttl > 0 and current_ttl < expiry then
        redis.call('rename', current_key, previous_key)
        redis.call('set', current_key, 0, 'PX', current_ttl + expiry)
    end
    local previous_count = tonumber(redis.call('get', previous_key)) or 0
    local previous_ttl = tonumber(redis.call('pttl', previous_key)) or 0
    local current_count = tonumber(redis.call('get', current_key)) or 0
    if previous_ttl <= 0 then
        previous_ttl = 0
    end
    local weighted = math.floor(previous_count * previous_ttl / expiry) + current_count
    if weighted + 1 > limit then
        return {i, denylisted}
    end
    if redis.call('exists', current_key) == 1 then
        redis.call('incrby', current_key, 1)
    else
        redis.call('set', current_key, 1, 'PX', expiry * 2)
    end
end
return {0, denylisted}
"""


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
        # The script runs on limits' own client (and connection pool), on the same keys.
        bridge = self.storage.bridge
        assert isinstance(bridge, RedispyBridge)
        self._hit = bridge.get_connection().register_script(_HIT.encode())
        self._parsed: dict[str, list[RateLimitItem]] = {}

    def _items(self, spec: str) -> list[RateLimitItem]:
        if spec not in self._parsed:  # specs change only on SIGHUP; parse each once
            self._parsed[spec] = parse_many(spec)
        return self._parsed[spec]

    def _keys(self, key: str) -> list[str]:
        """limits' previous and current window keys for a sliding window counter key."""
        prefix = self.storage.bridge.key_prefix
        return [f"{prefix}:{{{key}}}/-1", f"{prefix}:{{{key}}}"]

    async def check(
        self,
        scope: Scope,
        spec: str,
        identities: list[str],
        *,
        fail_open: bool,
        denylist_key: str | None = None,
    ) -> bool:
        """Count one hit against every limit of `spec` for every identity, in one round trip;
        raise TooManyRequests at the first that refuses. Returns whether `denylist_key` exists
        (False when not given, or when Redis failed and `fail_open` let the request through)."""
        checks = [(item, identity) for item in self._items(spec) for identity in identities]
        keys = [k for item, identity in checks for k in self._keys(item.key_for(scope, identity))]
        args: list[int] = [len(checks)]
        for item, _ in checks:
            args += [item.amount, item.get_expiry()]
        try:
            refused, denylisted = await self._hit(
                keys=keys + ([denylist_key] if denylist_key else []), args=args
            )
            if refused:
                item, identity = checks[refused - 1]
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
            return False
        return bool(denylisted)


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
        denylist = revoked_key(principal.token_id) if principal is not None else None
        denylisted = await limiter.check(
            scope, spec, identities, fail_open=fail_open, denylist_key=denylist
        )
        if principal is not None:  # current_principal need not ask Redis again
            request.scope["state"][DENYLIST_CHECKED] = denylisted

    return dependency
