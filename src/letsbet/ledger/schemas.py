"""Wallet API bodies. Amounts are decimal strings in major units ("100.50"), never floats."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from letsbet.platform.money import MajorAmount

# The ledger's own key rule: printable ASCII without spaces (ledger.domain._KEY).
IDEMPOTENCY_KEY_PATTERN = r"^[\x21-\x7e]+$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class WalletResponse(BaseModel):
    currency: str = Field(examples=["KES"])
    balance: str = Field(examples=["100.50"])
    held: str = Field(examples=["0.00"])
    available: str = Field(examples=["100.50"])


class TransactionItem(BaseModel):
    """One posting on the player's wallet; `amount` is signed (+ credit, - debit)."""

    id: str
    transfer_id: uuid.UUID
    type: str
    reference: str | None
    amount: str = Field(examples=["-25.00"])
    balance_before: str
    balance_after: str
    currency: str
    created_at: datetime


class TransactionPage(BaseModel):
    items: list[TransactionItem]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next (older) page; null on the last page."
    )


class AdjustmentRequest(_Strict):
    amount: MajorAmount = Field(
        description="Signed: positive credits the player, negative debits them."
    )
    reason: str = Field(min_length=3, max_length=500)
    idempotency_key: str = Field(min_length=1, max_length=128, pattern=IDEMPOTENCY_KEY_PATTERN)


class AdjustmentResponse(BaseModel):
    transfer_id: uuid.UUID
    type: str
    amount: str = Field(examples=["250.00"])
    currency: str
    balance_after: str = Field(description="The player's balance after this adjustment.")
    reason: str
    replayed: bool
