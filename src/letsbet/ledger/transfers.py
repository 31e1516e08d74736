"""Transfers: move money between accounts, exactly once per idempotency key."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from letsbet.errors import LetsbetError
from letsbet.ledger import repository as repo
from letsbet.ledger.domain import (
    OVERDRAFT_TYPES,
    AccountKind,
    AccountRef,
    AccountState,
    House,
    IdempotencyConflict,
    InvalidTransfer,
    PlayerCash,
    TransferSpec,
    apply,
    house_shard,
)
from letsbet.platform.bus.outbox import Event, outbox_row
from letsbet.platform.observability import (
    LEDGER_AMOUNT,
    LEDGER_OVERDRAFTS,
    LEDGER_REJECTIONS,
    LEDGER_TRANSFERS,
    get_logger,
)

log = get_logger(__name__)


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


async def post_transfer(conn: AsyncConnection, spec: TransferSpec) -> Transfer:
    """Move money between accounts, exactly once per idempotency key.

    A replay with the same request returns the original transfer (replayed=True); the same key
    with a different request raises IdempotencyConflict. InsufficientFunds leaves nothing behind.
    """
    return await execute(conn, spec, hold=None)


async def execute(conn: AsyncConnection, spec: TransferSpec, *, hold: Any) -> Transfer:
    spec.validate()
    request_hash = spec.request_hash()
    try:
        states, resolve = await lock_refs(
            conn,
            spec.country,
            spec.currency,
            spec.idempotency_key,
            [e.account for e in spec.entries],
        )
        deltas = {resolve[e.account]: e.amount for e in spec.entries}
        release = {hold.account_id: hold.amount} if hold is not None else None
        overdraft = spec.type in OVERDRAFT_TYPES
        updated, postings = apply(states, deltas, release=release, overdraft=overdraft)
    except LetsbetError as exc:
        # A replay of a transfer that succeeded earlier must answer with it, even when the
        # money has since moved on and the same transfer would no longer fit.
        if await repo.transfer_by_key(conn, spec.idempotency_key) is not None:
            return await replay(conn, spec.idempotency_key, request_hash)
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
        return await replay(conn, spec.idempotency_key, request_hash)
    LEDGER_TRANSFERS.labels(spec.type).inc()
    LEDGER_AMOUNT.labels(spec.currency, spec.type).inc(
        sum(e.amount for e in spec.entries if e.amount > 0)
    )
    if overdraft:
        _report_overdrafts(transfer, states, updated)
    return transfer


def _report_overdrafts(
    transfer: Transfer, before: Mapping[int, AccountState], after: Mapping[int, AccountState]
) -> None:
    """A clawback that left a player below zero: the player now owes the house."""
    for entry in transfer.entries:
        state = after[entry.account_id]
        if entry.owner_id is None or entry.amount >= 0 or state.balance - state.held >= 0:
            continue
        LEDGER_OVERDRAFTS.labels(transfer.currency).inc()
        log.warning(
            "ledger.player_overdrawn",
            user_id=str(entry.owner_id),
            transfer_id=str(transfer.id),
            type=transfer.type,
            reference=transfer.reference,
            currency=transfer.currency,
            amount=entry.amount,
            available_before=before[entry.account_id].available,
            available_after=state.balance - state.held,
        )


async def lock_refs(
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


async def replay(conn: AsyncConnection, key: str, request_hash: str) -> Transfer:
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
