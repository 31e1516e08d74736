"""Pure ledger rules: what a valid transfer is, how postings change balances, hold arithmetic.

No I/O. Amounts are signed integers in minor units: a positive amount credits an account (its
balance grows), a negative one debits it. Every transfer's amounts sum to zero: money is only
ever moved, never created or destroyed.

A player's available balance (balance - held) never goes below zero, with one exception: a
clawback (`OVERDRAFT_TYPES`) takes back winnings a result correction removed, in full, even
when the player has already spent or withdrawn them. The negative balance is the player's debt
to the house: every later credit (a deposit, a win) repays it first simply by being added, and
nothing else may lower an available balance that is below zero, so the player can neither bet
nor withdraw until it is repaid. `letsbet ledger check` proves only clawbacks overdraw.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

import orjson

from letsbet.compliance.tax import TaxLine
from letsbet.errors import Conflict, NotFound

# Far above any real balance, far below BIGINT: sums of many postings cannot overflow.
MAX_AMOUNT = 10**15
HOUSE_SHARDS = 8
_TYPE = re.compile(r"^[a-z][a-z0-9_.]{1,63}$")
_KEY = re.compile(r"^[\x21-\x7e]{1,128}$")  # printable ASCII, no spaces

# The only transfer types that may take a player below zero: a result correction or a rollback
# of a settlement taking back winnings already paid (sportsbook.bets.resettlement). Common
# practice for operators: the clawback is taken in full and a negative balance is a debt that
# later deposits repay, rather than a receivable the house must chase by hand.
OVERDRAFT_TYPES = frozenset({"bet.resettle", "bet.rollback"})


class AccountKind(StrEnum):
    PLAYER_CASH = "player_cash"
    HOUSE = "house"


class HouseAccount(StrEnum):
    """System accounts, one set per country and currency."""

    STAKES_IN_PLAY = "stakes_in_play"
    SPORTSBOOK_REVENUE = "sportsbook_revenue"
    CRASH_REVENUE = "crash_revenue"
    EXCISE_TAX_PAYABLE = "excise_tax_payable"
    WITHHOLDING_TAX_PAYABLE = "withholding_tax_payable"
    MPESA_CLEARING = "mpesa_clearing"
    FLUTTERWAVE_CLEARING = "flutterwave_clearing"
    ADJUSTMENTS = "adjustments"


class HoldStatus(StrEnum):
    PENDING = "pending"
    POSTED = "posted"
    VOIDED = "voided"
    EXPIRED = "expired"


# -- errors -----------------------------------------------------------------------------------
class InsufficientFunds(Conflict):
    code = "insufficient_funds"
    message = "Not enough available balance for this."


class IdempotencyConflict(Conflict):
    code = "idempotency_conflict"
    message = "This idempotency key was already used for a different request; use a new key."


class HoldNotPending(Conflict):
    code = "hold_not_pending"
    message = "This hold is already posted, voided or expired."


class HoldNotFound(NotFound):
    code = "hold_not_found"
    message = "No such hold."


class WalletNotFound(NotFound):
    code = "wallet_not_found"
    message = "No wallet in this currency yet."


class InvalidTransfer(ValueError):
    """A feature built a malformed transfer: a bug, never a player's mistake."""


# -- account references -------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class PlayerCash:
    user_id: uuid.UUID


@dataclass(frozen=True, slots=True)
class House:
    code: HouseAccount


AccountRef = PlayerCash | House


@dataclass(frozen=True, slots=True)
class Entry:
    account: AccountRef
    amount: int  # + credit, - debit


@dataclass(frozen=True, slots=True)
class TransferSpec:
    """A request to move money. `idempotency_key` makes a retry return the first result."""

    idempotency_key: str
    type: str  # e.g. "bet.stake", "deposit.mpesa", "adjustment"
    country: str
    currency: str
    entries: tuple[Entry, ...]
    reference: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    initiated_by: uuid.UUID | None = None

    def validate(self) -> None:
        if not _KEY.match(self.idempotency_key):
            raise InvalidTransfer("idempotency key must be 1-128 printable ASCII characters")
        if not _TYPE.match(self.type):
            raise InvalidTransfer(f"bad transfer type {self.type!r}")
        validate_entries(self.entries)

    def request_hash(self) -> str:
        return canonical_hash(
            {
                "type": self.type,
                "country": self.country,
                "currency": self.currency,
                "entries": [[_ref_key(e.account), e.amount] for e in self.entries],
                "reference": self.reference,
                "metadata": dict(self.metadata),
                "initiated_by": str(self.initiated_by) if self.initiated_by else None,
            }
        )


