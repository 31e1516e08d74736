"""Settle a payment from a verified provider outcome: the one place payment money moves.

Callbacks, webhooks and the reconciler all end here, inside the caller's transaction: the payment
row is locked, the transition is decided by the pure state machine, and the ledger transfer (or
hold post/void), the new status and the outbox event commit together. Ledger idempotency keys
derived from the payment id make a second credit impossible even if two paths race.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from letsbet.errors import Conflict
from letsbet.ledger import service as ledger
from letsbet.ledger.domain import (
    Entry,
    House,
    HouseAccount,
    PlayerCash,
    TransferSpec,
)
from letsbet.payments import repository as repo
from letsbet.payments.domain import (
    Decision,
    Direction,
    Outcome,
    PaymentNotFound,
    Status,
    decide,
    mask_phone,
)
from letsbet.payments.flutterwave import wire as flw
from letsbet.platform.bus.outbox import Event, record
from letsbet.platform.observability import PAYMENTS, PAYMENTS_AMOUNT, get_logger
from letsbet.tenants import get_tenant

log = get_logger(__name__)

CLEARING = {
    "mpesa": HouseAccount.MPESA_CLEARING,
    "flutterwave": HouseAccount.FLUTTERWAVE_CLEARING,
}


class ReceiptReused(Conflict):
    code = "callback_rejected"
    message = "The callback could not be accepted."


@dataclass(frozen=True, slots=True)
class Settled:
    payment_id: uuid.UUID
    decision: Decision
    status: Status
    moved_money: bool


def payment_event(row: Any, status: str, **extra: Any) -> Event:
    return Event(
        f"payments.{row.direction}.{status}",
        {
            "payment_id": str(row.id),
            "user_id": str(row.user_id),
            "provider": row.provider,
            "direction": row.direction,
            "status": status,
            "currency": row.currency,
            "amount": row.amount,
            "tax": row.tax,
            "net": row.net,
            **extra,
        },
    )


async def apply_outcome(
    conn: AsyncConnection, payment_id: uuid.UUID, outcome: Outcome, *, now: datetime | None = None
) -> Settled:
    """Move the payment to `outcome.status` if the state machine allows it, with its money."""
    now = now or datetime.now(UTC)
    row = await repo.by_id(conn, payment_id, for_update=True)
    if row is None:
        raise PaymentNotFound()
    direction, current = Direction(row.direction), Status(row.status)
    decision = decide(direction, current, outcome.status)
    if decision is not Decision.APPLY:
        if decision is Decision.CONFLICT:
            # A provider contradicting a final state needs a human (and never moves money).
            log.error(
                "payments.outcome_conflict",
                payment_id=str(row.id),
                current=current.value,
                reported=outcome.status.value,
                result_code=outcome.result_code,
            )
        return Settled(row.id, decision, current, moved_money=False)
    if outcome.receipt and await repo.receipt_taken(conn, row.provider, outcome.receipt, row.id):
        log.error("payments.receipt_reused", payment_id=str(row.id), provider=row.provider)
        raise ReceiptReused()

    transfer_id = await _move_money(conn, row, outcome.status)
    final = outcome.status != Status.PENDING
    await repo.update(
        conn,
        row.id,
        status=outcome.status.value,
        result_code=outcome.result_code,
        result_desc=outcome.result_desc[:500],
        reason=outcome.reason,
        receipt=outcome.receipt or row.receipt,
        transfer_id=transfer_id or row.transfer_id,
        completed_at=now if final else None,
    )
    await record(
        conn,
        payment_event(
            row,
            outcome.status.value,
            reason=outcome.reason,
            result_code=outcome.result_code,
            receipt=outcome.receipt,
            transfer_id=str(transfer_id) if transfer_id else None,
        ),
    )
    PAYMENTS.labels(row.provider, row.direction, outcome.status.value).inc()
    if outcome.status == Status.SUCCEEDED:
        PAYMENTS_AMOUNT.labels(row.provider, row.direction, row.currency).inc(row.amount)
    log.info(
        "payments.settled",
        payment_id=str(row.id),
        direction=row.direction,
        provider=row.provider,
        status=outcome.status.value,
        reason=outcome.reason,
        phone_masked=mask_phone(row.phone),
    )
    return Settled(row.id, decision, outcome.status, moved_money=transfer_id is not None)


async def _move_money(conn: AsyncConnection, row: Any, target: Status) -> uuid.UUID | None:
    clearing = House(CLEARING[row.provider])
    if row.direction == Direction.DEPOSIT:
        if target != Status.SUCCEEDED:
            return None
        # Amounts as priced at request time (never from the callback): the wallet gets net,
        # the tax account the excise, clearing pays the gross.
        transfer = await ledger.post_transfer(
            conn,
            TransferSpec(
                idempotency_key=f"payment:{row.id}:credit",
                type=f"deposit.{row.provider}",
                country=row.country_code,
                currency=row.currency,
                entries=(
                    Entry(PlayerCash(row.user_id), row.net),
                    *_tax_entries(row.tax_lines),
                    Entry(clearing, -row.amount),
                ),
                reference=row.provider_reference,
                metadata={"payment_id": str(row.id)},
            ),
        )
        return transfer.id
    assert row.hold_id is not None, "a withdrawal always has a hold"
    if target == Status.SUCCEEDED:
        transfer = await ledger.post_hold(
            conn,
            hold_id=row.hold_id,
            idempotency_key=f"payment:{row.id}:post",
            type=f"withdrawal.{row.provider}",
            credits=[Entry(clearing, row.net), *_tax_entries(row.tax_lines)],
            reference=row.provider_reference,
            metadata={"payment_id": str(row.id)},
        )
        return transfer.id
    await ledger.void_hold(conn, row.hold_id)
    return None


def _tax_entries(lines: list[dict[str, Any]]) -> list[Entry]:
    return [Entry(House(HouseAccount(line["account"])), int(line["amount"])) for line in lines]


# -- Flutterwave answers as outcomes --------------------------------------------------------
def charge_outcome(row: Any, tx: flw.Transaction) -> Outcome:
    """What a verified transaction means for our deposit: credit only a successful charge of
    at least the expected amount in the payment's currency under the payment's tx_ref."""
    decimals = get_tenant(row.country_code).minor_units
    paid = flw.to_minor(tx.amount, decimals)
    if tx.tx_ref != row.provider_reference or tx.currency != row.currency:
        return Outcome(Status.PENDING, "mismatch", "reference or currency differs", "mismatch")
    status = tx.status.lower()
    if status == "successful":
        if paid is None or paid < row.amount:
            return Outcome(Status.FAILED, "underpaid", f"paid {tx.amount}", "underpaid")
        return Outcome(Status.SUCCEEDED, "successful", "successful", "ok", receipt=tx.flw_ref)
    if status in ("failed", "cancelled"):
        return Outcome(Status.FAILED, status, status, "provider_failed")
    return Outcome(Status.PENDING, status, status, "pending")


def transfer_outcome(transfer: flw.Transfer) -> Outcome:
    if transfer.status == "SUCCESSFUL":
        return Outcome(
            Status.SUCCEEDED, "SUCCESSFUL", transfer.complete_message, "ok", receipt=transfer.id
        )
    if transfer.status == "FAILED":
        return Outcome(Status.FAILED, "FAILED", transfer.complete_message, "provider_failed")
    return Outcome(Status.PENDING, transfer.status, transfer.complete_message, "pending")
