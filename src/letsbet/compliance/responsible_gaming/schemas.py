"""Responsible-gaming request and response bodies. Amounts are major units, as strings out."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from letsbet.platform.money import MajorAmount


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SelfExclusionRequest(_Strict):
    months: int | None = Field(
        None, ge=1, le=12, description="1-12 months; omit with permanent=true for good."
    )
    permanent: bool = False


class TimeoutRequest(_Strict):
    hours: int = Field(ge=24, le=1008, description="24 hours to six weeks (1008 hours).")


class LimitRequest(_Strict):
    amount: MajorAmount | None = Field(
        description="The limit in the country's currency; null removes it (after 24 hours)."
    )


class RealityCheckRequest(_Strict):
    minutes: int | None = Field(None, ge=10, le=1440)


class LimitOut(BaseModel):
    kind: Literal["deposit", "loss"]
    period: Literal["day", "week", "month"]
    amount: str | None
    pending_amount: str | None
    pending_from: datetime | None
    pending_removal: bool


class ControlsOut(BaseModel):
    currency: str
    self_excluded_until: datetime | None
    self_excluded_permanently: bool
    timeout_until: datetime | None
    reality_check_minutes: int
    limits: list[LimitOut]
