"""Daraja wire shapes, built and parsed without I/O (so each is tested byte for byte).

Sources: Safaricom Daraja API documentation (Authorization, M-Pesa Express "STK Push" and
"Query", B2C v3). Amounts on the wire are whole shillings; ResponseCode is a string "0" while a
callback's ResultCode is a number; callback metadata items are matched by Name, never position.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

NAIROBI = timezone(timedelta(hours=3), "EAT")  # Africa/Nairobi keeps no daylight saving
STILL_PROCESSING = "500.001.1001"  # STK query: "The transaction is being processed"
INVALID_TOKEN = "404.001.03"  # noqa: S105 - an error code; "Invalid Access Token"
ACCEPTED = {"ResultCode": 0, "ResultDesc": "Accepted"}  # what a callback receiver answers


class WireError(ValueError):
    """A callback body that is not the shape Daraja documents."""


def timestamp(now: datetime) -> str:
    """YYYYMMDDHHMMSS in Nairobi time (Daraja checks it against its own clock)."""
    if now.tzinfo is None:
        raise ValueError("pass an aware datetime")
    return now.astimezone(NAIROBI).strftime("%Y%m%d%H%M%S")


def stk_password(shortcode: str, passkey: str, stamp: str) -> str:
    """base64(Shortcode + Passkey + Timestamp)."""
    return base64.b64encode(f"{shortcode}{passkey}{stamp}".encode()).decode()


def whole_shillings(minor: int) -> int:
    if minor % 100:
        raise ValueError(f"M-Pesa moves whole shillings; {minor} minor units is not")
    return minor // 100


@dataclass(frozen=True, slots=True)
class StkPush:
    shortcode: str
    passkey: str
    amount_minor: int
    phone: str  # 2547XXXXXXXX / 2541XXXXXXXX
    callback_url: str
    account_reference: str  # <= 12 characters, letters and digits
    description: str  # <= 13 characters


def stk_push_body(req: StkPush, now: datetime) -> dict[str, Any]:
    if not (req.account_reference.isalnum() and len(req.account_reference) <= 12):
        raise ValueError("AccountReference: at most 12 letters or digits")
    if len(req.description) > 13:
        raise ValueError("TransactionDesc: at most 13 characters")
    stamp = timestamp(now)
    return {
        "BusinessShortCode": req.shortcode,
        "Password": stk_password(req.shortcode, req.passkey, stamp),
        "Timestamp": stamp,
        "TransactionType": "CustomerPayBillOnline",
        "Amount": whole_shillings(req.amount_minor),
        "PartyA": req.phone,
        "PartyB": req.shortcode,
        "PhoneNumber": req.phone,
        "CallBackURL": req.callback_url,
        "AccountReference": req.account_reference,
        "TransactionDesc": req.description,
    }


def stk_query_body(shortcode: str, passkey: str, checkout_id: str, now: datetime) -> dict[str, Any]:
    stamp = timestamp(now)
    return {
        "BusinessShortCode": shortcode,
        "Password": stk_password(shortcode, passkey, stamp),
        "Timestamp": stamp,
        "CheckoutRequestID": checkout_id,
    }


def security_credential(initiator_password: str, certificate_pem: bytes) -> str:
    """The initiator password encrypted with the certificate's RSA public key (PKCS#1 v1.5),
    base64: Daraja's SecurityCredential. PKCS#1 v1.5 is randomised, so each call differs."""
    key = x509.load_pem_x509_certificate(certificate_pem).public_key()
    if not isinstance(key, RSAPublicKey):
        raise ValueError("the M-Pesa certificate must carry an RSA key")
    encrypted = key.encrypt(initiator_password.encode(), padding.PKCS1v15())
    return base64.b64encode(encrypted).decode()


@dataclass(frozen=True, slots=True)
class B2C:
    originator_id: str
    initiator_name: str
    security_credential: str
    amount_minor: int
    shortcode: str
    phone: str
    remarks: str
    result_url: str
    timeout_url: str
    occasion: str = ""


def b2c_body(req: B2C) -> dict[str, Any]:
    return {
        "OriginatorConversationID": req.originator_id,
        "InitiatorName": req.initiator_name,
        "SecurityCredential": req.security_credential,
        "CommandID": "BusinessPayment",
        "Amount": whole_shillings(req.amount_minor),
        "PartyA": req.shortcode,
        "PartyB": req.phone,
        "Remarks": req.remarks[:100],
        "QueueTimeOutURL": req.timeout_url,
        "ResultURL": req.result_url,
        "Occasion": req.occasion[:100],
    }


# -- callbacks ------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class StkCallback:
    merchant_request_id: str
    checkout_request_id: str
    result_code: int
    result_desc: str
    amount_minor: int | None
    receipt: str | None
    transaction_date: str | None
    phone: str | None  # 2547..., as Daraja sends it (a number)


def _items(raw: Any, name_key: str) -> dict[str, Any]:
    if isinstance(raw, dict):  # a single item may arrive unwrapped
        raw = [raw]
    if not isinstance(raw, list):
        return {}
    return {
        str(item[name_key]): item.get("Value")
        for item in raw
        if isinstance(item, dict) and name_key in item
    }


def _minor(value: Any) -> int | None:
    """A wire amount in whole shillings (1, 1.0, "1.00") as minor units, exactly; else None."""
    if value is None or isinstance(value, bool):
        return None
    try:
        amount = Decimal(str(value)) * 100
    except InvalidOperation:
        return None
    if not amount.is_finite() or amount != amount.to_integral_value():
        return None
    return int(amount)


def parse_stk_callback(body: Any) -> StkCallback:
    try:
        cb = body["Body"]["stkCallback"]
        merchant = str(cb["MerchantRequestID"])
        checkout = str(cb["CheckoutRequestID"])
        code = int(cb["ResultCode"])
        desc = str(cb.get("ResultDesc", ""))
    except (KeyError, TypeError, ValueError) as exc:
        raise WireError(f"not an STK callback: {exc!r}") from None
    items = _items((cb.get("CallbackMetadata") or {}).get("Item"), "Name")
    receipt = items.get("MpesaReceiptNumber")
    phone = items.get("PhoneNumber")
    date = items.get("TransactionDate")
    return StkCallback(
        merchant_request_id=merchant,
        checkout_request_id=checkout,
        result_code=code,
        result_desc=desc,
        amount_minor=_minor(items.get("Amount")),
        receipt=str(receipt) if receipt is not None else None,
        transaction_date=str(date) if date is not None else None,
        phone=str(phone) if phone is not None else None,
    )


@dataclass(frozen=True, slots=True)
class B2CResult:
    result_type: int
    result_code: int
    result_desc: str
    originator_id: str
    conversation_id: str
    transaction_id: str | None
    amount_minor: int | None


def parse_b2c_result(body: Any) -> B2CResult:
    try:
        result = body["Result"]
        code = int(result["ResultCode"])
        originator = str(result["OriginatorConversationID"])
    except (KeyError, TypeError, ValueError) as exc:
        raise WireError(f"not a B2C result: {exc!r}") from None
    params = _items((result.get("ResultParameters") or {}).get("ResultParameter"), "Key")
    transaction = result.get("TransactionID") or params.get("TransactionReceipt")
    return B2CResult(
        result_type=int(result.get("ResultType", 0) or 0),
        result_code=code,
        result_desc=str(result.get("ResultDesc", "")),
        originator_id=originator,
        conversation_id=str(result.get("ConversationID", "")),
        transaction_id=str(transaction) if transaction else None,
        amount_minor=_minor(params.get("TransactionAmount")),
    )
