"""KYC request and response bodies."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field


class VerifyUserRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    id_type: str = Field(min_length=2, max_length=32, examples=["NATIONAL_ID"])
    id_number: str = Field(min_length=1, max_length=40, examples=["12345678"])
    first_name: str | None = Field(None, max_length=100)
    last_name: str | None = Field(None, max_length=100)
    dob: date | None = None
    user_id: uuid.UUID | None = Field(None, description="Staff only: verify this player.")


class CheckOut(BaseModel):
    job_id: str
    status: str
    kyc_status: str
    result_code: str | None
    result_text: str | None


class CheckRecord(BaseModel):
    job_id: str
    mode: str
    id_type: str
    id_number: str  # masked
    status: str
    result_code: str | None
    result_text: str | None
    name_match: bool | None
    dob_match: bool | None
    created_at: datetime
    completed_at: datetime | None


class HistoryRecord(BaseModel):
    from_status: str
    to_status: str
    reason: str
    by_staff: bool
    at: datetime


class KycOut(BaseModel):
    user_id: uuid.UUID
    kyc_status: str
    id_types: list[str]
    checks: list[CheckRecord]
    history: list[HistoryRecord]
