"""Biggest wins today, per game and currency: a Redis sorted set per UTC day, scored by profit.

Best effort: the ledger is the record of every win; a Redis outage costs the board a few
entries, never a cash-out.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import orjson
import redis.asyncio as aioredis

from letsbet.platform.observability import get_logger

log = get_logger(__name__)

KEEP = 100  # entries kept per board
TTL_SECONDS = 2 * 86_400


def board_key(game_id: str, currency: str, day: date) -> str:
    return f"crash:wins:{game_id}:{currency}:{day:%Y%m%d}"


async def record_win(
    redis: aioredis.Redis,
    *,
    game_id: str,
    currency: str,
    at: datetime,
    bet_id: str,
    player: str,
    amount: int,
    multiplier: int,
    payout: int,
) -> None:
    profit = payout - amount
    if profit <= 0:
        return
    key = board_key(game_id, currency, at.date())
    member = orjson.dumps(
        {
            "bet_id": bet_id,
            "player": player,
            "amount": amount,
            "multiplier": multiplier,
            "payout": payout,
            "at": at.isoformat(),
        }
    )
    try:
        async with redis.pipeline(transaction=True) as pipe:
            pipe.zadd(key, {member: profit})
            pipe.zremrangebyrank(key, 0, -KEEP - 1)
            pipe.expire(key, TTL_SECONDS)
            await pipe.execute()
    except Exception as exc:
        log.warning("crash.leaderboard_unavailable", error=str(exc) or type(exc).__name__)


async def biggest_wins(
    redis: aioredis.Redis, *, game_id: str, currency: str, day: date, limit: int
) -> list[dict[str, Any]]:
    """The day's biggest wins, largest profit first."""
    rows = await redis.zrevrange(board_key(game_id, currency, day), 0, limit - 1)
    return [orjson.loads(row) for row in rows if isinstance(row, bytes | str)]
