"""The AML consumer: a durable JetStream consumer over payment events (role `payments`).

It reads `payments.>` (inside the EVENTS stream) and acts on two of them:
    payments.deposit.succeeded     money came in: large deposit, velocity, shared identity
    payments.withdrawal.requested  money is on hold to leave: large withdrawal, quick cash-out,
                                   shared identity
Wagering comes from the ledger's postings (the truth) when a withdrawal is checked, rather than
from consuming every `ledger.transfer.posted`: that subject carries every bet, and handling each
in its own transaction would double the database work of the hot path to find a few withdrawals.
Idempotent: the consumer wrapper claims (consumer, event id) in the inbox, and alerts are unique
per (player, rule, dedupe key).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from letsbet.compliance.aml import repository as repo
from letsbet.compliance.aml import service
from letsbet.compliance.aml.domain import Kind, PaymentFact
from letsbet.platform.bus.outbox import Event

NAME = "aml-payments"
SUBJECT = "payments.>"
WATCHED = {
    "payments.deposit.succeeded": Kind.DEPOSIT,
    "payments.withdrawal.requested": Kind.WITHDRAWAL,
}


def fact_of(event: Event, country: str) -> PaymentFact | None:
    kind = WATCHED.get(event.subject)
    if kind is None:
        return None
    data = event.data
    return PaymentFact(
        payment_id=uuid.UUID(data["payment_id"]),
        user_id=uuid.UUID(data["user_id"]),
        country=country,
        currency=data["currency"],
        kind=kind,
        amount=int(data["amount"]),
        at=event.occurred_at,
    )


async def on_payment(conn: AsyncConnection, event: Event) -> None:
    if event.subject not in WATCHED:
        return
    # The payment row gives the country and the phone the provider paid from or to.
    row = await repo.payment(conn, uuid.UUID(event.data["payment_id"]))
    if row is None:
        return
    fact = fact_of(event, row.country_code)
    assert fact is not None
    now = datetime.now(UTC)
    if row.phone:
        await repo.record_identifier(
            conn, user_id=fact.user_id, country=fact.country, kind="phone", value=row.phone, now=now
        )
    await service.monitor(conn, fact, event_id=event.event_id, now=now)
