"""Flutterwave v3 wire shapes and webhook verification, without I/O.

Sources: Flutterwave v3 API reference (Standard payments, Ghana mobile money charge, Verify
transaction, Transfers) and its webhook guide: the `verif-hash` header carries the secret hash
set on the dashboard; newer deliveries add `flutterwave-signature`, base64(HMAC-SHA256(raw
body, secret hash)). Sandbox deliveries of `charge.completed` may come flat and camelCase
(txRef, flwRef) instead of the {event, data} envelope. Amounts are major units on the wire.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

GHANA_NETWORKS = ("MTN", "VODAFONE", "TIGO")  # Telecel is VODAFONE on the wire


class WireError(ValueError):
    """A webhook or answer that is not the shape Flutterwave documents."""


def major(minor: int, decimals: int) -> int:
    """Whole major units for the wire; letsbet sends whole amounts only."""
    scale: int = 10**decimals
    if minor % scale:
        raise ValueError(f"{minor} minor units is not a whole amount")
    return minor // scale


def to_minor(value: Any, decimals: int) -> int | None:
    """A wire amount (number or string, major units) in minor units, exactly; None if not one."""
    if value is None or isinstance(value, bool):
        return None
    try:
        amount = Decimal(str(value)) * 10**decimals
    except InvalidOperation:
        return None
    if not amount.is_finite() or amount != amount.to_integral_value():
        return None
    return int(amount)


def hosted_payment_body(
    *,
    tx_ref: str,
    amount: int,
    currency: str,
    redirect_url: str,
    email: str,
    phone: str,
    name: str,
) -> dict[str, Any]:
    return {
        "tx_ref": tx_ref,
        "amount": amount,
        "currency": currency,
        "redirect_url": redirect_url,
        "customer": {"email": email, "phonenumber": phone, "name": name},
        "customizations": {"title": "letsbet deposit"},
    }


def ghana_mobile_money_body(
    *, tx_ref: str, amount: int, network: str, email: str, phone: str
) -> dict[str, Any]:
    if network not in GHANA_NETWORKS:
        raise ValueError(f"network must be one of {', '.join(GHANA_NETWORKS)}")
    return {
        "tx_ref": tx_ref,
        "amount": amount,
        "currency": "GHS",
        "network": network,
        "email": email,
        "phone_number": phone,
    }


def transfer_body(
    *,
    account_bank: str,
    account_number: str,
    amount: int,
    currency: str,
    narration: str,
    reference: str,
    callback_url: str,
) -> dict[str, Any]:
    return {
        "account_bank": account_bank,
        "account_number": account_number,
        "amount": amount,
        "currency": currency,
        "narration": narration,
        "reference": reference,
        "callback_url": callback_url,
        "debit_currency": currency,
    }


# -- webhooks -------------------------------------------------------------------------------
def signature(raw_body: bytes, secret_hash: str) -> str:
    digest = hmac.new(secret_hash.encode(), raw_body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def verify_webhook(
    raw_body: bytes, verif_hash: str | None, signature_header: str | None, secret_hash: str
) -> bool:
    """verif-hash must equal the secret hash; a flutterwave-signature, when present, must be
    the HMAC of the raw body. Both compared in constant time; an unset secret verifies nothing."""
    if not secret_hash or verif_hash is None:
        return False
    if not hmac.compare_digest(verif_hash.encode(), secret_hash.encode()):
        return False
    if signature_header is not None:
        return hmac.compare_digest(
            signature_header.encode(), signature(raw_body, secret_hash).encode()
        )
    return True


@dataclass(frozen=True, slots=True)
class Webhook:
    event: str  # charge.completed | transfer.completed | ...
    id: str  # Flutterwave's transaction or transfer id: what we verify with
    reference: str | None  # tx_ref (charges) or reference (transfers)
    status: str


def parse_webhook(body: Any) -> Webhook:
    if not isinstance(body, dict):
        raise WireError("webhook body must be an object")
    if isinstance(body.get("data"), dict) and "event" in body:
        data = body["data"]
        event = str(body["event"])
        reference = data.get("tx_ref") or data.get("reference")
    elif "txRef" in body or "event.type" in body:  # the sandbox's flat camelCase layout
        data = body
        event = "charge.completed" if "txRef" in body else str(body.get("event.type", ""))
        reference = body.get("txRef")
    else:
        raise WireError("unknown webhook layout")
    if "id" not in data:
        raise WireError("webhook without an id")
    return Webhook(
        event=event,
        id=str(data["id"]),
        reference=str(reference) if reference is not None else None,
        status=str(data.get("status", "")),
    )


@dataclass(frozen=True, slots=True)
class Transaction:
    id: str
    tx_ref: str
    flw_ref: str | None
    status: str  # successful | failed | pending ...
    currency: str
    amount: Any  # raw wire amount (major units)


def parse_transaction(data: Any) -> Transaction:
    try:
        return Transaction(
            id=str(data["id"]),
            tx_ref=str(data["tx_ref"]),
            flw_ref=str(data["flw_ref"]) if data.get("flw_ref") else None,
            status=str(data["status"]),
            currency=str(data["currency"]),
            amount=data["amount"],
        )
    except (KeyError, TypeError) as exc:
        raise WireError(f"not a transaction: {exc!r}") from None


@dataclass(frozen=True, slots=True)
class Transfer:
    id: str
    reference: str
    status: str  # NEW | PENDING | SUCCESSFUL | FAILED
    amount: Any
    currency: str
    complete_message: str


def parse_transfer(data: Any) -> Transfer:
    try:
        return Transfer(
            id=str(data["id"]),
            reference=str(data["reference"]),
            status=str(data["status"]).upper(),
            amount=data.get("amount"),
            currency=str(data.get("currency", "")),
            complete_message=str(data.get("complete_message") or ""),
        )
    except (KeyError, TypeError) as exc:
        raise WireError(f"not a transfer: {exc!r}") from None
