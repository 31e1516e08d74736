"""The payments role's reconciler: settle what no callback settled.

Open payments older than PAYMENTS_RECONCILE_AFTER_SECONDS are asked about again:
- M-Pesa deposits: STK query. HTTP 500 with 500.001.1001 means still processing; a final
  ResultCode settles the deposit exactly as its callback would have (same path, same keys).
- Flutterwave deposits: verify by tx_ref; transfers: fetch by id, or look up by reference when
  the create call's answer was lost (not found → it was never created → fail and void).
- Past PAYMENTS_GIVE_UP_AFTER_SECONDS a deposit still open is timed out (a later verified
  success still credits it). An M-Pesa withdrawal whose fate is unknown is never voided on a
  guess: it is logged for a human (`payments.withdrawal_needs_review`).
Safe with several replicas: each settlement locks the payment row and is idempotent.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from letsbet.payments import repository as repo
from letsbet.payments.domain import Direction, Outcome, Status, stk_result
from letsbet.payments.gateway import Gateway
from letsbet.payments.http import ProviderError, ProviderUnavailable
from letsbet.payments.mpesa.client import StillProcessing
from letsbet.payments.settlement import apply_outcome, charge_outcome, transfer_outcome
from letsbet.platform.aio import wait_or_stop
from letsbet.platform.db import Database, run_in_transaction
from letsbet.platform.observability import PAYMENTS_RECONCILED, get_logger

log = get_logger(__name__)

GAVE_UP = Outcome(
    Status.TIMED_OUT, "no_result", "No result from the provider in time.", "no_result"
)


async def reconcile_once(
    db: Database, gateway: Gateway, *, now: datetime | None = None, batch: int = 50
) -> int:
    """One pass over due payments; returns how many were settled."""
    now = now or datetime.now(UTC)
    s = gateway.settings
    async with db.connect() as conn:
        due = await repo.due_for_reconciliation(
            conn,
            older_than=now - timedelta(seconds=s.payments_reconcile_after_seconds),
            queried_before=now - timedelta(seconds=s.payments_reconcile_every_seconds),
            limit=batch,
        )
    settled = 0
    for row in due:
        give_up = now - row.created_at >= timedelta(seconds=s.payments_give_up_after_seconds)
        try:
            outcome = await _ask(gateway, row, now, give_up=give_up)
        except ProviderUnavailable as exc:
            PAYMENTS_RECONCILED.labels(row.provider, "unavailable").inc()
            log.warning("payments.reconcile_unavailable", payment_id=str(row.id), detail=exc.detail)
            outcome = None
        settled += await _record(db, row, outcome, now)
    return settled


async def _ask(gateway: Gateway, row: Any, now: datetime, *, give_up: bool) -> Outcome | None:
    """The provider's current answer as an outcome, or None while it is still open."""
    deposit = row.direction == Direction.DEPOSIT
    if row.provider == "mpesa":
        if not deposit:
            if give_up:
                PAYMENTS_RECONCILED.labels("mpesa", "needs_review").inc()
                log.error("payments.withdrawal_needs_review", payment_id=str(row.id))
            return None
        if row.provider_reference is None:  # the STK Push answer never came back
            return GAVE_UP if give_up else None
        creds = gateway.mpesa_credentials
        try:
            status = await gateway.mpesa.stk_query(
                creds.shortcode, creds.passkey, row.provider_reference, now
            )
        except StillProcessing:
            return GAVE_UP if give_up else None
        except ProviderError as exc:
            log.warning("payments.query_refused", payment_id=str(row.id), code=exc.code)
            return GAVE_UP if give_up else None
        result, reason = stk_result(status.result_code)
        return Outcome(result, str(status.result_code), status.result_desc, reason)
    client = gateway.flutterwave
    if deposit:
        try:
            outcome = charge_outcome(row, await client.verify_by_reference(row.provider_reference))
        except ProviderError:  # not found: the customer never paid
            return GAVE_UP if give_up else None
        if outcome.status == Status.PENDING:
            return GAVE_UP if give_up else None
        return outcome
    if row.provider_request_id is not None:
        outcome = transfer_outcome(await client.get_transfer(row.provider_request_id))
    else:
        found = await client.find_transfer(row.provider_reference)
        if found is None:  # the create never reached Flutterwave: safe to give the money back
            return Outcome(Status.FAILED, "not_created", "Transfer was never created.", "not_sent")
        outcome = transfer_outcome(found)
    return None if outcome.status == Status.PENDING else outcome


async def _record(db: Database, row: Any, outcome: Outcome | None, now: datetime) -> int:
    async def work(conn: AsyncConnection) -> int:
        if outcome is None:
            await repo.update(conn, row.id, queries=row.queries + 1, last_query_at=now)
            return 0
        await repo.update(conn, row.id, queries=row.queries + 1, last_query_at=now)
        settled = await apply_outcome(conn, row.id, outcome, now=now)
        return 1 if settled.status == outcome.status else 0

    try:
        count = await run_in_transaction(db, work)
    except Exception as exc:
        log.warning("payments.reconcile_failed", payment_id=str(row.id), error=repr(exc))
        return 0
    PAYMENTS_RECONCILED.labels(row.provider, "settled" if count else "open").inc()
    return count


async def reconcile_loop(db: Database, gateway: Gateway, stop: asyncio.Event) -> None:
    every = gateway.settings.payments_reconcile_every_seconds
    while not stop.is_set():
        try:
            settled = await reconcile_once(db, gateway)
            if settled:
                log.info("payments.reconciled", count=settled)
        except Exception as exc:
            log.warning("payments.reconcile_pass_failed", error=type(exc).__name__)
        await wait_or_stop(stop, every)
