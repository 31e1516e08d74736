"""Empirical return to player over 1,000,000 rounds of a real hash chain: within 0.5 percentage
points of (100 - edge)% for several auto-cash-out targets.

With edge 1 a target t wins when the crash point is at least t, which happens with probability
0.99 / t, so every target returns 99%. The chain's seed is fixed, so the test is deterministic;
at 1,000,000 rounds the standard error of the return is 0.1-0.2 points for these targets.
"""

from __future__ import annotations

import hashlib
from bisect import bisect_left

import pytest

from letsbet.crash.curve import payout
from letsbet.crash.fairness import CrashPoints, generate_chain, iter_games

ROUNDS = 1_000_000
STAKE = 100_00
SEED = hashlib.sha256(b"letsbet rtp test chain").digest()


@pytest.fixture(scope="module")
def crash_points() -> list[int]:
    chain = generate_chain(SEED, ROUNDS, every=ROUNDS)
    points = CrashPoints("letsbet-rtp-salt", 1.0)
    return sorted(points.of(h) for h in iter_games(chain.checkpoints[ROUNDS], ROUNDS))


@pytest.mark.parametrize("target", [101, 150, 200, 300, 500])
def test_return_is_99_percent_for_every_target(crash_points: list[int], target: int) -> None:
    wins = len(crash_points) - bisect_left(crash_points, target)  # crash point >= target
    returned = wins * payout(STAKE, target)
    rtp = returned / (ROUNDS * STAKE)
    assert abs(rtp - 0.99) <= 0.005, f"target {target / 100:.2f}x returned {rtp:.4%}"


def test_the_distribution_of_crash_points(crash_points: list[int]) -> None:
    # A crash at 1.00x (every bet loses) has probability 1 - 0.99 / 1.01 = 1.98%.
    instant = bisect_left(crash_points, 101)
    assert abs(instant / ROUNDS - (1 - 0.99 / 1.01)) < 0.0007
    median = crash_points[ROUNDS // 2]
    assert 196 <= median <= 200  # P(crash >= x) = 0.99 / x: the median is 1.98x
