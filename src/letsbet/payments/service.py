"""What deposits and withdrawals share: the request, pricing, replays, provider answers.

Each request (deposits.py, withdrawals.py) is two short transactions around one provider
call, never a transaction held open across the network: (1) rules, the payment row (and for a
withdrawal the ledger hold) and the `requested` event; (2) the provider's acceptance (pending)
or refusal (failed, hold voided). When the provider cannot be reached the payment stays
`initiated`: its callback (the URL carries the payment's token) or the reconciler settles it,
and an M-Pesa withdrawal's hold is never released on a guess.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from letsbet.compliance import eligibility
from letsbet.compliance.geo.domain import Location
from letsbet.compliance.tax import TaxOverrides, regime_for
from letsbet.compliance.tax.domain import TaxLine
from letsbet.ledger.domain import canonical_hash
from letsbet.payments import repository as repo
from letsbet.payments.domain import (
    Direction,
    Outcome,
    PaymentIdempotencyConflict,
    Status,
    mask_phone,
    validate_amount,
)
from letsbet.payments.gateway import Gateway
from letsbet.payments.http import ProviderError, ProviderUnavailable
from letsbet.payments.settlement import apply_outcome, payment_event
from letsbet.platform.bus.outbox import record
from letsbet.platform.db import Database, run_in_transaction
from letsbet.platform.observability import PAYMENTS, get_logger
from letsbet.tenants import Tenant

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


def tax_lines(lines: tuple[TaxLine, ...]) -> list[dict[str, Any]]:
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


def regime_now(gateway: Gateway, tenant: Tenant, now: datetime) -> Any:
    s = gateway.settings
    overrides = TaxOverrides.from_settings(
        s.tax_ggr_rate, s.tax_wht_rate, s.tax_threshold, tenant.minor_units
    )
    return regime_for(tenant.code, now, overrides=overrides)


async def admit(
    conn: AsyncConnection,
    request: PaymentRequest,
    tenant: Tenant,
    *,
    direction: Direction,
    allowed_countries: list[str],
    location: Location | None,
    now: datetime,
) -> Any:
    """The rules every new payment passes, in order: the tenant's amount bounds for its
    direction, then eligibility (one check for every money path). Returns the player's row,
    locked (eligibility locked it already)."""
    deposit = direction == Direction.DEPOSIT
    validate_amount(
        request.amount,
        minimum=tenant.min_deposit if deposit else tenant.min_withdrawal,
        maximum=tenant.max_deposit if deposit else tenant.max_withdrawal,
        unit=unit_of(tenant),
        currency=tenant.currency,
        decimals=tenant.minor_units,
    )
    await eligibility.check(
        conn,
        user_id=request.user_id,
        country=tenant.code,
        action=eligibility.Action.DEPOSIT if deposit else eligibility.Action.WITHDRAWAL,
        allowed_countries=allowed_countries,
        amount=request.amount,
        location=location,
        now=now,
    )
    return await repo.lock_user(conn, request.user_id)


async def replay(conn: AsyncConnection, key: str, request_hash: str) -> Requested | None:
    existing = await repo.by_key(conn, key)
    if existing is None:
        return None
    if existing.request_hash != request_hash:
        raise PaymentIdempotencyConflict()
    return Requested(existing.id, replayed=True)


# -- provider answers -------------------------------------------------------------------------
async def refused(db: Database, row: Any, exc: ProviderError) -> None:
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


def unknown(row: Any, exc: ProviderUnavailable) -> None:
    log.warning(
        "payments.provider_unreachable",
        payment_id=str(row.id),
        provider=row.provider,
        direction=row.direction,
        detail=exc.detail,
    )


async def mark_pending(db: Database, row: Any, provider_request_id: str) -> None:
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
