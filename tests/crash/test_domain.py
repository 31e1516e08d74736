"""Pure bet rules: auto-cash-out input, cash-out decisions, the max-profit cap."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from fractions import Fraction

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from letsbet.crash.curve import payout, time_to_reach
from letsbet.crash.domain import (
    CashoutKind,
    Exposure,
    Flight,
    InvalidAutoCashout,
    Riding,
    StakeAboveMaximum,
    StakeBelowMinimum,
    cap_multiplier,
    cashout_at,
    check_stake,
    due_cashouts,
    elapsed_ms,
    next_due_ms,
    parse_multiplier,
    player_alias,
)


@pytest.mark.parametrize(
    ("text", "hundredths"),
    [("1.01", 101), ("2", 200), ("2.5", 250), ("2.50", 250), ("1000000.00", 100_000_000)],
)
def test_auto_cashout_parses_to_hundredths(text: str, hundredths: int) -> None:
    assert parse_multiplier(text) == hundredths


@pytest.mark.parametrize(
    "text", ["1.00", "1", "0.50", "2.001", "abc", "-2", "1e3", "", " 2", "1000000.01", "٢"]
)
def test_auto_cashout_refuses_bad_values(text: str) -> None:
    with pytest.raises(InvalidAutoCashout):
        parse_multiplier(text)


def test_stake_limits() -> None:
    shown = {"minimum": "1.00 KES", "maximum": "50.00 KES"}
    check_stake(100, minimum=100, maximum=5000, shown=shown)
    with pytest.raises(StakeBelowMinimum, match=r"1\.00 KES"):
        check_stake(99, minimum=100, maximum=5000, shown=shown)
    with pytest.raises(StakeAboveMaximum):
        check_stake(5001, minimum=100, maximum=5000, shown=shown)


def test_elapsed_and_alias() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    assert elapsed_ms(start, start + timedelta(milliseconds=1234, microseconds=999)) == 1234
    assert elapsed_ms(start, start - timedelta(seconds=1)) == 0  # clock skew: not negative
    user = uuid.UUID(int=7)
    assert player_alias(user) == player_alias(user) and player_alias(user).startswith("P")
    assert str(user) not in player_alias(user)


# -- cash-out decisions ----------------------------------------------------------------------------
FLIGHT = Flight(crash_point=250)  # crashes at 2.50x, ms 15272


def test_manual_cashout_pays_the_multiplier_at_receipt() -> None:
    assert cashout_at(1000, auto=None, flight=FLIGHT) == (106, CashoutKind.MANUAL)
    assert cashout_at(FLIGHT.crash_ms - 1, auto=None, flight=FLIGHT) == (249, CashoutKind.MANUAL)


def test_cashout_at_or_after_the_crash_is_too_late() -> None:
    assert FLIGHT.crash_ms == time_to_reach(250) == 15272
    assert cashout_at(FLIGHT.crash_ms, auto=None, flight=FLIGHT) is None
    assert cashout_at(10**6, auto=300, flight=FLIGHT) is None  # its auto target was never reached


def test_a_passed_auto_target_pays_the_target_whoever_processes_it() -> None:
    assert cashout_at(1000, auto=200, flight=FLIGHT) == (106, CashoutKind.MANUAL)
    late = time_to_reach(220)
    assert cashout_at(late, auto=200, flight=FLIGHT) == (200, CashoutKind.AUTO)
    # ...even after the crash: 2.00 was reached before 2.50.
    assert cashout_at(10**6, auto=200, flight=FLIGHT) == (200, CashoutKind.AUTO)
    # A target equal to the crash point wins (bustabit: cash-outs at the bust multiplier count).
    assert cashout_at(10**6, auto=250, flight=FLIGHT) == (250, CashoutKind.AUTO)


def test_the_cap_force_cashes_below_auto_targets() -> None:
    capped = Flight(crash_point=500, cap=180)
    assert cashout_at(time_to_reach(190), auto=300, flight=capped) == (180, CashoutKind.CAP)
    assert cashout_at(time_to_reach(190), auto=150, flight=capped) == (150, CashoutKind.AUTO)
    # A cap above the crash point never fires: the round ends first.
    assert cashout_at(10**6, auto=None, flight=Flight(crash_point=150, cap=180)) is None
    # Nor does anything in a round that crashes at 1.00x, even a cap of 1.00x.
    assert cashout_at(0, auto=101, flight=Flight(crash_point=100, cap=100)) is None


def test_due_cashouts_run_in_ascending_target_order() -> None:
    bets = [
        Riding("a", 300),
        Riding("b", 120),
        Riding("c", None),
        Riding("d", 250),
        Riding("e", 260),
    ]
    due = due_cashouts(bets, time_to_reach(255), FLIGHT)
    assert [(bet.key, m) for bet, m, _ in due] == [("b", 120), ("d", 250)]  # e: above 2.50
    assert due_cashouts(bets, 0, FLIGHT) == []
    assert next_due_ms(bets, 0, FLIGHT) == time_to_reach(120)
    assert next_due_ms(bets, time_to_reach(120), FLIGHT) == time_to_reach(250)
    assert next_due_ms([Riding("c", None)], 0, FLIGHT) == FLIGHT.crash_ms


# -- the max-profit cap ----------------------------------------------------------------------------
def test_cap_examples() -> None:
    caps = {"KES": 1_000}
    # One 10.00 stake riding: profit 10.00 x (m - 1) reaches 10.00 at 2.00x.
    assert cap_multiplier([Exposure("KES", 1_000)], caps) == 200
    # Two riding stakes of 5.00 and 15.00: 20.00 x (m - 1) <= 10.00 -> 1.50x.
    assert cap_multiplier([Exposure("KES", 500), Exposure("KES", 1_500)], caps) == 150
    # An auto-cash-out at 1.20 fixes 3.00 of profit; the other 10.00 may then make 7.00: 1.70x.
    bets = [Exposure("KES", 1_500, auto=120), Exposure("KES", 1_000)]
    assert cap_multiplier(bets, caps) == 170
    # Everyone leaves by auto-cash-out below the cap: it is never reached.
    assert cap_multiplier([Exposure("KES", 1_000, auto=150)], caps) is None
    # Profit already paid counts.
    assert cap_multiplier([Exposure("KES", 1_000, settled_profit=500)], caps) is None
    assert (
        cap_multiplier([Exposure("KES", 1_000, settled_profit=500), Exposure("KES", 500)], caps)
        == 200
    )
    # Each currency against its own cap; the lowest multiplier wins.
    mixed = [Exposure("KES", 1_000), Exposure("NGN", 1_000)]
    assert cap_multiplier(mixed, {"KES": 1_000, "NGN": 500}) == 150
    assert cap_multiplier([], caps) is None


def _estimate(
    bets: list[Exposure], m: int, fixed_upto: int
) -> Fraction:  # the cap's model of liability at m
    total = Fraction(0)
    for b in bets:
        if b.settled_profit is not None:
            total += b.settled_profit
        elif b.auto is not None and b.auto <= fixed_upto:
            total += payout(b.amount, b.auto) - b.amount
        else:
            total += Fraction(b.amount * m, 100) - b.amount
    return total


def _paid(bets: list[Exposure], m: int) -> int:  # what forcing everyone out at m really pays
    total = 0
    for b in bets:
        if b.settled_profit is not None:
            total += b.settled_profit
        else:
            at = m if b.auto is None else min(m, b.auto)
            total += payout(b.amount, at) - b.amount
    return total


riding = st.builds(
    Exposure,
    currency=st.just("KES"),
    amount=st.integers(min_value=1, max_value=10**7),
    auto=st.one_of(st.none(), st.integers(min_value=101, max_value=5_000)),
)


@given(st.lists(riding, min_size=1, max_size=30), st.integers(min_value=0, max_value=10**8))
def test_cap_is_the_highest_multiplier_within_the_cap(bets: list[Exposure], cap: int) -> None:
    found = cap_multiplier(bets, {"KES": cap})
    if found is None:
        assert all(b.auto is not None for b in bets)
        assert _paid(bets, 10**9) <= cap
        return
    assert found >= 100
    assert _paid(bets, found) <= _estimate(bets, found, found) <= cap
    assert _estimate(bets, found + 1, found) > cap


@given(
    st.lists(riding, min_size=2, max_size=20),
    st.integers(min_value=1, max_value=10**7),
    st.data(),
)
def test_cashouts_only_raise_the_cap(bets: list[Exposure], cap: int, data: st.DataObject) -> None:
    before = cap_multiplier(bets, {"KES": cap})
    assume(before is not None and before > 101)
    i = data.draw(st.integers(min_value=0, max_value=len(bets) - 1))
    assume(bets[i].auto is None or bets[i].auto > 101)
    top = before if bets[i].auto is None else min(before, bets[i].auto - 1)
    at = data.draw(st.integers(min_value=100, max_value=top))
    cashed = Exposure(
        "KES", bets[i].amount, settled_profit=payout(bets[i].amount, at) - bets[i].amount
    )
    after = cap_multiplier([*bets[:i], cashed, *bets[i + 1 :]], {"KES": cap})
    assert after is None or after >= before
