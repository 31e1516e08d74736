"""The flight curve m(t) = floor(100 e^(0.00006 t)) / 100, its inverse, and payout rounding."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from letsbet.crash.curve import multiplier_at, payout, time_to_reach


@pytest.mark.parametrize(
    ("ms", "hundredths"),
    [
        (0, 100),
        (-5, 100),
        (1, 100),  # 100 e^0.00006 = 100.006
        (165, 100),  # 100 e^0.0099 = 100.9949
        (166, 101),  # 100 e^0.00996 = 101.0010
        (971, 105),  # 100 e^0.05826 = 105.9991
        (972, 106),  # 100 e^0.05832 = 106.0054
        (1000, 106),  # 100 e^0.06 = 106.1837
        (11552, 199),  # 100 e^0.69312 = 199.9946
        (11553, 200),  # 100 e^0.69318 = 200.0066
        (60_000, 3659),  # 100 e^3.6 = 3659.8234
    ],
)
def test_multiplier_hand_computed(ms: int, hundredths: int) -> None:
    assert multiplier_at(ms) == hundredths


@pytest.mark.parametrize(("hundredths", "ms"), [(100, 0), (101, 166), (106, 972), (200, 11553)])
def test_time_to_reach_hand_computed(hundredths: int, ms: int) -> None:
    # ln(1.01) / 0.00006 = 165.84, ln(1.06) / 0.00006 = 971.15, ln(2) / 0.00006 = 11552.45:
    # the first whole millisecond after each.
    assert time_to_reach(hundredths) == ms


@given(st.integers(min_value=100, max_value=10**9))
def test_time_to_reach_is_the_first_millisecond_showing_the_multiplier(hundredths: int) -> None:
    t = time_to_reach(hundredths)
    assert multiplier_at(t) >= hundredths
    assert t == 0 or multiplier_at(t - 1) < hundredths
    assert abs(t - math.log(hundredths / 100) / 0.00006) < 2


@given(st.integers(min_value=0, max_value=400_000), st.integers(min_value=0, max_value=2000))
def test_curve_never_goes_down(t: int, dt: int) -> None:
    assert multiplier_at(t + dt) >= multiplier_at(t)


@given(st.integers(min_value=1, max_value=10**12), st.integers(min_value=100, max_value=10**8))
def test_payout_is_stake_times_multiplier_rounded_down(stake: int, hundredths: int) -> None:
    paid = payout(stake, hundredths)
    assert paid * 100 <= stake * hundredths < (paid + 1) * 100
    assert paid >= stake


def test_payout_examples_and_refusals() -> None:
    assert payout(10_000, 126) == 12_600  # 100.00 at 1.26x -> 126.00
    assert payout(333, 150) == 499  # 3.33 at 1.50x = 4.995 -> 4.99, the house keeps the half
    with pytest.raises(ValueError):
        payout(100, 99)
