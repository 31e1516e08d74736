"""Withdrawals: hold the money, then M-Pesa B2C (Kenya) or a Flutterwave transfer."""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from letsbet.compliance.geo.domain import Location
from letsbet.ledger import service as ledger
from letsbet.payments import repository as repo
from letsbet.payments.domain import (
    Direction,
    PaymentDestinationInvalid,
    Status,
    hash_token,
    msisdn,
    withdrawal_split,
)
from letsbet.payments.flutterwave import wire as flw
from letsbet.payments.gateway import Gateway
from letsbet.payments.http import ProviderError, ProviderUnavailable
from letsbet.payments.mpesa import wire as mpesa
from letsbet.payments.service import (
    PaymentRequest,
    Requested,
    admit,
    mark_pending,
    refused,
    regime_now,
    replay,
    tax_lines,
    unit_of,
    unknown,
)
from letsbet.payments.settlement import apply_outcome, payment_event, transfer_outcome
from letsbet.platform.bus.outbox import record
from letsbet.platform.db import Database, run_in_transaction
from letsbet.platform.observability import PAYMENTS, get_logger
from letsbet.tenants import PaymentProvider, Tenant, get_tenant

log = get_logger(__name__)


async def request_withdrawal(
    db: Database,
    gateway: Gateway,
    request: PaymentRequest,
    *,
    allowed_countries: list[str],
    location: Location | None = None,
    now: datetime | None = None,
) -> Requested:
    """Start a withdrawal: hold the money, then B2C (KE) or a Flutterwave transfer."""
    now = now or datetime.now(UTC)
    tenant = get_tenant(request.country)
    key = request.key(Direction.WITHDRAWAL)
    request_hash = request.request_hash(Direction.WITHDRAWAL)
    token = secrets.token_urlsafe(24)

    async def begin(conn: AsyncConnection) -> tuple[Requested, Any]:
        replayed = await replay(conn, key, request_hash)
        if replayed is not None:
            return replayed, None
        contact = await admit(
            conn,
            request,
            tenant,
            direction=Direction.WITHDRAWAL,
            allowed_countries=allowed_countries,
            location=location,
            now=now,
        )
        destination = _destination(tenant, request, contact.phone)
        regime = regime_now(gateway, tenant, now)
        split = withdrawal_split(regime, request.amount, unit_of(tenant))
        payment_id = uuid.uuid4()
        provider = tenant.payment_provider.value
        reference = f"lb-{payment_id.hex}"
        claimed = await repo.claim(
            conn,
            id=payment_id,
            user_id=request.user_id,
            country_code=tenant.code,
            currency=tenant.currency,
            direction=Direction.WITHDRAWAL.value,
            provider=provider,
            status=Status.INITIATED.value,
            amount=split.gross,
            tax=split.tax,
            net=split.net,
            tax_regime_id=regime.id,
            tax_lines=tax_lines(split.lines),
            idempotency_key=key,
            request_hash=request_hash,
            phone=contact.phone,
            destination=destination,
            callback_token_hash=hash_token(token),
            provider_reference=reference,  # OriginatorConversationID / transfer reference
        )
        if not claimed:
            replayed = await replay(conn, key, request_hash)
            assert replayed is not None
            return replayed, None
        hold = await ledger.create_hold(
            conn,
            ledger.HoldSpec(
                idempotency_key=f"payment:{payment_id}:hold",
                type=f"withdrawal.{provider}",
                country=tenant.code,
                currency=tenant.currency,
                user_id=request.user_id,
                amount=split.gross,
                reference=reference,
                metadata={"payment_id": str(payment_id)},
            ),
        )
        await repo.update(conn, payment_id, hold_id=hold.id)
        row = await repo.by_id(conn, payment_id)
        await record(conn, payment_event(row, "requested"))
        PAYMENTS.labels(provider, "withdrawal", "initiated").inc()
        return Requested(payment_id, replayed=False), row

    requested, row = await run_in_transaction(db, begin)
    if requested.replayed or row is None:
        return requested
    if row.provider == "mpesa":
        await _b2c(db, gateway, row, token)
    else:
        await _transfer(db, gateway, row)
    return requested


def _destination(tenant: Tenant, request: PaymentRequest, phone: str) -> dict[str, str]:
    if tenant.payment_provider == PaymentProvider.MPESA:
        return {"phone": phone}
    if tenant.payment_networks:
        network = request.account_bank or request.network
        if network not in tenant.payment_networks:
            raise PaymentDestinationInvalid(
                f"Choose your mobile money network: {', '.join(tenant.payment_networks)}."
            )
        return {"account_bank": network, "account_number": request.account_number or phone[1:]}
    if not (request.account_bank and request.account_number):
        raise PaymentDestinationInvalid("Give the bank code and account number to pay out to.")
    if not (request.account_bank.isdigit() and request.account_number.isdigit()):
        raise PaymentDestinationInvalid("Bank code and account number are digits.")
    return {"account_bank": request.account_bank, "account_number": request.account_number}


async def _b2c(db: Database, gateway: Gateway, row: Any, token: str) -> None:
    creds = gateway.mpesa_credentials
    result_url, timeout_url = gateway.b2c_urls(row.id, token)
    try:
        credential = mpesa.security_credential(
            creds.initiator_password, await gateway.mpesa_certificate()
        )
        accepted = await gateway.mpesa.b2c(
            mpesa.B2C(
                originator_id=row.provider_reference,
                initiator_name=creds.initiator_name,
                security_credential=credential,
                amount_minor=row.net,
                shortcode=creds.shortcode,
                phone=msisdn(row.phone),
                remarks="letsbet withdrawal",
                result_url=result_url,
                timeout_url=timeout_url,
                occasion=row.provider_reference,
            )
        )
    except ProviderError as exc:
        await refused(db, row, exc)
        return
    except ProviderUnavailable as exc:
        unknown(row, exc)  # the Result callback (or a human) settles it; the hold stays
        return
    await mark_pending(db, row, accepted.conversation_id)


async def _transfer(db: Database, gateway: Gateway, row: Any) -> None:
    tenant = get_tenant(row.country_code)
    body = flw.transfer_body(
        account_bank=row.destination["account_bank"],
        account_number=row.destination["account_number"],
        amount=flw.major(row.net, tenant.minor_units),
        currency=row.currency,
        narration="letsbet withdrawal",
        reference=row.provider_reference,
        callback_url=gateway.flutterwave_webhook_url(),
    )
    try:
        transfer = await gateway.flutterwave.create_transfer(body)
    except ProviderError as exc:
        await refused(db, row, exc)
        return
    except ProviderUnavailable as exc:
        unknown(row, exc)  # the reconciler looks the reference up again
        return
    await mark_pending(db, row, transfer.id)
    if transfer.status in ("SUCCESSFUL", "FAILED"):  # found already final by the look-up
        outcome = transfer_outcome(transfer)

        async def settle(conn: AsyncConnection) -> None:
            await apply_outcome(conn, row.id, outcome)

        await run_in_transaction(db, settle)
