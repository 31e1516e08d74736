from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Country = Literal["KE", "NG", "GH"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class RegisterRequest(_Strict):
    phone: str = Field(min_length=7, max_length=20, examples=["+254712345678"])
    password: str = Field(min_length=8, max_length=128)
    country: Country
    date_of_birth: date
    first_name: str | None = Field(None, min_length=1, max_length=64)
    last_name: str | None = Field(None, min_length=1, max_length=64)


class LoginRequest(_Strict):
    phone: str = Field(min_length=7, max_length=20)
    password: str = Field(min_length=1, max_length=128)
    country: Country | None = None


class RefreshRequest(_Strict):
    refresh_token: str = Field(min_length=10, max_length=4096)


class LogoutRequest(_Strict):
    refresh_token: str | None = Field(None, min_length=10, max_length=4096)


class TokenResponse(BaseModel):
    access_token: str
    refresh_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth token type, not a secret
    expires_in: int


class UserResponse(BaseModel):
    id: uuid.UUID
    phone: str
    country: Country
    currency: str
    role: str
    status: str
    first_name: str | None
    last_name: str | None
    date_of_birth: date
    kyc_verified: bool = False
    kyc_status: Literal["unverified", "pending", "verified", "rejected", "needs_review"] = (
        "unverified"
    )
    created_at: datetime


class KycUpdate(_Strict):
    """A staff review: `status` (or the older `verified`: true → verified, false → unverified)
    and why."""

    verified: bool | None = None
    status: Literal["unverified", "verified", "rejected", "needs_review"] | None = None
    reason: str = Field("", max_length=500)
