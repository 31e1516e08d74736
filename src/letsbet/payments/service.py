"""Deposits and withdrawals: validate, record, ask the provider, record its answer.

Each request is two short transactions around one provider call, never a transaction held open
across the network: (1) rules, the payment row (and for a withdrawal the ledger hold) and the
`requested` event; (2) the provider's acceptance (pending) or refusal (failed, hold voided).
When the provider cannot be reached the payment stays `initiated`: its callback (the URL carries
the payment's token) or the reconciler settles it, and an M-Pesa withdrawal's hold is never
released on a guess.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from letsbet.compliance import eligibility
from letsbet.compliance.tax import TaxOverrides, regime_for
from letsbet.compliance.tax.domain import TaxLine
from letsbet.ledger import service as ledger
from letsbet.ledger.domain import canonical_hash
from letsbet.payments import repository as repo
from letsbet.payments.domain import (
    DepositLimitReached,
    Direction,
    KycRequired,
    Outcome,
    PaymentDestinationInvalid,
    PaymentIdempotencyConflict,
    Status,
    deposit_split,
    hash_token,
    mask_phone,
    msisdn,
    validate_amount,
    withdrawal_split,
)
from letsbet.payments.flutterwave import wire as flw
from letsbet.payments.gateway import Gateway
from letsbet.payments.http import ProviderError, ProviderUnavailable
from letsbet.payments.mpesa import wire as mpesa
from letsbet.payments.settlement import apply_outcome, payment_event, transfer_outcome
from letsbet.platform.bus.outbox import record
from letsbet.platform.db import Database, run_in_transaction
from letsbet.platform.observability import PAYMENTS, get_logger
from letsbet.tenants import PaymentProvider, Tenant, get_tenant

log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class PaymentRequest:
    user_id: uuid.UUID
    country: str
    amount: int  # minor units of the country's currency
    idempotency_key: str
    network: str | None = None  # Ghana mobile money
    account_bank: str | None = None  # Flutterwave payouts
    account_number: str | None = None

    def key(self, direction: Direction) -> str:
        return f"{direction.value}:{self.user_id}:{self.idempotency_key}"

    def request_hash(self, direction: Direction) -> str:
        return canonical_hash(
            {
                "direction": direction.value,
                "amount": self.amount,
                "network": self.network,
                "account_bank": self.account_bank,
                "account_number": self.account_number,
            }
        )


@dataclass(frozen=True, slots=True)
class Requested:
    payment_id: uuid.UUID
    replayed: bool


def unit_of(tenant: Tenant) -> int:
    """Mobile money moves whole units of the currency (M-Pesa: shillings)."""
    return int(10**tenant.minor_units)


def _lines(lines: tuple[TaxLine, ...]) -> list[dict[str, Any]]:
    return [
        {
            "kind": line.kind.value,
            "account": line.account,
            "rate": str(line.rate),
            "taxable": line.taxable,
            "amount": line.amount,
            "regime_id": line.regime_id,
        }
        for line in lines
    ]


def _regime(gateway: Gateway, tenant: Tenant, now: datetime) -> Any:
    s = gateway.settings
    overrides = TaxOverrides.from_settings(
        s.tax_ggr_rate, s.tax_wht_rate, s.tax_threshold, tenant.minor_units
    )
    return regime_for(tenant.code, now, overrides=overrides)


async def _replay(conn: AsyncConnection, key: str, request_hash: str) -> Requested | None:
    existing = await repo.by_key(conn, key)
    if existing is None:
        return None
    if existing.request_hash != request_hash:
        raise PaymentIdempotencyConflict()
    return Requested(existing.id, replayed=True)


# -- deposits -------------------------------------------------------------------------------
async def request_deposit(
    db: Database,
    gateway: Gateway,
    request: PaymentRequest,
    *,
    allowed_countries: list[str],
    now: datetime | None = None,
) -> Requested:
    """Start a deposit: an STK Push to the player's phone (KE) or a Flutterwave charge."""
    now = now or datetime.now(UTC)
    tenant = get_tenant(request.country)
    key = request.key(Direction.DEPOSIT)
    request_hash = request.request_hash(Direction.DEPOSIT)
    token = secrets.token_urlsafe(24)

    async def begin(conn: AsyncConnection) -> tuple[Requested, Any]:
        replayed = await _replay(conn, key, request_hash)
        if replayed is not None:
            return replayed, None
        await eligibility.check(
            conn,
            user_id=request.user_id,
            country=tenant.code,
            action=eligibility.Action.DEPOSIT,
            allowed_countries=allowed_countries,
        )
        validate_amount(
            request.amount,
            minimum=tenant.min_deposit,
            maximum=tenant.max_deposit,
            unit=unit_of(tenant),
            currency=tenant.currency,
            decimals=tenant.minor_units,
        )
        contact = await repo.lock_user(conn, request.user_id)
        if not contact.kyc_verified:
            total = await repo.deposited_total(conn, request.user_id)
            if total + request.amount > tenant.deposit_cap_before_kyc:
                raise DepositLimitReached(
                    "Deposits before identity verification are capped; verify to deposit more."
                )
        if tenant.payment_networks and request.network not in tenant.payment_networks:
            raise PaymentDestinationInvalid(
                f"Choose your mobile money network: {', '.join(tenant.payment_networks)}."
            )
        regime = _regime(gateway, tenant, now)
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
            tax_lines=_lines(split.lines),
            idempotency_key=key,
            request_hash=request_hash,
            phone=contact.phone,
            destination={"network": request.network} if request.network else {},
            callback_token_hash=hash_token(token),
            # Flutterwave takes our reference; Daraja gives us its CheckoutRequestID later.
            provider_reference=f"lb-{payment_id.hex}" if provider == "flutterwave" else None,
        )
        if not claimed:  # a concurrent request with this key won
            replayed = await _replay(conn, key, request_hash)
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
        await _refused(db, row, exc)
        return
    except ProviderUnavailable as exc:
        _unknown(row, exc)
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
        await _refused(db, row, exc)
        return
    except ProviderUnavailable as exc:
        _unknown(row, exc)
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


