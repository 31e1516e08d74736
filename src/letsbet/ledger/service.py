"""The one ledger API every feature calls: transfers, holds, wallets.

Each function takes the caller's connection first and runs inside the caller's transaction, so
a bet and its stake debit (or a deposit and its credit) commit or fail together. Wrap the whole
unit of work in `platform.db.run_in_transaction` to retry deadlocks and serialisation failures.
Nothing else in letsbet writes balances.

A feature that writes much else in the same transaction (bet placement) may compose the
ledger's write into its own statement instead: `plan_lock` names the accounts to lock (in the
feature's read, with `LockPlan.sql`), `resolve_locked` and `prepare_transfer` /
`prepare_hold` compute the balances, postings and event in Python exactly as `post_transfer`
and `create_hold` do, and `repository.TRANSFER_CTES` / `HOLD_CTES` write them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

from letsbet.ledger import repository as repo
from letsbet.ledger.holds import (
    Hold,
    HoldSpec,
    PreparedHold,
    create_hold,
    get_hold,
    post_hold,
    prepare_hold,
    void_hold,
)
from letsbet.ledger.transfers import (
    Locked,
    LockPlan,
    PostedEntry,
    PreparedTransfer,
    Transfer,
    lock_refs,
    plan_lock,
    post_transfer,
    rejected,
    resolve_locked,
)
from letsbet.ledger.transfers import prepare as prepare_transfer

__all__ = [
    "Hold",
    "HoldSpec",
    "LockPlan",
    "Locked",
    "PostedEntry",
    "PreparedHold",
    "PreparedTransfer",
    "Transfer",
    "Wallet",
    "create_hold",
    "get_hold",
    "lock_refs",
    "open_wallet",
    "plan_lock",
    "post_hold",
    "post_transfer",
    "prepare_hold",
    "prepare_transfer",
    "rejected",
    "resolve_locked",
    "void_hold",
    "wallet",
]


@dataclass(frozen=True, slots=True)
class Wallet:
    currency: str
    balance: int
    held: int

    @property
    def available(self) -> int:
        return self.balance - self.held


async def open_wallet(
    conn: AsyncConnection, user_id: uuid.UUID, country: str, currency: str
) -> None:
    await repo.open_player_account(conn, user_id, country, currency)


async def wallet(conn: AsyncConnection, user_id: uuid.UUID, currency: str) -> Wallet:
    row = await repo.player_account(conn, user_id, currency)
    if row is None:
        return Wallet(currency=currency, balance=0, held=0)
    return Wallet(currency=currency, balance=row.balance, held=row.held)
