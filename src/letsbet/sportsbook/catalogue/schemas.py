"""Catalogue API bodies.

Odds are decimal strings ("2.50", at most 3 decimals) with their exact integer form alongside
(`odds_milli`: thousandths, 2500). Lines are decimal strings ("2.5", "-0.75"; handicaps are the
home side's). Limits are decimal strings in major units of the bettor's currency.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from letsbet.platform.money import MajorAmount

Country = Literal["KE", "NG", "GH"]
EventStatus = Literal["scheduled", "live", "suspended", "ended", "cancelled", "postponed"]
MAX_ID = 2**63 - 1
Id = Annotated[int, Field(ge=1, le=MAX_ID)]
OddsText = Annotated[
    str, Field(min_length=1, max_length=16, description="Decimal odds.", examples=["2.50"])
]
FactorText = Annotated[str, Field(min_length=1, max_length=8, examples=["0.5"])]
Score = Annotated[int, Field(ge=0, le=999)]


def _plausible(moment: datetime) -> datetime:
    # Far-off years with an offset overflow on the way to UTC (a 500); no fixture is there.
    if not 2000 <= moment.year <= 2100 or not 2000 <= moment.astimezone(UTC).year <= 2100:
        raise ValueError("must be between the years 2000 and 2100")
    return moment


Moment = Annotated[AwareDatetime, AfterValidator(_plausible)]
# PostgreSQL text cannot hold NUL, and control characters have no place in a fixture's name.
PRINTABLE = r"^[^\x00-\x1f\x7f]+$"
Name = Annotated[str, Field(min_length=1, max_length=100, pattern=PRINTABLE)]
SportId = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,31}$", examples=["football"])]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


# -- requests ------------------------------------------------------------------------------------
class OutcomeIn(_Strict):
    key: str = Field(min_length=1, max_length=16, examples=["home"])
    name: Name | None = Field(None, description="Display name; derived from the key if absent.")
    odds: OddsText


class MarketIn(_Strict):
    type: str = Field(min_length=1, max_length=32, examples=["over_under"])
    line: str | None = Field(None, min_length=1, max_length=10, examples=["2.5"])
    outcomes: list[OutcomeIn] = Field(min_length=1, max_length=20)


class CompetitionIn(_Strict):
    name: Name = Field(examples=["Premier League"])
    region: str = Field(min_length=1, max_length=64, pattern=PRINTABLE, examples=["England"])


class LimitsIn(_Strict):
    """Per-event limits in major units of the bettor's currency; absent or null: none."""

    max_stake: MajorAmount | None = Field(None, description="Largest stake of one bet.")
    max_payout: MajorAmount | None = Field(None, description="Largest payout of one bet.")
    liability_cap: MajorAmount | None = Field(
        None, description="Most the book may lose on this event across all bets."
    )


class EventCreate(_Strict):
    sport_id: SportId
    competition: CompetitionIn
    home: Name = Field(examples=["Gor Mahia"])
    away: Name = Field(examples=["AFC Leopards"])
    starts_at: Moment
    countries: list[Country] | None = Field(
        None, min_length=1, max_length=3, description="Where it is offered; default all."
    )
    markets: list[MarketIn] = Field(default_factory=list, max_length=200)
    limits: LimitsIn | None = None
    external_id: str | None = Field(None, min_length=1, max_length=128, pattern=PRINTABLE)

    @model_validator(mode="after")
    def _sides_and_countries(self) -> EventCreate:
        if self.home.casefold() == self.away.casefold():
            raise ValueError("home and away must be different teams")
        if self.countries is not None and len(set(self.countries)) != len(self.countries):
            raise ValueError("countries must not repeat")
        return self


class MarketsAdd(_Strict):
    markets: list[MarketIn] = Field(min_length=1, max_length=200)


class OddsChangeIn(_Strict):
    outcome_id: Id
    odds: OddsText