async def _refused(db: Database, row: Any, exc: ProviderError) -> None:
    """The provider said no: the payment fails (a withdrawal's hold is voided with it)."""
    log.warning(
        "payments.provider_refused",
        payment_id=str(row.id),
        provider=row.provider,
        direction=row.direction,
        status=exc.status,
        code=exc.code,
    )
    outcome = Outcome(
        status=Status.FAILED,
        result_code=exc.code or str(exc.status),
        result_desc=exc.message,
        reason="provider_refused",
    )

    async def fail(conn: AsyncConnection) -> None:
        await apply_outcome(conn, row.id, outcome)

    await run_in_transaction(db, fail)


def _unknown(row: Any, exc: ProviderUnavailable) -> None:
    log.warning(
        "payments.provider_unreachable",
        payment_id=str(row.id),
        provider=row.provider,
        direction=row.direction,
        detail=exc.detail,
    )


# -- withdrawals ----------------------------------------------------------------------------
async def request_withdrawal(
    db: Database,
    gateway: Gateway,
    request: PaymentRequest,
    *,
    allowed_countries: list[str],
    now: datetime | None = None,
) -> Requested:
    """Start a withdrawal: hold the money, then B2C (KE) or a Flutterwave transfer."""
    now = now or datetime.now(UTC)
    tenant = get_tenant(request.country)
    key = request.key(Direction.WITHDRAWAL)
    request_hash = request.request_hash(Direction.WITHDRAWAL)
    token = secrets.token_urlsafe(24)

    async def begin(conn: AsyncConnection) -> tuple[Requested, Any]:
        replayed = await _replay(conn, key, request_hash)
        if replayed is not None:
            return replayed, None
        await eligibility.check(
            conn,
            user_id=request.user_id,
            country=tenant.code,
            action=eligibility.Action.WITHDRAWAL,
            allowed_countries=allowed_countries,
        )
        contact = await repo.lock_user(conn, request.user_id)
        if not contact.kyc_verified:
            raise KycRequired()
        validate_amount(
            request.amount,
            minimum=tenant.min_withdrawal,
            maximum=tenant.max_withdrawal,
            unit=unit_of(tenant),
            currency=tenant.currency,
            decimals=tenant.minor_units,
        )
        destination = _destination(tenant, request, contact.phone)
        regime = _regime(gateway, tenant, now)
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
            tax_lines=_lines(split.lines),
            idempotency_key=key,
            request_hash=request_hash,
            phone=contact.phone,
            destination=destination,
            callback_token_hash=hash_token(token),
            provider_reference=reference,  # OriginatorConversationID / transfer reference
        )
        if not claimed:
            replayed = await _replay(conn, key, request_hash)
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
        await _refused(db, row, exc)
        return
    except ProviderUnavailable as exc:
        _unknown(row, exc)  # the Result callback (or a human) settles it; the hold stays
        return
    await _mark_pending(db, row, accepted.conversation_id)


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
        await _refused(db, row, exc)
        return
    except ProviderUnavailable as exc:
        _unknown(row, exc)  # the reconciler looks the reference up again
        return
    await _mark_pending(db, row, transfer.id)
    if transfer.status in ("SUCCESSFUL", "FAILED"):  # found already final by the look-up
        outcome = transfer_outcome(transfer)

        async def settle(conn: AsyncConnection) -> None:
            await apply_outcome(conn, row.id, outcome)

        await run_in_transaction(db, settle)


async def _mark_pending(db: Database, row: Any, provider_request_id: str) -> None:
    async def accept(conn: AsyncConnection) -> None:
        current = await repo.by_id(conn, row.id, for_update=True)
        assert current is not None
        values: dict[str, Any] = {"provider_request_id": provider_request_id}
        if current.status == Status.INITIATED:  # the result may have come first
            values["status"] = Status.PENDING.value
            await record(conn, payment_event(current, "pending"))
        await repo.update(conn, row.id, **values)

    await run_in_transaction(db, accept)
    PAYMENTS.labels(row.provider, row.direction, "pending").inc()
    log.info(
        "payments.accepted",
        payment_id=str(row.id),
        provider=row.provider,
        direction=row.direction,
        phone_masked=mask_phone(row.phone),
    )
