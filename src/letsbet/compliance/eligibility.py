"""One answer to "may this player do this money action now?" for every path.

Sports bets, crash bets, deposits and withdrawals all call `check`, so a rule added here (the
compliance issue adds self-exclusion, limits, KYC and geolocation) applies everywhere at once.

A hot path that reads much else in one statement (bet placement) puts INPUTS_SQL in its select
list instead and calls `decide` on the row: the same inputs, the same rules, no round trip of
its own. A new rule adds its inputs to INPUTS_SQL and `Inputs`, and its test to `decide`.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from letsbet.errors import Forbidden
from letsbet.platform.db import DriverSQL


class Action(StrEnum):
    SPORTS_BET = "sports_bet"
    CRASH_BET = "crash_bet"
    DEPOSIT = "deposit"
    WITHDRAWAL = "withdrawal"


class NotEligible(Forbidden):
    code = "player_not_eligible"
    message = "This account may not do this right now."


# Everything the rules read, as select-list items over the parameter :user_id.
INPUTS_SQL = "(SELECT status FROM users WHERE id = :user_id) AS account_status"
_INPUTS = DriverSQL("SELECT " + INPUTS_SQL)


@dataclass(frozen=True, slots=True)
class Inputs:
    account_status: str | None  # None: no such account

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> Inputs:
        """From a row carrying INPUTS_SQL's columns."""
        return cls(account_status=row["account_status"])


def decide(inputs: Inputs, *, country: str, action: Action, allowed_countries: list[str]) -> None:
    """Raise NotEligible (403 player_not_eligible) with the reason, or return."""
    if inputs.account_status != "active":
        raise NotEligible("This account is suspended or closed.", reason="account_inactive")
    if country not in allowed_countries:
        raise NotEligible(f"letsbet is closed in {country}.", reason="country_not_allowed")


async def check(
    conn: AsyncConnection,
    *,
    user_id: uuid.UUID,
    country: str,
    action: Action,
    allowed_countries: list[str],
) -> None:
    """Raise NotEligible (403 player_not_eligible) with the reason, or return."""
    row = await _INPUTS.fetchrow(conn, {"user_id": user_id})
    decide(Inputs.of(row), country=country, action=action, allowed_countries=allowed_countries)
