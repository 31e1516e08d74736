"""Pure payment rules: amounts, the state machine of a payment, tax splits, masking. No I/O.

A payment moves through a small state machine. Money moves only on the transitions into
`succeeded` (deposit credited, withdrawal hold posted) and out of a withdrawal's open states into
`failed`/`timed_out` (hold voided, money back). Any other delivery is a duplicate or a conflict
and changes nothing.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from enum import StrEnum

from letsbet.compliance.tax import TaxRegime, deposit_breakdown, withdrawal_breakdown
from letsbet.compliance.tax.domain import TaxLine
from letsbet.errors import Conflict, NotFound, Unprocessable


class Direction(StrEnum):
    DEPOSIT = "deposit"
    WITHDRAWAL = "withdrawal"


class Status(StrEnum):
    INITIATED = "initiated"  # our row exists; the provider has not (yet) accepted the request
    PENDING = "pending"  # the provider accepted it; waiting for the result
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMED_OUT = "timed_out"


OPEN = frozenset({Status.INITIATED, Status.PENDING})
FINAL = frozenset({Status.SUCCEEDED, Status.FAILED, Status.TIMED_OUT})

_ALLOWED: dict[tuple[Direction, Status], frozenset[Status]] = {
    (Direction.DEPOSIT, Status.INITIATED): frozenset(
        {Status.PENDING, Status.SUCCEEDED, Status.FAILED, Status.TIMED_OUT}
    ),
    (Direction.DEPOSIT, Status.PENDING): frozenset(
        {Status.SUCCEEDED, Status.FAILED, Status.TIMED_OUT}
    ),
    # We gave up waiting, but a verified late success means the money did arrive: credit it.
    (Direction.DEPOSIT, Status.TIMED_OUT): frozenset({Status.SUCCEEDED}),
    (Direction.WITHDRAWAL, Status.INITIATED): frozenset(
        {Status.PENDING, Status.SUCCEEDED, Status.FAILED, Status.TIMED_OUT}
    ),
    (Direction.WITHDRAWAL, Status.PENDING): frozenset(
        {Status.SUCCEEDED, Status.FAILED, Status.TIMED_OUT}
    ),
    # A withdrawal's timeout voided its hold: the money is back and nothing may move again.
}


class Decision(StrEnum):
    APPLY = "apply"  # a legal transition: change state (and money)
    DUPLICATE = "duplicate"  # already in that state: answer as before, change nothing
    CONFLICT = "conflict"  # contradicts a final state: change nothing, alert a human


def decide(direction: Direction, current: Status, target: Status) -> Decision:
    if current == target:
        return Decision.DUPLICATE
    if target in _ALLOWED.get((direction, current), frozenset()):
        return Decision.APPLY
    return Decision.CONFLICT


def moves_money(direction: Direction, current: Status, target: Status) -> bool:
    """Whether applying current → target touches the ledger."""
    if target == Status.SUCCEEDED:
        return True
    return direction == Direction.WITHDRAWAL and target in (Status.FAILED, Status.TIMED_OUT)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a provider (callback, webhook or status query) says became of a payment."""

    status: Status
    result_code: str
    result_desc: str
    reason: str  # our stable word: ok, cancelled, insufficient_funds, wrong_pin, ...
    receipt: str | None = None  # MpesaReceiptNumber / TransactionID / flw_ref
    amount: int | None = None  # minor units, when the provider reports one
    phone: str | None = None  # E.164, when the provider reports one


# -- M-Pesa result codes (Daraja: STK callback / query ResultCode) --------------------------
_STK_RESULTS: dict[int, tuple[Status, str]] = {
    0: (Status.SUCCEEDED, "ok"),
    1: (Status.FAILED, "insufficient_funds"),
    1032: (Status.FAILED, "cancelled"),
    1037: (Status.TIMED_OUT, "unreachable"),
    2001: (Status.FAILED, "wrong_pin"),
}


def stk_result(code: int) -> tuple[Status, str]:
    """Status and reason of an STK ResultCode; 1001, 1019, 1025, 9999 and unknown codes fail
    with the code kept on the payment."""
    return _STK_RESULTS.get(code, (Status.FAILED, "provider_error"))


_B2C_RESULTS: dict[int, str] = {
    1: "provider_insufficient_funds",  # our B2C utility account is short
    2001: "initiator_invalid",
    2040: "recipient_not_supported",
    8006: "credential_locked",
}


def b2c_result(code: int) -> tuple[Status, str]:
    if code == 0:
        return Status.SUCCEEDED, "ok"
    return Status.FAILED, _B2C_RESULTS.get(code, "provider_error")


