"""Two-phase holds: reserve available balance, then post (full or partial) or void it.

A pending hold lowers the player's available balance (balance - held) without moving money;
posting it moves the posted amount out of the held funds and releases the rest.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from letsbet.errors import LetsbetError
from letsbet.ledger import repository as repo
from letsbet.ledger.domain import (
    Entry,
    HoldNotFound,
    HoldNotPending,
    HoldStatus,
    IdempotencyConflict,
    InvalidTransfer,
    PlayerCash,
    TransferSpec,
    apply,
    canonical_hash,
    hold_post_amount,
)
from letsbet.ledger.transfers import Locked, Transfer, execute, lock_refs, replay
from letsbet.platform.bus.outbox import Event, record
from letsbet.platform.observability import LEDGER_REJECTIONS


@dataclass(frozen=True, slots=True)
class HoldSpec:
    idempotency_key: str
    type: str
    country: str
    currency: str
    user_id: uuid.UUID
    amount: int
    reference: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    expires_at: datetime | None = None

    def request_hash(self) -> str:
        return canonical_hash(
            {
                "type": self.type,
                "country": self.country,
                "currency": self.currency,
                "user": str(self.user_id),
                "amount": self.amount,
                "reference": self.reference,
                "metadata": dict(self.metadata),
                "expires_at": self.expires_at.isoformat() if self.expires_at else None,
            }
        )


@dataclass(frozen=True, slots=True)
class Hold:
    id: uuid.UUID
    account_id: int
    user_id: uuid.UUID
    currency: str
    amount: int
    status: HoldStatus
    posted_amount: int | None
    transfer_id: uuid.UUID | None
    expires_at: datetime | None
    replayed: bool = False


@dataclass(frozen=True, slots=True)
class PreparedHold:
    """A hold checked against the locked wallet, ready to write in one statement."""

    hold: Hold
    values: dict[str, Any]  # the parameters of `repository.HOLD_CTES`
    event: Event  # ledger.hold.created


async def create_hold(conn: AsyncConnection, spec: HoldSpec) -> Hold:
    """Reserve `amount` of the player's available balance (pending until posted or voided)."""
    check_hold(spec)
    request_hash = spec.request_hash()
    existing = await repo.hold_by_key(conn, spec.idempotency_key)
    if existing is not None:
        return await _hold_replay(conn, existing.id, existing.request_hash, request_hash)
    try:
        locked = await lock_refs(
            conn, spec.country, spec.currency, spec.idempotency_key, [PlayerCash(spec.user_id)]
        )
        prepared = prepare_hold(spec, locked, request_hash=request_hash)
    except LetsbetError as exc:
        LEDGER_REJECTIONS.labels(exc.code).inc()
        raise
    if not await repo.write_hold(conn, prepared.values, prepared.event):
        # A concurrent request with this key won the insert.
        row = await repo.hold_by_key(conn, spec.idempotency_key)
        assert row is not None
        return await _hold_replay(conn, row.id, row.request_hash, request_hash)
    return prepared.hold


def check_hold(spec: HoldSpec) -> None:
    if type(spec.amount) is not int or spec.amount <= 0:
        raise InvalidTransfer(f"hold amount must be a positive integer, got {spec.amount!r}")


def prepare_hold(
    spec: HoldSpec, locked: Locked, *, request_hash: str | None = None
) -> PreparedHold:
    """Pure: the wallet's new held amount, the hold and its event, against the locked wallet.

    Raises InsufficientFunds when the available balance is below the amount."""
    check_hold(spec)
    states, resolve = locked
    account_id = resolve[PlayerCash(spec.user_id)]
    updated, _ = apply(states, {}, reserve={account_id: spec.amount})
    hold = Hold(
        id=uuid.uuid4(),
        account_id=account_id,
        user_id=spec.user_id,
        currency=spec.currency,
        amount=spec.amount,
        status=HoldStatus.PENDING,
        posted_amount=None,
        transfer_id=None,
        expires_at=spec.expires_at,
    )
    values = repo.hold_values(
        {
            "id": hold.id,
            "account_id": account_id,
            "country": spec.country,
            "currency": spec.currency,
            "amount": spec.amount,
            "type": spec.type,
            "idempotency_key": spec.idempotency_key,
            "request_hash": request_hash or spec.request_hash(),
            "reference": spec.reference,
            "metadata": dict(spec.metadata),
            "expires_at": spec.expires_at,
        },
        updated,
    )
    event = Event("ledger.hold.created", _hold_event(hold, spec.type))
    return PreparedHold(hold=hold, values=values, event=event)


