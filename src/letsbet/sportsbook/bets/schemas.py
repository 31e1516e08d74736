from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from letsbet.platform.money import MajorAmount
from letsbet.sportsbook.catalogue.service import format_odds, parse_odds

OddsText = Annotated[str, Field(pattern=r"^[0-9]{1,4}(\.[0-9]{1,3})?$", examples=["2.50"])]


# One implementation of decimal odds ↔ thousandths: the catalogue's.
odds_to_milli = parse_odds
milli_to_odds = format_odds


class SelectionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    outcome_id: int = Field(gt=0)
    odds: OddsText  # the price the player saw


class PlaceBetRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    bet_type: Literal["single", "multi", "system"]
    selections: list[SelectionIn] = Field(min_length=1, max_length=30)
    stake: MajorAmount  # per line for systems
    system: str | None = Field(None, max_length=20, examples=["2/3", "yankee"])
    odds_change: Literal["none", "higher", "any"] = "none"
    idempotency_key: str = Field(min_length=1, max_length=100, pattern=r"^[\x21-\x7e]+$")


class LegOut(BaseModel):
    leg_no: int
    event_id: int
    market_id: int
    outcome_id: int
    odds: str
    seen_odds: str
    result: str | None
    void_factor: str | None
    dead_heat_factor: str | None


class LineOut(BaseModel):
    line_no: int
    legs: list[int]
    stake: str
    returned: str | None


class StatusOut(BaseModel):
    status: str
    reason: str | None
    at: datetime


class BetOut(BaseModel):
    id: uuid.UUID
    status: str
    reject_code: str | None
    bet_type: str
    system: str | None
    live: bool
    currency: str
    stake_per_line: str
    line_count: int
    total_stake: str
    stake_tax: str
    potential_return: str
    returned: str | None
    winnings_tax: str | None
    payout: str | None
    placed_at: datetime
    settled_at: datetime | None
    legs: list[LegOut]
    lines: list[LineOut]
    history: list[StatusOut]
    replayed: bool = False


class BetSummary(BaseModel):
    id: uuid.UUID
    status: str
    bet_type: str
    currency: str
    total_stake: str
    potential_return: str
    payout: str | None
    placed_at: datetime


class BetPage(BaseModel):
    items: list[BetSummary]
    next_cursor: str | None
