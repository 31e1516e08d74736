"""Request and response bodies of the fairness and crash-game routes. Multipliers and crash
points are strings with two decimals ("1.26"), amounts decimal strings in major units."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from letsbet.platform.money import MajorAmount

GameHash = Annotated[str, Field(pattern=r"^[0-9a-fA-F]{64}$", examples=["a" * 64])]
Salt = Annotated[
    str,
    Field(min_length=1, max_length=128, pattern=r"^[\x21-\x7e]+$", examples=["0000000000000000"]),
]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


# -- fairness ------------------------------------------------------------------------------------
class ServerSeedIn(_In):
    server_seed: str = Field(min_length=1, max_length=1024)


class ServerSeedHashOut(BaseModel):
    server_seed_hash: str


class CommitmentOut(BaseModel):
    game_id: str
    terminating_hash: str
    salt: str | None  # None until the salt is fixed: no round is played before
    chain_length: int
    edge: float
    rounds_played: int


class VerifyIn(_In):
    game_hash: GameHash
    salt: Salt
    edge: float = Field(1.0, ge=0, lt=100, allow_inf_nan=False)


class VerifyOut(BaseModel):
    game_hash: str
    salt: str
    edge: float
    crash_point: str


class FairRoundOut(BaseModel):
    round_id: int
    game_id: str
    round_number: int
    status: str
    terminating_hash: str
    salt: str
    edge: float
    game_hash: str | None  # revealed once the round has crashed
    crash_point: str | None


# -- games ---------------------------------------------------------------------------------------
class RoundOut(BaseModel):
    game_id: str
    round_id: int
    round_number: int
    status: str
    betting_closes_at: datetime
    started_at: datetime | None
    elapsed_ms: int | None
    current_multiplier: str | None
    crash_point: str | None
    game_hash: str | None
    crashed_at: datetime | None


class HistoryItem(BaseModel):
    round_id: int
    round_number: int
    crash_point: str
    game_hash: str
    started_at: datetime | None
    crashed_at: datetime | None
    bets: int


class HistoryPage(BaseModel):
    items: list[HistoryItem]
    next_before: int | None


class RoundBetOut(BaseModel):
    bet_id: uuid.UUID
    player: str
    amount: str
    currency: str
    status: str
    cashout_multiplier: str | None
    payout: str | None


class RoundBetsOut(BaseModel):
    round_id: int
    game_id: str
    status: str
    items: list[RoundBetOut]


class PlaceCrashBetIn(_In):
    amount: MajorAmount
    auto_cashout: str | int | None = Field(None, examples=["2.00"])
    idempotency_key: str = Field(min_length=1, max_length=100, pattern=r"^[\x21-\x7e]+$")


class CrashBetOut(BaseModel):
    id: uuid.UUID
    round_id: int
    game_id: str
    status: str
    currency: str
    amount: str
    stake_tax: str
    auto_cashout: str | None
    cashout_multiplier: str | None
    cashout_kind: str | None
    payout: str | None
    winnings_tax: str | None
    net_payout: str | None
    placed_at: datetime
    settled_at: datetime | None
    replayed: bool = False


class WinOut(BaseModel):
    player: str
    amount: str
    multiplier: str
    payout: str
    profit: str
    at: datetime


class LeaderboardOut(BaseModel):
    game_id: str
    currency: str
    day: date
    items: list[WinOut]
