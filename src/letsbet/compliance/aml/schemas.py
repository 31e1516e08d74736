"""AML alerts as the admin API shows and changes them."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class AlertChangeOut(BaseModel):
    from_status: str | None
    to_status: str
    note: str
    freeze: bool | None  # True: froze withdrawals, False: lifted the freeze
    actor_user_id: uuid.UUID | None  # None: the monitoring consumer
    at: datetime


class AlertOut(BaseModel):
    id: uuid.UUID
    user_id: uuid.UUID
    country: str
    rule: str
    severity: str
    status: str
    evidence: dict[str, Any]
    holds_freeze: bool
    created_at: datetime
    updated_at: datetime
    history: list[AlertChangeOut]


class AlertPage(BaseModel):
    items: list[AlertOut]
    next_cursor: str | None


class AlertPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Literal["investigating", "closed", "reported"] | None = None
    note: str = Field(min_length=1, max_length=2000)
    # Lift this alert's withdrawal freeze (a `reported` alert keeps it until this is sent).
    unfreeze: bool = False
