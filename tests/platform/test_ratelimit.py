"""The rate limiter's one-round-trip script on real Redis: the same counts as the `limits`
library on the same keys, the first refusal wins, and the logout denylist in the same call."""

from __future__ import annotations

import uuid

import pytest
from limits import parse

from letsbet.errors import TooManyRequests
from letsbet.platform.http.ratelimit import RateLimiter
from letsbet.platform.runtime import Runtime


@pytest.fixture
def limiter(runtime: Runtime) -> RateLimiter:
    return RateLimiter(runtime.settings.resolved_redis_url() or "")


def _who(kind: str) -> str:
    return f"{kind}:{uuid.uuid4().hex}"


async def test_hits_count_in_limits_own_windows(limiter: RateLimiter) -> None:
    ip = _who("ip")
    for _ in range(3):
        await limiter.check("read", "3/minute", [ip], fail_open=False)
    with pytest.raises(TooManyRequests) as refused:
        await limiter.check("read", "3/minute", [ip], fail_open=False)
    assert 1 <= refused.value.retry_after <= 61
    item = parse("3/minute")
    assert (await limiter.strategy.get_window_stats(item, "read", ip)).remaining == 0
    other = _who("ip")
    await limiter.check("read", "3/minute", [other], fail_open=False)
    assert (await limiter.strategy.get_window_stats(item, "read", other)).remaining == 2
    assert await limiter.strategy.test(item, "read", other)


async def test_every_limit_and_identity_counts_until_the_first_refusal(
    limiter: RateLimiter,
) -> None:
    ip, user = _who("ip"), _who("user")
    spec = "2/minute;10/hour"
    for _ in range(2):
        await limiter.check("money", spec, [user], fail_open=False)
    with pytest.raises(TooManyRequests):
        await limiter.check("money", spec, [ip, user], fail_open=False)
    per_minute, per_hour = parse("2/minute"), parse("10/hour")
    # Limits in spec order, identities in order within each (the old per-hit loop's order):
    # the IP's per-minute hit counted, the user's refused, the per-hour limit never reached.
    assert (await limiter.strategy.get_window_stats(per_minute, "money", ip)).remaining == 1
    assert (await limiter.strategy.get_window_stats(per_hour, "money", ip)).remaining == 10
    assert (await limiter.strategy.get_window_stats(per_hour, "money", user)).remaining == 8


async def test_the_denylist_is_answered_in_the_same_call(
    limiter: RateLimiter, runtime: Runtime
) -> None:
    revoked, live = f"auth:revoked:{uuid.uuid4()}", f"auth:revoked:{uuid.uuid4()}"
    await runtime.redis.set(revoked, b"1", ex=60)
    spec = "100/minute"
    ip = _who("ip")
    assert await limiter.check("read", spec, [ip], fail_open=False, denylist_key=revoked)
    assert not await limiter.check("read", spec, [ip], fail_open=False, denylist_key=live)
    assert not await limiter.check("read", spec, [ip], fail_open=False)
