"""Payments API bodies. Amounts are decimal strings in major units ("100.00"), never floats."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from letsbet.platform.money import MajorAmount

IDEMPOTENCY_KEY_PATTERN = r"^[\x21-\x7e]+$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class DepositRequest(_Strict):
    amount: MajorAmount = Field(description="Whole amount in the country's currency.")
    idempotency_key: str = Field(min_length=1, max_length=100, pattern=IDEMPOTENCY_KEY_PATTERN)
    network: Literal["MTN", "VODAFONE", "TIGO"] | None = Field(
        None, description="Ghana: the mobile money network to charge."
    )


class WithdrawalRequest(_Strict):
    amount: MajorAmount = Field(
        description="At most this much leaves the wallet; withholding tax comes out of it."
    )
    idempotency_key: str = Field(min_length=1, max_length=100, pattern=IDEMPOTENCY_KEY_PATTERN)
    account_bank: str | None = Field(
        None,
        max_length=20,
        pattern=r"^[A-Za-z0-9]+$",
        description="Nigeria: bank code. Ghana: MTN, VODAFONE or TIGO. Kenya: unused (M-Pesa).",
    )
    account_number: str | None = Field(
        None,
        max_length=20,
        pattern=r"^[0-9]+$",
        description="Nigeria: account number. Ghana: wallet number (default: your phone).",
    )


class PaymentOut(BaseModel):
    id: uuid.UUID
    direction: Literal["deposit", "withdrawal"]
    provider: Literal["mpesa", "flutterwave"]
    status: Literal["initiated", "pending", "succeeded", "failed", "timed_out"]
    reason: str | None = Field(description="Why it ended as it did: ok, cancelled, ...")
    currency: str
    amount: str = Field(description="Deposit: paid in. Withdrawal: debited from the wallet.")
    tax: str = Field(description="Excise on a deposit, withholding on a withdrawal.")
    net: str = Field(description="Deposit: credited. Withdrawal: sent to you.")
    tax_regime: str | None
    phone: str | None = Field(description="Masked.")
    provider_reference: str | None = Field(
        description="CheckoutRequestID, OriginatorConversationID, tx_ref or transfer reference."
    )
    receipt: str | None = Field(description="M-Pesa receipt, TransactionID or flw_ref.")
    result_code: str | None
    result_desc: str | None
    checkout_url: str | None = Field(description="Flutterwave: where to complete the payment.")
    created_at: datetime
    completed_at: datetime | None
    replayed: bool = False


class PaymentPage(BaseModel):
    items: list[PaymentOut]
    next_cursor: str | None
