"""Provider callbacks and webhooks: trust nothing until verified, credit exactly once.

M-Pesa signs nothing, so an STK or B2C callback is accepted only when the URL's per-payment
token matches (constant-time, on its SHA-256), the source IP is allowed (when an allowlist is
set), the CheckoutRequestID / OriginatorConversationID is the payment's own, and the amount and
phone match what we asked for. A Flutterwave webhook needs a valid verif-hash (and signature,
when sent), and is then only a hint: the transaction or transfer is fetched back from
Flutterwave before anything is credited. Duplicates are answered like the first delivery.
"""

from __future__ import annotations

import hmac
import ipaddress
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncConnection

from letsbet.errors import BadRequest, Forbidden, Unauthorized
from letsbet.payments import repository as repo
from letsbet.payments.domain import (
    Decision,
    Direction,
    Outcome,
    Status,
    b2c_result,
    hash_token,
    mask_phone,
    msisdn,
    stk_result,
)
from letsbet.payments.flutterwave import wire as flw
from letsbet.payments.gateway import Gateway
from letsbet.payments.http import ProviderError
from letsbet.payments.mpesa import wire as mpesa
from letsbet.payments.settlement import Settled, apply_outcome, charge_outcome, transfer_outcome
from letsbet.platform.db import Database, run_in_transaction
from letsbet.platform.observability import (
    PAYMENT_CALLBACK_TO_CREDIT,
    PAYMENT_CALLBACKS,
    get_logger,
)

log = get_logger(__name__)


class CallbackRejected(Forbidden):
    """One code for every refused callback: a forger learns nothing about why."""

    code = "callback_rejected"
    message = "The callback could not be accepted."


class InvalidCallback(BadRequest):
    code = "invalid_callback"
    message = "The callback body is not in the provider's documented shape."


class InvalidSignature(Unauthorized):
    code = "invalid_signature"
    message = "The webhook signature does not verify."


