"""Pure payment rules: the state machine, tax splits, amounts, masking."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from letsbet.compliance.tax import TaxOverrides, TaxRegime, regime_for
from letsbet.compliance.tax.domain import withdrawal_breakdown
from letsbet.payments.domain import (
    AmountAboveMaximum,
    AmountBelowMinimum,
    AmountNotWhole,
    Decision,
    Direction,
    Status,
    b2c_result,
    decide,
    deposit_split,
    mask_phone,
    moves_money,
    stk_result,
    validate_amount,
    withdrawal_split,
)

KENYA = regime_for("KE", date(2026, 1, 1))
NIGERIA = regime_for("NG", date(2026, 1, 1))
D, W = Direction.DEPOSIT, Direction.WITHDRAWAL


@pytest.mark.parametrize(
    ("direction", "current", "target", "decision"),
    [
        (D, Status.INITIATED, Status.PENDING, Decision.APPLY),
        (D, Status.INITIATED, Status.SUCCEEDED, Decision.APPLY),  # callback before the answer
        (D, Status.PENDING, Status.SUCCEEDED, Decision.APPLY),
        (D, Status.PENDING, Status.FAILED, Decision.APPLY),
        (D, Status.TIMED_OUT, Status.SUCCEEDED, Decision.APPLY),  # a late, verified success
        (D, Status.SUCCEEDED, Status.SUCCEEDED, Decision.DUPLICATE),
        (D, Status.SUCCEEDED, Status.FAILED, Decision.CONFLICT),
        (D, Status.FAILED, Status.SUCCEEDED, Decision.CONFLICT),
        (D, Status.SUCCEEDED, Status.PENDING, Decision.CONFLICT),
        (W, Status.PENDING, Status.SUCCEEDED, Decision.APPLY),
        (W, Status.PENDING, Status.TIMED_OUT, Decision.APPLY),
        (W, Status.TIMED_OUT, Status.SUCCEEDED, Decision.CONFLICT),  # the hold is gone
        (W, Status.FAILED, Status.FAILED, Decision.DUPLICATE),
    ],
)
def test_state_machine(
    direction: Direction, current: Status, target: Status, decision: Decision
) -> None:
    assert decide(direction, current, target) is decision


def test_what_moves_money() -> None:
    assert moves_money(D, Status.PENDING, Status.SUCCEEDED)
    assert not moves_money(D, Status.PENDING, Status.FAILED)
    assert moves_money(W, Status.PENDING, Status.FAILED)  # the hold is voided
    assert not moves_money(D, Status.INITIATED, Status.PENDING)


def test_result_codes() -> None:
    assert stk_result(0) == (Status.SUCCEEDED, "ok")
    assert stk_result(1032) == (Status.FAILED, "cancelled")
    assert stk_result(1037) == (Status.TIMED_OUT, "unreachable")
    for code in (1001, 1019, 1025, 9999, 12345):
        assert stk_result(code) == (Status.FAILED, "provider_error")
    assert b2c_result(0) == (Status.SUCCEEDED, "ok")
    assert b2c_result(2001) == (Status.FAILED, "initiator_invalid")


def test_kenyan_excise_on_deposits() -> None:
    split = deposit_split(KENYA, 1000_00)
    assert (split.gross, split.tax, split.net) == (1000_00, 50_00, 950_00)
    assert [line.account for line in split.lines] == ["excise_tax_payable"]
    assert deposit_split(NIGERIA, 1000_00).tax == 0


@given(st.integers(min_value=1, max_value=10**9), st.sampled_from([1, 100]))
def test_withdrawal_split_properties(requested: int, unit: int) -> None:
    if requested < unit:
        return
    split = withdrawal_split(KENYA, requested, unit)
    assert split.gross <= requested
    assert split.net % unit == 0 and split.net > 0
    assert split.gross == split.tax + split.net
    # The tax is exactly the regime's tax on what leaves the wallet.
    assert withdrawal_breakdown(KENYA, split.gross).tax == split.tax
    # When cents cannot be sent, no smaller withdrawal would send the same payout; and we
    # always send as much as fits.
    if split.gross < requested:
        assert withdrawal_breakdown(KENYA, split.gross - 1).net < split.net
    full = withdrawal_breakdown(KENYA, requested).net
    assert full - unit < split.net <= full


def _trio(regime: TaxRegime, requested: int, unit: int) -> tuple[int, int, int]:
    split = withdrawal_split(regime, requested, unit)
    return split.gross, split.tax, split.net


def test_withdrawal_split_examples() -> None:
    assert _trio(KENYA, 1000_00, 100) == (1000_00, 50_00, 950_00)
    assert _trio(KENYA, 1010_00, 100) == (1009_47, 50_47, 959_00)
    assert _trio(NIGERIA, 1010_00, 100) == (1010_00, 0, 1010_00)
    overridden = TaxOverrides(wht_rate=Decimal("0.2")).apply(KENYA)
    assert _trio(overridden, 1000_00, 100) == (1000_00, 200_00, 800_00)


def test_validate_amount() -> None:
    rules = {"minimum": 10_00, "maximum": 1000_00, "unit": 100, "currency": "KES", "decimals": 2}
    validate_amount(10_00, **rules)  # type: ignore[arg-type]
    with pytest.raises(AmountBelowMinimum, match=r"KES 10\.00"):
        validate_amount(9_00, **rules)  # type: ignore[arg-type]
    with pytest.raises(AmountAboveMaximum):
        validate_amount(1001_00, **rules)  # type: ignore[arg-type]
    with pytest.raises(AmountNotWhole):
        validate_amount(10_50, **rules)  # type: ignore[arg-type]


def test_mask_phone() -> None:
    assert mask_phone("+254712345678") == "+2547******78"
    assert mask_phone(254712345678) == "25471*****78"
    assert mask_phone(None) == ""
    assert mask_phone("123") == "***"