async def post_hold(
    conn: AsyncConnection,
    *,
    hold_id: uuid.UUID,
    idempotency_key: str,
    type: str,
    credits: Sequence[Entry],
    amount: int | None = None,
    reference: str | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> Transfer:
    """Post a pending hold: debit `amount` (default: all) from the held funds to `credits`;
    any remainder is released back to the player's available balance."""
    row = await repo.hold_by_id(conn, hold_id, for_update=True)
    if row is None:
        raise HoldNotFound()
    post_amount = hold_post_amount(row.amount, amount)
    spec = TransferSpec(
        idempotency_key=idempotency_key,
        type=type,
        country=row.country_code,
        currency=row.currency,
        entries=(Entry(PlayerCash(row.owner_id), -post_amount), *credits),
        reference=reference if reference is not None else row.reference,
        metadata={**(metadata or {}), "hold_id": str(hold_id)},
    )
    if await repo.transfer_by_key(conn, idempotency_key) is not None:
        return await replay(conn, idempotency_key, spec.request_hash())
    if row.status != HoldStatus.PENDING:
        raise HoldNotPending(status=row.status)
    transfer = await execute(conn, spec, hold=row)
    now = datetime.now(UTC)
    await repo.resolve_hold(
        conn,
        hold_id,
        status=HoldStatus.POSTED.value,
        at=now,
        posted_amount=post_amount,
        transfer_id=transfer.id,
    )
    await record(
        conn,
        Event(
            "ledger.hold.posted",
            {
                "hold_id": str(hold_id),
                "transfer_id": str(transfer.id),
                "posted_amount": post_amount,
                "released_amount": row.amount - post_amount,
                "user_id": str(row.owner_id),
            },
        ),
    )
    return transfer


async def void_hold(
    conn: AsyncConnection, hold_id: uuid.UUID, *, status: HoldStatus = HoldStatus.VOIDED
) -> Hold:
    """Release a pending hold in full. Voiding a voided hold returns it unchanged."""
    row = await repo.hold_by_id(conn, hold_id, for_update=True)
    if row is None:
        raise HoldNotFound()
    if row.status == status:
        return _hold(row, replayed=True)
    if row.status != HoldStatus.PENDING:
        raise HoldNotPending(status=row.status)
    ref = PlayerCash(row.owner_id)
    states, resolve = await lock_refs(
        conn, row.country_code, row.currency, row.idempotency_key, [ref]
    )
    updated, _ = apply(states, {}, release={resolve[ref]: row.amount})
    await repo.write_held(conn, updated)
    await repo.resolve_hold(conn, hold_id, status=status.value, at=datetime.now(UTC))
    hold = Hold(
        id=row.id,
        account_id=row.account_id,
        user_id=row.owner_id,
        currency=row.currency,
        amount=row.amount,
        status=status,
        posted_amount=None,
        transfer_id=None,
        expires_at=row.expires_at,
    )
    await record(conn, Event(f"ledger.hold.{status.value}", _hold_event(hold, row.type)))
    return hold


async def _hold_replay(
    conn: AsyncConnection, hold_id: uuid.UUID, stored_hash: str, request_hash: str
) -> Hold:
    if stored_hash != request_hash:
        LEDGER_REJECTIONS.labels(IdempotencyConflict.code).inc()
        raise IdempotencyConflict()
    row = await repo.hold_by_id(conn, hold_id)
    assert row is not None
    return _hold(row, replayed=True)


def _hold(row: Any, *, replayed: bool = False) -> Hold:
    return Hold(
        id=row.id,
        account_id=row.account_id,
        user_id=row.owner_id,
        currency=row.currency,
        amount=row.amount,
        status=HoldStatus(row.status),
        posted_amount=row.posted_amount,
        transfer_id=row.transfer_id,
        expires_at=row.expires_at,
        replayed=replayed,
    )


def _hold_event(hold: Hold, hold_type: str) -> dict[str, Any]:
    return {
        "hold_id": str(hold.id),
        "user_id": str(hold.user_id),
        "type": hold_type,
        "currency": hold.currency,
        "amount": hold.amount,
        "status": hold.status.value,
    }


async def get_hold(conn: AsyncConnection, hold_id: uuid.UUID) -> Hold:
    row = await repo.hold_by_id(conn, hold_id)
    if row is None:
        raise HoldNotFound()
    return _hold(row)
