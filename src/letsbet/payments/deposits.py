"""Deposits: an STK Push to the player's phone (Kenya) or a Flutterwave charge."""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from letsbet.compliance.geo.domain import Location
from letsbet.payments import repository as repo
from letsbet.payments.domain import (
    Direction,
    PaymentDestinationInvalid,
    Status,
    deposit_split,
    hash_token,
    msisdn,
)
from letsbet.payments.flutterwave import wire as flw
from letsbet.payments.gateway import Gateway
from letsbet.payments.http import ProviderError, ProviderUnavailable
from letsbet.payments.mpesa import wire as mpesa
from letsbet.payments.service import (
    PaymentRequest,
    Requested,
    admit,
    refused,
    regime_now,
    replay,
    tax_lines,
    unknown,
)
from letsbet.payments.settlement import payment_event
from letsbet.platform.bus.outbox import record
from letsbet.platform.db import Database, run_in_transaction
from letsbet.platform.observability import PAYMENTS, get_logger
from letsbet.tenants import get_tenant

log = get_logger(__name__)


async def request_deposit(
    db: Database,
    gateway: Gateway,
    request: PaymentRequest,
    *,
    allowed_countries: list[str],
    location: Location | None = None,
    now: datetime | None = None,
) -> Requested:
    """Start a deposit: an STK Push to the player's phone (KE) or a Flutterwave charge."""
    now = now or datetime.now(UTC)
    tenant = get_tenant(request.country)
    key = request.key(Direction.DEPOSIT)
    request_hash = request.request_hash(Direction.DEPOSIT)
    token = secrets.token_urlsafe(24)

    async def begin(conn: AsyncConnection) -> tuple[Requested, Any]:
        replayed = await replay(conn, key, request_hash)
        if replayed is not None:
            return replayed, None
        contact = await admit(
            conn,
            request,
            tenant,
            direction=Direction.DEPOSIT,
            allowed_countries=allowed_countries,
            location=location,
            now=now,
        )
        if tenant.payment_networks and request.network not in tenant.payment_networks:
            raise PaymentDestinationInvalid(
                f"Choose your mobile money network: {', '.join(tenant.payment_networks)}."
            )
        regime = regime_now(gateway, tenant, now)
        split = deposit_split(regime, request.amount)
        payment_id = uuid.uuid4()
        provider = tenant.payment_provider.value
        claimed = await repo.claim(
            conn,
            id=payment_id,
            user_id=request.user_id,
            country_code=tenant.code,
            currency=tenant.currency,
            direction=Direction.DEPOSIT.value,
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
            destination={"network": request.network} if request.network else {},
            callback_token_hash=hash_token(token),
            # Flutterwave takes our reference; Daraja gives us its CheckoutRequestID later.
            provider_reference=f"lb-{payment_id.hex}" if provider == "flutterwave" else None,
        )
        if not claimed:  # a concurrent request with this key won
            replayed = await replay(conn, key, request_hash)
            assert replayed is not None
            return replayed, None
        row = await repo.by_id(conn, payment_id)
        await record(conn, payment_event(row, "requested"))
        PAYMENTS.labels(provider, "deposit", "initiated").inc()
        return Requested(payment_id, replayed=False), row

    requested, row = await run_in_transaction(db, begin)
    if requested.replayed or row is None:
        return requested
    if row.provider == "mpesa":
        await _stk_push(db, gateway, row, token, now)
    else:
        await _flutterwave_charge(db, gateway, row)
    return requested


async def _stk_push(db: Database, gateway: Gateway, row: Any, token: str, now: datetime) -> None:
    creds = gateway.mpesa_credentials
    push = mpesa.StkPush(
        shortcode=creds.shortcode,
        passkey=creds.passkey,
        amount_minor=row.amount,
        phone=msisdn(row.phone),
        callback_url=gateway.stk_callback_url(row.id, token),
        account_reference=("LB" + row.id.hex[:10]).upper(),
        description="letsbet dep",
    )
    try:
        accepted = await gateway.mpesa.stk_push(push, now)
    except ProviderError as exc:
        await refused(db, row, exc)
        return
    except ProviderUnavailable as exc:
        unknown(row, exc)
        return

    async def accept(conn: AsyncConnection) -> None:
        current = await repo.by_id(conn, row.id, for_update=True)
        assert current is not None
        values: dict[str, Any] = {"provider_request_id": accepted.merchant_request_id}
        if current.provider_reference is None:  # a fast callback may have set it already
            values["provider_reference"] = accepted.checkout_request_id
        if current.status == Status.INITIATED:
            values["status"] = Status.PENDING.value
        await repo.update(conn, row.id, **values)
        if values.get("status") == Status.PENDING.value:
            await record(conn, payment_event(current, "pending"))

    await run_in_transaction(db, accept)
    PAYMENTS.labels("mpesa", "deposit", "pending").inc()


async def _flutterwave_charge(db: Database, gateway: Gateway, row: Any) -> None:
    tenant = get_tenant(row.country_code)
    amount = flw.major(row.amount, tenant.minor_units)
    email = f"{row.user_id.hex}@players.letsbet.invalid"  # Flutterwave requires an email
    try:
        if tenant.payment_networks:  # mobile money: a prompt on the player's phone
            link = await gateway.flutterwave.charge_ghana_mobile_money(
                flw.ghana_mobile_money_body(
                    tx_ref=row.provider_reference,
                    amount=amount,
                    network=str(row.destination.get("network")),
                    email=email,
                    phone=row.phone.removeprefix("+"),
                )
            )
        else:
            link = await gateway.flutterwave.hosted_payment(
                flw.hosted_payment_body(
                    tx_ref=row.provider_reference,
                    amount=amount,
                    currency=row.currency,
                    redirect_url=gateway.flutterwave_return_url(),
                    email=email,
                    phone=row.phone,
                    name="letsbet player",
                )
            )
    except ProviderError as exc:
        await refused(db, row, exc)
        return
    except ProviderUnavailable as exc:
        unknown(row, exc)
        return

    async def accept(conn: AsyncConnection) -> None:
        current = await repo.by_id(conn, row.id, for_update=True)
        assert current is not None
        values: dict[str, Any] = {"checkout_url": link}
        if current.status == Status.INITIATED:
            values["status"] = Status.PENDING.value
            await record(conn, payment_event(current, "pending"))
        await repo.update(conn, row.id, **values)

    await run_in_transaction(db, accept)
    PAYMENTS.labels("flutterwave", "deposit", "pending").inc()
