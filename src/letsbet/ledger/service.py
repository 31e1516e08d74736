"""The one ledger API every feature calls: transfers, holds, balances.

Each function takes the caller's connection first and runs inside the caller's transaction, so
a bet and its stake debit (or a deposit and its credit) commit or fail together. Wrap the whole
unit of work in `platform.db.run_in_transaction` to retry deadlocks and serialisation failures.
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
    AccountKind,
    AccountRef,
    AccountState,
    Entry,
    HoldNotFound,
    HoldNotPending,
    HoldStatus,
    House,
    IdempotencyConflict,
    InvalidTransfer,
    PlayerCash,
    TransferSpec,
    apply,
    canonical_hash,
    hold_post_amount,
    house_shard,
)
from letsbet.platform.bus.outbox import Event, outbox_row, record
from letsbet.platform.observability import LEDGER_AMOUNT, LEDGER_REJECTIONS, LEDGER_TRANSFERS


@dataclass(frozen=True, slots=True)
class PostedEntry:
    account_id: int
    owner_id: uuid.UUID | None
    house_code: str | None
    amount: int
    balance_before: int
    balance_after: int


@dataclass(frozen=True, slots=True)
class Transfer:
    id: uuid.UUID
    type: str
    country: str
    currency: str
    reference: str | None
    metadata: Mapping[str, Any]
    entries: tuple[PostedEntry, ...]
    replayed: bool = False

    def entry_for(self, user_id: uuid.UUID) -> PostedEntry:
        return next(e for e in self.entries if e.owner_id == user_id)


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
class Wallet:
    currency: str
    balance: int
    held: int

    @property
    def available(self) -> int:
        return self.balance - self.held


# -- transfers ---------------------------------------------------------------------------------
async def post_transfer(conn: AsyncConnection, spec: TransferSpec) -> Transfer:
    """Move money between accounts, exactly once per idempotency key.

    A replay with the same request returns the original transfer (replayed=True); the same key
    with a different request raises IdempotencyConflict. InsufficientFunds leaves nothing behind.
    """
    return await _transfer(conn, spec, hold=None)


async def _transfer(conn: AsyncConnection, spec: TransferSpec, *, hold: Any) -> Transfer:
    spec.validate()
    request_hash = spec.request_hash()
    try:
        states, resolve = await _lock(
            conn,
            spec.country,
            spec.currency,
            spec.idempotency_key,
            [e.account for e in spec.entries],
        )
        deltas = {resolve[e.account]: e.amount for e in spec.entries}
        release = {hold.account_id: hold.amount} if hold is not None else None
        updated, postings = apply(states, deltas, release=release)
    except LetsbetError as exc:
        # A replay of a transfer that succeeded earlier must answer with it, even when the
        # money has since moved on and the same transfer would no longer fit.
        if await repo.transfer_by_key(conn, spec.idempotency_key) is not None:
            return await _replay(conn, spec.idempotency_key, request_hash)
        LEDGER_REJECTIONS.labels(exc.code).inc()
        raise
    transfer_id = uuid.uuid4()
    by_id = {p.account_id: p for p in postings}
    refs = {account_id: ref for ref, account_id in resolve.items()}
    entries = tuple(
        PostedEntry(
            account_id=p.account_id,
            owner_id=_owner(refs[p.account_id]),
            house_code=_code(refs[p.account_id]),
            amount=p.amount,
            balance_before=p.balance_before,
            balance_after=p.balance_after,
        )
        for p in (by_id[resolve[e.account]] for e in spec.entries)
    )
    transfer = Transfer(
        id=transfer_id,
        type=spec.type,
        country=spec.country,
        currency=spec.currency,
        reference=spec.reference,
        metadata=dict(spec.metadata),
        entries=entries,
    )
    event = outbox_row(Event("ledger.transfer.posted", _transfer_event(transfer)))
    claimed = await repo.write_transfer(
        conn,
        transfer={
            "id": transfer_id,
            "country": spec.country,
            "currency": spec.currency,
            "type": spec.type,
            "idempotency_key": spec.idempotency_key,
            "request_hash": request_hash,
            "reference": spec.reference,
            "metadata": dict(spec.metadata),
            "hold_id": hold.id if hold is not None else None,
            "initiated_by": spec.initiated_by,
        },
        updated=updated,
        postings=postings,
        event=event,
    )
    if not claimed:
        return await _replay(conn, spec.idempotency_key, request_hash)
    LEDGER_TRANSFERS.labels(spec.type).inc()
    LEDGER_AMOUNT.labels(spec.currency, spec.type).inc(
        sum(e.amount for e in spec.entries if e.amount > 0)
    )
    return transfer


async def _lock(
    conn: AsyncConnection, country: str, currency: str, key: str, refs: Sequence[AccountRef]
) -> tuple[dict[int, AccountState], dict[AccountRef, int]]:
    """Lock every account the refs name (ascending id order), opening missing player wallets."""
    house = (
        await repo.house_ids(conn, country, currency)
        if any(isinstance(r, House) for r in refs)
        else {}
    )
    shard = house_shard(key)
    resolve: dict[AccountRef, int] = {
        r: house[(r.code, shard)] for r in refs if isinstance(r, House)
    }
    owners = [r.user_id for r in refs if isinstance(r, PlayerCash)]
    for attempt in range(2):
        rows = await repo.lock_accounts(
            conn, ids=list(resolve.values()), owners=owners, currency=currency
        )
        by_owner = {row.owner_id: row.id for row in rows if row.owner_id is not None}
        missing = [owner for owner in owners if owner not in by_owner]
        if not missing:
            break
        if attempt:
            raise InvalidTransfer(f"could not open wallets for {missing}")
        for owner in missing:
            await repo.open_player_account(conn, owner, country, currency)
    for owner in owners:
        resolve[PlayerCash(owner)] = by_owner[owner]
    states = {
        row.id: AccountState(
            id=row.id,
            kind=AccountKind(row.kind),
            balance=row.balance,
            held=row.held,
            version=row.version,
        )
        for row in rows
    }
    return states, resolve


async def _replay(conn: AsyncConnection, key: str, request_hash: str) -> Transfer:
    row = await repo.transfer_by_key(conn, key)
    if row is None:  # the first request rolled back between our insert and this read
        raise IdempotencyConflict("A request with this key is still in progress; retry.")
    if row.request_hash != request_hash:
        LEDGER_REJECTIONS.labels(IdempotencyConflict.code).inc()
        raise IdempotencyConflict()
    entries = tuple(
        PostedEntry(
            account_id=p.account_id,
            owner_id=p.owner_id,
            house_code=p.code,
            amount=p.amount,
            balance_before=p.balance_before,
            balance_after=p.balance_after,
        )
        for p in await repo.postings_of(conn, row.id)
    )
    return Transfer(
        id=row.id,
        type=row.type,
        country=row.country_code,
        currency=row.currency,
        reference=row.reference,
        metadata=row.metadata,
        entries=entries,
        replayed=True,
    )


def _owner(ref: AccountRef) -> uuid.UUID | None:
    return ref.user_id if isinstance(ref, PlayerCash) else None


def _code(ref: AccountRef) -> str | None:
    return ref.code.value if isinstance(ref, House) else None


def _transfer_event(transfer: Transfer) -> dict[str, Any]:
    return {
        "transfer_id": str(transfer.id),
        "type": transfer.type,
        "country": transfer.country,
        "currency": transfer.currency,
        "reference": transfer.reference,
        "entries": [
            {
                "account_id": e.account_id,
                "user_id": str(e.owner_id) if e.owner_id else None,
                "house": e.house_code,
                "amount": e.amount,
                "balance_after": e.balance_after,
            }
            for e in transfer.entries
        ],
    }


# -- holds -------------------------------------------------------------------------------------
async def create_hold(conn: AsyncConnection, spec: HoldSpec) -> Hold:
    """Reserve `amount` of the player's available balance (pending until posted or voided)."""
    if type(spec.amount) is not int or spec.amount <= 0:
        raise InvalidTransfer(f"hold amount must be a positive integer, got {spec.amount!r}")
    request_hash = spec.request_hash()
    existing = await repo.hold_by_key(conn, spec.idempotency_key)
    if existing is not None:
        return await _hold_replay(conn, existing.id, existing.request_hash, request_hash)
    ref = PlayerCash(spec.user_id)
    try:
        states, resolve = await _lock(
            conn, spec.country, spec.currency, spec.idempotency_key, [ref]
        )
        account_id = resolve[ref]
        updated, _ = apply(states, {}, reserve={account_id: spec.amount})
    except LetsbetError as exc:
        LEDGER_REJECTIONS.labels(exc.code).inc()
        raise
    hold_id = uuid.uuid4()
    claimed = await repo.claim_hold(
        conn,
        id=hold_id,
        account_id=account_id,
        country_code=spec.country,
        currency=spec.currency,
        amount=spec.amount,
        status=HoldStatus.PENDING.value,
        type=spec.type,
        idempotency_key=spec.idempotency_key,
        request_hash=request_hash,
        reference=spec.reference,
        metadata=dict(spec.metadata),
        expires_at=spec.expires_at,
    )
    if not claimed:  # a concurrent request with this key won the insert
        row = await repo.hold_by_key(conn, spec.idempotency_key)
        assert row is not None
        return await _hold_replay(conn, row.id, row.request_hash, request_hash)
    await repo.write_held(conn, updated)
    hold = Hold(
        id=hold_id,
        account_id=account_id,
        user_id=spec.user_id,
        currency=spec.currency,
        amount=spec.amount,
        status=HoldStatus.PENDING,
        posted_amount=None,
        transfer_id=None,
        expires_at=spec.expires_at,
    )
    await record(conn, Event("ledger.hold.created", _hold_event(hold, spec.type)))
    return hold


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
        return await _replay(conn, idempotency_key, spec.request_hash())
    if row.status != HoldStatus.PENDING:
        raise HoldNotPending(status=row.status)
    transfer = await _transfer(conn, spec, hold=row)
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
    states, resolve = await _lock(conn, row.country_code, row.currency, row.idempotency_key, [ref])
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


# -- wallets -----------------------------------------------------------------------------------
async def open_wallet(
    conn: AsyncConnection, user_id: uuid.UUID, country: str, currency: str
) -> None:
    await repo.open_player_account(conn, user_id, country, currency)


async def wallet(conn: AsyncConnection, user_id: uuid.UUID, currency: str) -> Wallet:
    row = await repo.player_account(conn, user_id, currency)
    if row is None:
        return Wallet(currency=currency, balance=0, held=0)
    return Wallet(currency=currency, balance=row.balance, held=row.held)