# -- errors (each a stable 4xx code) --------------------------------------------------------
class PaymentNotFound(NotFound):
    code = "payment_not_found"
    message = "No such payment."


class AmountBelowMinimum(Unprocessable):
    code = "amount_below_minimum"


class AmountAboveMaximum(Unprocessable):
    code = "amount_above_maximum"


class AmountNotWhole(Unprocessable):
    code = "amount_not_whole"


class PaymentIdempotencyConflict(Conflict):
    code = "idempotency_conflict"
    message = "This idempotency key was already used for a different payment; use a new key."


class PaymentDestinationInvalid(Unprocessable):
    code = "invalid_payment_destination"


# -- amounts --------------------------------------------------------------------------------
def validate_amount(
    amount: int, *, minimum: int, maximum: int, unit: int, currency: str, decimals: int
) -> None:
    """Raise a 422 unless minimum <= amount <= maximum and amount is whole in `unit` minor units
    (M-Pesa moves whole shillings only)."""

    def show(minor: int) -> str:
        scale = 10**decimals
        return f"{currency} {minor // scale}.{minor % scale:0{decimals}d}"

    if amount < minimum:
        raise AmountBelowMinimum(f"The smallest amount is {show(minimum)}.", minimum=show(minimum))
    if amount > maximum:
        raise AmountAboveMaximum(f"The largest amount is {show(maximum)}.", maximum=show(maximum))
    if amount % unit:
        raise AmountNotWhole(f"Send a whole amount in {currency} (no cents).")


@dataclass(frozen=True, slots=True)
class DepositSplit:
    gross: int  # what the player pays the provider
    tax: int  # excise withheld on the way in
    net: int  # what the wallet is credited
    lines: tuple[TaxLine, ...]


def deposit_split(regime: TaxRegime, amount: int) -> DepositSplit:
    b = deposit_breakdown(regime, amount)
    return DepositSplit(gross=b.gross, tax=b.tax, net=b.net, lines=b.lines)


@dataclass(frozen=True, slots=True)
class WithdrawalSplit:
    gross: int  # what leaves the wallet (held, then posted)
    tax: int  # withholding on `gross`
    net: int  # what the provider sends: a whole number of `unit`
    lines: tuple[TaxLine, ...]


def withdrawal_split(regime: TaxRegime, requested: int, unit: int = 1) -> WithdrawalSplit:
    """Split a withdrawal of at most `requested` into tax and a payout the provider can send.

    When the provider moves whole units only (M-Pesa: shillings), the payout is `requested`
    minus its tax rounded down to a unit, and the wallet is debited the smallest gross whose tax
    leaves exactly that payout: the tax is always computed on what actually leaves the wallet,
    and the few cents that cannot be sent stay with the player.
    """
    if requested <= 0 or unit <= 0:
        raise ValueError("requested and unit must be positive")
    first = withdrawal_breakdown(regime, requested)
    net = first.net - first.net % unit
    if net == first.net:
        return WithdrawalSplit(requested, first.tax, first.net, first.lines)
    # gross - tax(gross) is non-decreasing in gross by steps of 0 or 1, so some gross in
    # [net, requested] leaves exactly `net`; start just below the exact solution.
    rate = max((line.rate for line in first.lines), default=None)
    gross = net
    if rate is not None and rate < 1:
        num, den = rate.as_integer_ratio()
        gross = max(net, net * den // (den - num) - 2)
    while gross <= requested:
        b = withdrawal_breakdown(regime, gross)
        if b.net == net:
            return WithdrawalSplit(gross, b.tax, b.net, b.lines)
        if b.net > net:  # pragma: no cover - impossible by monotonicity, kept as a guard
            break
        gross += 1
    raise AssertionError(f"no gross for a payout of {net} within {requested}")


# -- phones ---------------------------------------------------------------------------------
_KE_MSISDN = re.compile(r"^254(7|1)[0-9]{8}$")


def msisdn(e164: str) -> str:
    """+254712345678 → 254712345678 (Daraja's PhoneNumber/PartyB form)."""
    return e164.removeprefix("+")


def is_mpesa_msisdn(value: str) -> bool:
    return _KE_MSISDN.fullmatch(value) is not None


def mask_phone(phone: str | int | None) -> str:
    """+254712345678 → +2547******78: enough to tell numbers apart in a log, not to call them."""
    if phone is None:
        return ""
    text = str(phone)
    if len(text) <= 6:
        return "*" * len(text)
    return text[:5] + "*" * (len(text) - 7) + text[-2:]


def hash_token(token: str) -> str:
    """What we store of a callback URL token: its SHA-256 (a leaked table reveals no URL)."""
    return hashlib.sha256(token.encode()).hexdigest()
