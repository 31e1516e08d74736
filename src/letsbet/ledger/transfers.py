"""Transfers: move money between accounts, exactly once per idempotency key."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
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
from letsbet.platform.bus.outbox import Event
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


@dataclass(frozen=True, slots=True)
class LockPlan:
    """Which accounts a transfer locks: house shards by id, player wallets by owner."""

    country: str
    currency: str
    key: str  # the transfer's idempotency key, which picks the house shards
    house: dict[AccountRef, int]
    owners: list[uuid.UUID]

    @property
    def sql(self) -> str:
        """The lock statement (`repository.lock_sql`) for these accounts."""
        return repo.lock_sql(len(self.house), len(self.owners))

    @property
    def values(self) -> dict[str, Any]:
        """The parameters of `sql`."""
        return repo.lock_values(list(self.house.values()), self.owners, self.currency)


# One locked account as `repository.lock_sql` returns it: id, kind, owner, balance, held, version.
LockedRow = tuple[int, str, uuid.UUID | None, int, int, int]
Locked = tuple[dict[int, AccountState], dict[AccountRef, int]]


@dataclass(frozen=True, slots=True)
class PreparedTransfer:
    """A transfer checked against locked balances, ready to write in one statement."""

    spec: TransferSpec
    transfer: Transfer
    values: dict[str, Any]  # the parameters of `repository.TRANSFER_CTES`
    event: Event  # ledger.transfer.posted
    # Players a clawback (OVERDRAFT_TYPES) leaves below zero: (entry, available before, after).
    overdrawn: tuple[tuple[PostedEntry, int, int], ...] = ()

    def posted(self) -> None:
        """Count it in the ledger's metrics, once its write has claimed the key."""
        LEDGER_TRANSFERS.labels(self.spec.type).inc()
        LEDGER_AMOUNT.labels(self.spec.currency, self.spec.type).inc(
            sum(e.amount for e in self.spec.entries if e.amount > 0)
        )
        for entry, available_before, available_after in self.overdrawn:
            # The player now owes the house; later credits repay it.
            LEDGER_OVERDRAFTS.labels(self.spec.currency).inc()
            log.warning(
                "ledger.player_overdrawn",
                user_id=str(entry.owner_id),
                transfer_id=str(self.transfer.id),
                type=self.spec.type,
                reference=self.spec.reference,
                currency=self.spec.currency,
                amount=entry.amount,
                available_before=available_before,
                available_after=available_after,
            )


async def execute(conn: AsyncConnection, spec: TransferSpec, *, hold: Any) -> Transfer:
    spec.validate()
    request_hash = spec.request_hash()
    try:
        locked = await lock_refs(
            conn,
            spec.country,
            spec.currency,
            spec.idempotency_key,
            [e.account for e in spec.entries],
        )
        prepared = prepare(spec, locked, hold=hold, request_hash=request_hash)
    except LetsbetError as exc:
        # A replay of a transfer that succeeded earlier must answer with it, even when the
        # money has since moved on and the same transfer would no longer fit.
        if await repo.transfer_by_key(conn, spec.idempotency_key) is not None:
            return await replay(conn, spec.idempotency_key, request_hash)
        rejected(exc)
        raise
    claimed = await repo.write_transfer(conn, prepared.values, prepared.event)
    if not claimed:
        return await replay(conn, spec.idempotency_key, request_hash)
    prepared.posted()
    return prepared.transfer


def rejected(exc: LetsbetError) -> None:
    LEDGER_REJECTIONS.labels(exc.code).inc()


def prepare(
    spec: TransferSpec, locked: Locked, *, hold: Any = None, request_hash: str | None = None
) -> PreparedTransfer:
    """Pure: the new balances, postings, answer and event of `spec` against its locked accounts.

    Raises InsufficientFunds when a player's available balance would go below zero (the caller
    counts it with `rejected`). `hold`, when given, is the pending hold the transfer posts.
    """
    states, resolve = locked
    deltas = {resolve[e.account]: e.amount for e in spec.entries}
    release = {hold.account_id: hold.amount} if hold is not None else None
    overdraft = spec.type in OVERDRAFT_TYPES
    updated, postings = apply(states, deltas, release=release, overdraft=overdraft)
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
    values = repo.transfer_values(
        {
            "id": transfer_id,
            "country": spec.country,
            "currency": spec.currency,
            "type": spec.type,
            "idempotency_key": spec.idempotency_key,
            "request_hash": request_hash or spec.request_hash(),
            "reference": spec.reference,
            "metadata": dict(spec.metadata),
            "hold_id": hold.id if hold is not None else None,
            "initiated_by": spec.initiated_by,
        },
        updated,
        postings,
    )
    event = Event("ledger.transfer.posted", _transfer_event(transfer))
    overdrawn = tuple(
        (entry, states[entry.account_id].available, updated[entry.account_id].available)
        for entry in entries
        if overdraft
        and entry.owner_id is not None
        and entry.amount < 0
        and updated[entry.account_id].available < 0
    )
    return PreparedTransfer(
        spec=spec, transfer=transfer, values=values, event=event, overdrawn=overdrawn
    )


async def plan_lock(
    conn: AsyncConnection, country: str, currency: str, key: str, refs: Sequence[AccountRef]
) -> LockPlan:
    """The accounts to lock for a transfer with idempotency key `key` touching `refs`."""
    house = (
        await repo.house_ids(conn, country, currency)
        if any(isinstance(r, House) for r in refs)
        else {}
    )
    shard = house_shard(key)
    return LockPlan(
        country=country,
        currency=currency,
        key=key,
        house={r: house[(r.code, shard)] for r in refs if isinstance(r, House)},
        owners=[r.user_id for r in refs if isinstance(r, PlayerCash)],
    )


def resolve_locked(plan: LockPlan, rows: Iterable[Sequence[Any]]) -> Locked | None:
    """The locked accounts' states and which account each ref is; None if a wallet is missing."""
    resolve: dict[AccountRef, int] = dict(plan.house)
    states: dict[int, AccountState] = {}
    by_owner: dict[uuid.UUID, int] = {}
    for account_id, kind, owner_id, balance, held, version in rows:
        states[account_id] = AccountState(
            id=account_id, kind=AccountKind(kind), balance=balance, held=held, version=version
        )
        if owner_id is not None:
            by_owner[owner_id] = account_id
    for owner in plan.owners:
        if owner not in by_owner:
            return None
        resolve[PlayerCash(owner)] = by_owner[owner]
    return states, resolve


async def lock_refs(
    conn: AsyncConnection, country: str, currency: str, key: str, refs: Sequence[AccountRef]
) -> Locked:
    """Lock every account the refs name (ascending id order), opening missing player wallets."""
    plan = await plan_lock(conn, country, currency, key, refs)
    return await lock_planned(conn, plan)


async def lock_planned(conn: AsyncConnection, plan: LockPlan) -> Locked:
    """Lock the planned accounts, opening missing player wallets first."""
    for attempt in range(2):
        rows = await repo.lock_accounts(
            conn, ids=list(plan.house.values()), owners=plan.owners, currency=plan.currency
        )
        locked = resolve_locked(plan, rows)
        if locked is not None:
            return locked
        present = {row[2] for row in rows}
        missing = [owner for owner in plan.owners if owner not in present]
        if attempt:
            raise InvalidTransfer(f"could not open wallets for {missing}")
        for owner in missing:
            await repo.open_player_account(conn, owner, plan.country, plan.currency)
    raise AssertionError("unreachable")


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