def parse_json(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise InvalidCallback() from None


def ip_allowed(ip: str, allowlist: list[str]) -> bool:
    """Empty allowlist: no source-IP check. Entries are addresses or CIDR networks."""
    if not allowlist:
        return True
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    for entry in allowlist:
        try:
            if address in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue
    return False


def _reject(provider: str, kind: str, why: str, **context: Any) -> CallbackRejected:
    PAYMENT_CALLBACKS.labels(provider, kind, "rejected").inc()
    log.warning("payments.callback_rejected", provider=provider, kind=kind, why=why, **context)
    return CallbackRejected()


async def _locked_payment(
    conn: AsyncConnection, kind: str, payment_id: uuid.UUID, token: str, direction: Direction
) -> Any:
    row = await repo.by_id(conn, payment_id, for_update=True)
    # Compare even when the payment is unknown, so timing does not tell ids apart.
    stored = row.callback_token_hash if row is not None else "0" * 64
    if not hmac.compare_digest(hash_token(token).encode(), stored.encode()) or row is None:
        raise _reject("mpesa", kind, "token", payment_id=str(payment_id))
    if row.provider != "mpesa" or row.direction != direction.value:
        raise _reject("mpesa", kind, "wrong_payment", payment_id=str(payment_id))
    return row


def _observe(provider: str, kind: str, settled: Settled, received: float) -> None:
    outcome = {
        Decision.APPLY: "applied",
        Decision.DUPLICATE: "duplicate",
        Decision.CONFLICT: "conflict",
    }[settled.decision]
    PAYMENT_CALLBACKS.labels(provider, kind, outcome).inc()
    if settled.decision is Decision.APPLY and settled.moved_money:
        PAYMENT_CALLBACK_TO_CREDIT.labels(provider).observe(time.perf_counter() - received)


# -- M-Pesa STK Push callback ---------------------------------------------------------------
async def on_stk_callback(
    db: Database,
    *,
    payment_id: uuid.UUID,
    token: str,
    raw: bytes,
    source_ip: str,
    allowed_ips: list[str],
    received: float,
) -> Settled:
    if not ip_allowed(source_ip, allowed_ips):
        raise _reject("mpesa", "stk", "source_ip", payment_id=str(payment_id))
    try:
        callback = mpesa.parse_stk_callback(parse_json(raw))
    except mpesa.WireError:
        PAYMENT_CALLBACKS.labels("mpesa", "stk", "invalid").inc()
        raise InvalidCallback() from None
    status, reason = stk_result(callback.result_code)

    async def settle(conn: AsyncConnection) -> Settled:
        row = await _locked_payment(conn, "stk", payment_id, token, Direction.DEPOSIT)
        if row.provider_reference is None:
            # The callback beat the STK Push answer (or that answer was lost): the token proves
            # Daraja got this URL from us, so adopt its CheckoutRequestID, if no one else has it.
            other = await repo.by_reference(conn, "mpesa", callback.checkout_request_id)
            if other is not None:
                raise _reject("mpesa", "stk", "checkout_reused", payment_id=str(row.id))
            await repo.update(
                conn,
                row.id,
                provider_reference=callback.checkout_request_id,
                provider_request_id=callback.merchant_request_id,
            )
        elif row.provider_reference != callback.checkout_request_id:
            raise _reject("mpesa", "stk", "unknown_checkout", payment_id=str(row.id))
        if status == Status.SUCCEEDED:
            _check_stk_success(row, callback)
        outcome = Outcome(
            status=status,
            result_code=str(callback.result_code),
            result_desc=callback.result_desc,
            reason=reason,
            receipt=callback.receipt if status == Status.SUCCEEDED else None,
            amount=callback.amount_minor,
        )
        return await apply_outcome(conn, row.id, outcome)

    settled = await run_in_transaction(db, settle)
    _observe("mpesa", "stk", settled, received)
    return settled


def _check_stk_success(row: Any, callback: mpesa.StkCallback) -> None:
    if not callback.receipt:
        raise _reject("mpesa", "stk", "no_receipt", payment_id=str(row.id))
    if callback.amount_minor != row.amount:
        raise _reject(
            "mpesa",
            "stk",
            "amount_mismatch",
            payment_id=str(row.id),
            expected=row.amount,
            got=callback.amount_minor,
        )
    if callback.phone is not None and callback.phone != msisdn(row.phone):
        raise _reject(
            "mpesa",
            "stk",
            "phone_mismatch",
            payment_id=str(row.id),
            phone_masked=mask_phone(callback.phone),
        )


# -- M-Pesa B2C result / queue timeout ------------------------------------------------------
async def on_b2c_callback(
    db: Database,
    *,
    payment_id: uuid.UUID,
    token: str,
    raw: bytes,
    timed_out: bool,
    source_ip: str,
    allowed_ips: list[str],
    received: float,
) -> Settled:
    kind = "b2c_timeout" if timed_out else "b2c_result"
    if not ip_allowed(source_ip, allowed_ips):
        raise _reject("mpesa", kind, "source_ip", payment_id=str(payment_id))
    body = parse_json(raw)
    result: mpesa.B2CResult | None = None
    if not timed_out:
        try:
            result = mpesa.parse_b2c_result(body)
        except mpesa.WireError:
            PAYMENT_CALLBACKS.labels("mpesa", kind, "invalid").inc()
            raise InvalidCallback() from None

    async def settle(conn: AsyncConnection) -> Settled:
        row = await _locked_payment(conn, kind, payment_id, token, Direction.WITHDRAWAL)
        if result is None:  # queue timeout: Daraja never processed the request
            outcome = Outcome(
                status=Status.TIMED_OUT,
                result_code="queue_timeout",
                result_desc="The request timed out in the M-Pesa queue.",
                reason="queue_timeout",
            )
            return await apply_outcome(conn, row.id, outcome)
        if result.originator_id != row.provider_reference:
            raise _reject("mpesa", kind, "unknown_originator", payment_id=str(row.id))
        status, reason = b2c_result(result.result_code)
        if status == Status.SUCCEEDED and (
            result.amount_minor is not None and result.amount_minor != row.net
        ):
            raise _reject("mpesa", kind, "amount_mismatch", payment_id=str(row.id))
        outcome = Outcome(
            status=status,
            result_code=str(result.result_code),
            result_desc=result.result_desc,
            reason=reason,
            receipt=result.transaction_id if status == Status.SUCCEEDED else None,
        )
        return await apply_outcome(conn, row.id, outcome)

    settled = await run_in_transaction(db, settle)
    _observe("mpesa", kind, settled, received)
    return settled


# -- Flutterwave webhooks -------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class WebhookResult:
    outcome: str  # applied | duplicate | conflict | ignored


async def on_flutterwave_webhook(
    db: Database,
    gateway: Gateway,
    *,
    raw: bytes,
    verif_hash: str | None,
    signature: str | None,
    received: float,
) -> WebhookResult:
    if not flw.verify_webhook(raw, verif_hash, signature, gateway.flutterwave_secret_hash):
        PAYMENT_CALLBACKS.labels("flutterwave", "webhook", "rejected").inc()
        log.warning("payments.callback_rejected", provider="flutterwave", why="signature")
        raise InvalidSignature()
    try:
        hook = flw.parse_webhook(parse_json(raw))
    except flw.WireError:
        PAYMENT_CALLBACKS.labels("flutterwave", "webhook", "invalid").inc()
        raise InvalidCallback() from None
    kind = "transfer" if hook.event.startswith("transfer") else "charge"
    if hook.event not in ("charge.completed", "transfer.completed") or hook.reference is None:
        PAYMENT_CALLBACKS.labels("flutterwave", kind, "ignored").inc()
        return WebhookResult("ignored")
    async with db.connect() as conn:
        row = await repo.by_reference(conn, "flutterwave", hook.reference)
    direction = Direction.WITHDRAWAL if kind == "transfer" else Direction.DEPOSIT
    if row is None or row.direction != direction.value:
        PAYMENT_CALLBACKS.labels("flutterwave", kind, "ignored").inc()
        return WebhookResult("ignored")
    if row.status in (Status.SUCCEEDED, Status.FAILED):  # fast path for redeliveries
        PAYMENT_CALLBACKS.labels("flutterwave", kind, "duplicate").inc()
        return WebhookResult("duplicate")
    # Never credit from the payload: fetch the truth back from Flutterwave.
    try:
        if kind == "transfer":
            transfer = await gateway.flutterwave.get_transfer(hook.id)
            if transfer.reference != row.provider_reference:
                raise _reject("flutterwave", kind, "reference_mismatch", payment_id=str(row.id))
            outcome = transfer_outcome(transfer)
        else:
            outcome = charge_outcome(row, await gateway.flutterwave.verify(hook.id))
    except ProviderError as exc:
        raise _reject("flutterwave", kind, f"verify_{exc.status}", payment_id=str(row.id)) from None
    if outcome.status == Status.PENDING:
        PAYMENT_CALLBACKS.labels("flutterwave", kind, "ignored").inc()
        if outcome.reason == "mismatch":
            log.error("payments.webhook_mismatch", payment_id=str(row.id))
        return WebhookResult("ignored")

    async def settle(conn: AsyncConnection) -> Settled:
        return await apply_outcome(conn, row.id, outcome, now=datetime.now(UTC))

    settled = await run_in_transaction(db, settle)
    _observe("flutterwave", kind, settled, received)
    return WebhookResult(
        {Decision.APPLY: "applied", Decision.DUPLICATE: "duplicate"}.get(
            settled.decision, "conflict"
        )
    )
