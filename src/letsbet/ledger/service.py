"""The one ledger API every feature calls: transfers, holds, wallets.

Each function takes the caller's connection first and runs inside the caller's transaction, so
a bet and its stake debit (or a deposit and its credit) commit or fail together. Wrap the whole
unit of work in `platform.db.run_in_transaction` to retry deadlocks and serialisation failures.
Nothing else in letsbet writes balances.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

from letsbet.ledger import repository as repo
from letsbet.ledger.holds import Hold, HoldSpec, create_hold, get_hold, post_hold, void_hold
from letsbet.ledger.transfers import PostedEntry, Transfer, post_transfer

__all__ = [
    "Hold",
    "HoldSpec",
    "PostedEntry",
    "Transfer",
    "Wallet",
    "create_hold",
    "get_hold",
    "open_wallet",
    "post_hold",
    "post_transfer",
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
