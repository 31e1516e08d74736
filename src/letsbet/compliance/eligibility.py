"""One answer to "may this player do this money action now?" for every path.

Sports bets, crash bets, deposits and withdrawals all call `check`, so a rule added here (the
compliance issue adds self-exclusion, limits, KYC and geolocation) applies everywhere at once.
"""

from __future__ import annotations

import uuid
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from letsbet.accounts.tables import users
from letsbet.errors import Forbidden


class Action(StrEnum):
    SPORTS_BET = "sports_bet"
    CRASH_BET = "crash_bet"
    DEPOSIT = "deposit"
    WITHDRAWAL = "withdrawal"


class NotEligible(Forbidden):
    code = "player_not_eligible"
    message = "This account may not do this right now."


async def check(
    conn: AsyncConnection,
    *,
    user_id: uuid.UUID,
    country: str,
    action: Action,
    allowed_countries: list[str],
) -> None:
    """Raise NotEligible (403 player_not_eligible) with the reason, or return."""
    status = await conn.scalar(sa.select(users.c.status).where(users.c.id == user_id))
    if status is None or status != "active":
        raise NotEligible("This account is suspended or closed.", reason="account_inactive")
    if country not in allowed_countries:
        raise NotEligible(f"letsbet is closed in {country}.", reason="country_not_allowed")
