"""Reality checks: a reminder on the player's WebSocket of how long the session has lasted.

Every N minutes (the player's choice, else RG_REALITY_CHECK_MINUTES) the socket gets
    {"type": "reality_check", "minutes": 60, "message": "...", "controls": "/api/resp..."}
measured from when the socket was authenticated.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

import orjson

from letsbet.compliance.responsible_gaming import repository as repo

SECONDS_PER_MINUTE = 60.0  # tests shrink it


async def interval_minutes(runtime: Any, user_id: uuid.UUID) -> int:
    default: int = runtime.settings.rg_reality_check_minutes
    try:
        async with runtime.db.connect() as conn:
            row = await repo.controls(conn, user_id)
    except Exception:  # a reminder is never worth failing the socket over
        return default
    return int(row.reality_check_minutes) if row and row.reality_check_minutes else default


def frame(minutes: int) -> str:
    return orjson.dumps(
        {
            "type": "reality_check",
            "minutes": minutes,
            "message": f"You have been playing for {minutes} minutes. Take a break if you need"
            " one; you can set limits, a time-out or self-exclusion at any time.",
            "controls": "/api/responsible-gaming",
        }
    ).decode()


async def remind(runtime: Any, user_id: uuid.UUID, offer: Callable[[str], bool]) -> None:
    """Offer a reminder every interval until the socket goes (offer returns False)."""
    every = await interval_minutes(runtime, user_id)
    elapsed = 0
    while True:
        await asyncio.sleep(every * SECONDS_PER_MINUTE)
        elapsed += every
        if not offer(frame(elapsed)):
            return