def validate_entries(entries: Sequence[Entry]) -> None:
    if len(entries) < 2:
        raise InvalidTransfer("a transfer needs at least two entries")
    seen: set[AccountRef] = set()
    for entry in entries:
        if type(entry.amount) is not int or entry.amount == 0 or abs(entry.amount) > MAX_AMOUNT:
            raise InvalidTransfer(f"entry amounts must be non-zero integers, got {entry.amount!r}")
        if entry.account in seen:
            raise InvalidTransfer("an account may appear once per transfer")
        seen.add(entry.account)
    if sum(e.amount for e in entries) != 0:
        raise InvalidTransfer("entries must sum to zero")


def _ref_key(ref: AccountRef) -> str:
    return f"player:{ref.user_id}" if isinstance(ref, PlayerCash) else f"house:{ref.code.value}"


def canonical_hash(body: Mapping[str, Any]) -> str:
    return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()


def house_shard(idempotency_key: str) -> int:
    """Spread postings to a house account over its shards, stably per transfer."""
    return int.from_bytes(hashlib.blake2b(idempotency_key.encode(), digest_size=2).digest()) % (
        HOUSE_SHARDS
    )


# -- applying postings -------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class AccountState:
    id: int
    kind: AccountKind
    balance: int
    held: int
    version: int

    @property
    def available(self) -> int:
        return self.balance - self.held


@dataclass(frozen=True, slots=True)
class Posting:
    account_id: int
    amount: int
    balance_before: int
    balance_after: int


def apply(
    accounts: Mapping[int, AccountState],
    deltas: Mapping[int, int],
    *,
    release: Mapping[int, int] | None = None,
    reserve: Mapping[int, int] | None = None,
    overdraft: bool = False,
) -> tuple[dict[int, AccountState], list[Posting]]:
    """New account states and postings for `deltas`, after releasing/reserving held amounts.

    A player account's available balance (balance - held) may never be lowered below zero,
    unless `overdraft` (a clawback, see OVERDRAFT_TYPES). A player already below zero may still
    be credited or have a hold posted or released: none of these lowers what is available.
    """
    release = release or {}
    reserve = reserve or {}
    updated: dict[int, AccountState] = {}
    postings: list[Posting] = []
    for account_id in sorted(set(deltas) | set(release) | set(reserve)):
        state = accounts[account_id]
        delta = deltas.get(account_id, 0)
        held = state.held - release.get(account_id, 0) + reserve.get(account_id, 0)
        balance = state.balance + delta
        if held < 0:
            raise InvalidTransfer(f"account {account_id} would hold a negative amount")
        available = balance - held
        if (
            state.kind == AccountKind.PLAYER_CASH
            and available < 0
            and available < state.available
            and not overdraft
        ):
            raise InsufficientFunds(available=_major(state.available), needed=_major(-delta))
        updated[account_id] = replace(state, balance=balance, held=held, version=state.version + 1)
        if delta:
            postings.append(Posting(account_id, delta, state.balance, balance))
    return updated, postings


def _major(minor: int) -> str:
    sign = "-" if minor < 0 else ""
    return f"{sign}{abs(minor) // 100}.{abs(minor) % 100:02d}"


def hold_post_amount(hold_amount: int, requested: int | None) -> int:
    """Full post when not given; a partial post releases the rest (TigerBeetle semantics)."""
    amount = hold_amount if requested is None else requested
    if type(amount) is not int or not 0 < amount <= hold_amount:
        raise InvalidTransfer(f"post amount must be 1..{hold_amount}, got {requested!r}")
    return amount


def net_entries(old: Iterable[Entry], new: Iterable[Entry]) -> tuple[Entry, ...]:
    """The entries that turn the effect of `old` into the effect of `new`: per account, new
    minus old, accounts whose amount does not change left out (an empty tuple: nothing to
    post). `net_entries(old, ())` reverses `old`. Both sides sum to zero, so the result does."""
    amounts: dict[AccountRef, int] = {}
    for entry in new:
        amounts[entry.account] = amounts.get(entry.account, 0) + entry.amount
    for entry in old:
        amounts[entry.account] = amounts.get(entry.account, 0) - entry.amount
    return tuple(Entry(account, amount) for account, amount in amounts.items() if amount)


def summarize(entries: Iterable[Entry]) -> list[dict[str, Any]]:
    return [{"account": _ref_key(e.account), "amount": e.amount} for e in entries]


def tax_entries(lines: Iterable[TaxLine]) -> list[Entry]:
    """Credit each tax line to its tax-payable house account (the feature debits the payer)."""
    return [Entry(House(HouseAccount(line.account)), line.amount) for line in lines if line.amount]