class OddsPatch(_Strict):
    outcomes: list[OddsChangeIn] = Field(min_length=1, max_length=500)

    @model_validator(mode="after")
    def _once_each(self) -> OddsPatch:
        if len({o.outcome_id for o in self.outcomes}) != len(self.outcomes):
            raise ValueError("each outcome may appear once")
        return self


class _ScoreIn(_Strict):
    home_score: Score | None = None
    away_score: Score | None = None

    def score(self) -> tuple[int, int] | None:
        if self.home_score is None or self.away_score is None:
            return None
        return self.home_score, self.away_score

    @model_validator(mode="after")
    def _both_scores(self) -> _ScoreIn:
        if (self.home_score is None) != (self.away_score is None):
            raise ValueError("give both home_score and away_score, or neither")
        return self


class EventPatch(_ScoreIn):
    """Only the fields present change; a limit sent as null is removed."""

    status: Literal["scheduled", "live", "ended", "cancelled", "postponed"] | None = None
    starts_at: Moment | None = None
    max_stake: MajorAmount | None = None
    max_payout: MajorAmount | None = None
    liability_cap: MajorAmount | None = None


class OutcomeResultIn(_Strict):
    outcome_id: Id
    result: Literal["won", "lost"]
    void_factor: FactorText | None = Field(None, description="0 to 1; 0.5 on a half-lost line.")
    dead_heat_factor: FactorText | None = Field(None, description="Above 0 to 1, won only.")


class MarketResultIn(_Strict):
    market_id: Id
    outcomes: list[OutcomeResultIn] = Field(min_length=1, max_length=20)


class ResultIn(_ScoreIn):
    markets: list[MarketResultIn] = Field(default_factory=list, max_length=500)

    @model_validator(mode="after")
    def _something(self) -> ResultIn:
        if not self.markets and self.home_score is None:
            raise ValueError("give market results, a final score, or both")
        return self


# -- responses -----------------------------------------------------------------------------------
class PriceOut(BaseModel):
    id: int
    key: str
    name: str
    odds: str = Field(examples=["2.50"])
    odds_milli: int = Field(examples=[2500])
    active: bool


class OutcomeOut(PriceOut):
    result: Literal["won", "lost"] | None
    void_factor: str | None
    dead_heat_factor: str | None


class MarketOut(BaseModel):
    id: int
    type: str
    line: str | None = Field(examples=["2.5"])
    status: str
    outcomes: list[OutcomeOut]


class MainMarketOut(BaseModel):
    id: int
    type: str
    status: str
    outcomes: list[PriceOut]


class CompetitionOut(BaseModel):
    id: int
    name: str
    region: str


class ScoreOut(BaseModel):
    home: int
    away: int


class LimitsOut(BaseModel):
    max_stake: str | None = Field(examples=["50000.00"])
    max_payout: str | None
    liability_cap: str | None


class EventSummary(BaseModel):
    id: int
    sport: str = Field(examples=["football"])
    competition: CompetitionOut
    home: str
    away: str
    starts_at: datetime
    status: str
    score: ScoreOut | None
    market_count: int = Field(description="Markets open for betting.")
    main_market: MainMarketOut | None = Field(
        description="The headline market: 1X2, or the two-way winner (moneyline) where a "
        "sport has no draw."
    )


class EventPage(BaseModel):
    items: list[EventSummary]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null on the last page."
    )


class EventDetail(BaseModel):
    id: int
    sport: str
    competition: CompetitionOut
    home: str
    away: str
    starts_at: datetime
    status: str
    score: ScoreOut | None
    countries: list[Country]
    limits: LimitsOut
    seq: int = Field(description="Grows on every odds or status change of the event.")
    external_id: str | None
    markets: list[MarketOut]
    updated_at: datetime


class SportOut(BaseModel):
    id: str
    name: str
    live_delay_seconds: int
    live_count: int
    upcoming_count: int
