"""Basketball: the points model, its prices and margins, the game clock and play. Pure."""

from __future__ import annotations

import math
import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from letsbet.sportsbook.markets import (
    MAX_ODDS_MILLI,
    MIN_ODDS_MILLI,
    OUTCOME_KEYS,
    InvalidMarket,
    MarketType,
    settle,
)
from letsbet.sportsbook.odds.basketball import (
    BREAK_MINUTES,
    OVERTIME_MINUTES,
    BasketballModel,
    Clock,
    advance,
    clock_at,
    margin_pmf,
    market_probabilities,
    model_at,
    pre_match_lines,
    price_market,
    total_pmf,
)
from letsbet.sportsbook.odds.pricing import MarginMethod, overround

M = MarketType
METHODS: list[MarginMethod] = ["proportional", "power"]
FIBA = BasketballModel(84.0, 78.0)

rates = st.floats(min_value=60, max_value=125)
models = st.builds(BasketballModel, rates, rates, st.sampled_from([40, 48]))
# Sides at most 30 points apart: lines stay well inside the +-60 a spread may take.
close_models = st.builds(
    lambda home, gap, minutes: BasketballModel(home, home + gap, minutes),
    rates,
    st.floats(min_value=-30, max_value=30),
    st.sampled_from([40, 48]),
)
margins = st.floats(min_value=0.0, max_value=0.2)


def markets_of(model: BasketballModel) -> list[tuple[MarketType, int | None]]:
    spread, total = pre_match_lines(model)
    return [(M.MONEYLINE, None), (M.ASIAN_HANDICAP, spread), (M.OVER_UNDER, total)]


def moments(pmf: dict[int, float]) -> tuple[float, float]:
    mean = sum(k * p for k, p in pmf.items())
    return mean, math.sqrt(sum((k - mean) ** 2 * p for k, p in pmf.items()))


class Script(random.Random):
    """gauss() gives the values in turn (points in a stretch of play), then 0."""

    def __init__(self, values: list[float]) -> None:
        super().__init__(0)
        self.values = values

    def gauss(self, mu: float = 0.0, sigma: float = 1.0) -> float:
        return self.values.pop(0) if self.values else 0.0


# -- the model --------------------------------------------------------------------------------
@given(models)
def test_distributions_sum_to_one_and_a_game_never_ends_level(model: BasketballModel) -> None:
    margin, total = margin_pmf(model), total_pmf(model)
    assert math.isclose(sum(margin.values()), 1.0, abs_tol=1e-9)
    assert math.isclose(sum(total.values()), 1.0, abs_tol=1e-9)
    assert 0 not in margin
    assert all(p >= 0 for p in [*margin.values(), *total.values()])


def test_realistic_points() -> None:
    # FIBA, 84 v 78 expected: margin about +6 with sd ~11, total ~163 (a little overtime) ~17.
    margin_mean, margin_sd = moments(margin_pmf(FIBA))
    total_mean, total_sd = moments(total_pmf(FIBA))
    assert margin_mean == pytest.approx(6, abs=0.5) and 9 < margin_sd < 14
    assert 162 < total_mean < 164 and 14 < total_sd < 21
    nba = BasketballModel(112.0, 108.0, minutes=48)
    assert 12 < moments(margin_pmf(nba))[1] < 15 and 18 < moments(total_pmf(nba))[1] < 24


@pytest.mark.parametrize(
    "kwargs",
    [
        {"home_rate": 0},
        {"away_rate": 250},
        {"minutes": 36},
        {"minutes_left": -1},
        {"minutes_left": 41},
        {"home_points": -2},
        {"away_points": 1.5},
    ],
)
def test_model_is_checked(kwargs: dict[str, Any]) -> None:
    arguments: dict[str, Any] = {"home_rate": 80.0, "away_rate": 80.0, **kwargs}
    with pytest.raises(ValueError):
        BasketballModel(**arguments)


def test_a_level_game_at_the_buzzer_goes_to_overtime() -> None:
    buzzer = BasketballModel(84.0, 78.0, minutes_left=0, home_points=80, away_points=80)
    margin = margin_pmf(buzzer)
    assert 0 not in margin and max(abs(m) for m in margin if margin[m] > 1e-6) < 25
    # Overtime is five minutes of the better side's scoring: a small edge, more points.
    assert 0.5 < sum(p for m, p in margin.items() if m > 0) < 0.65
    assert moments(total_pmf(buzzer))[0] == pytest.approx(160 + 162 * OVERTIME_MINUTES / 40, abs=1)
    decided = BasketballModel(84.0, 78.0, minutes_left=0, home_points=80, away_points=79)
    assert margin_pmf(decided) == {1: 1.0} and total_pmf(decided) == {159: 1.0}


# -- prices -----------------------------------------------------------------------------------
@given(models, margins, st.sampled_from(METHODS))
@settings(deadline=None)  # fresh distributions: a few ms, more on a busy machine
def test_prices_carry_the_margin_in_range(
    model: BasketballModel, margin: float, method: MarginMethod
) -> None:
    for market_type, line in markets_of(model):
        prices = price_market(model, market_type, line, margin, method)
        assert tuple(prices) == OUTCOME_KEYS[market_type]
        odds = list(prices.values())
        assert all(MIN_ODDS_MILLI <= o <= MAX_ODDS_MILLI for o in odds)
        if all(MIN_ODDS_MILLI < o < MAX_ODDS_MILLI for o in odds):
            assert abs(float(overround(odds)) - margin) <= 2e-3


@given(close_models)
@settings(deadline=None)
def test_pre_match_lines_are_half_lines_near_even(model: BasketballModel) -> None:
    spread, total = pre_match_lines(model)
    assert abs(spread) % 100 == 50 and total % 100 == 50
    for market_type, line in markets_of(model)[1:]:
        probabilities = market_probabilities(model, market_type, line)
        assert math.isclose(sum(probabilities.values()), 1.0)
        assert all(0.4 < p < 0.6 for p in probabilities.values())


@given(
    st.integers(min_value=60, max_value=130),
    st.integers(min_value=60, max_value=130),
    st.sampled_from([(M.MONEYLINE, None), (M.ASIAN_HANDICAP, -350), (M.OVER_UNDER, 16050)]),
)
def test_probabilities_agree_with_settlement_at_the_end(
    home: int, away: int, market: tuple[MarketType, int | None]
) -> None:
    if home == away:
        return  # not an end: overtime follows
    market_type, line = market
    final = BasketballModel(80.0, 80.0, minutes_left=0, home_points=home, away_points=away)
    probabilities = market_probabilities(final, market_type, line)
    expected = settle(market_type, line, home, away)
    assert probabilities == {key: 1.0 if r.won else 0.0 for key, r in expected.items()}


def test_prices_move_with_the_score_and_the_clock() -> None:
    pre = price_market(FIBA, M.MONEYLINE, None, 0.05)
    level = model_at(FIBA, Clock(period=3, played=5, home_points=55, away_points=55))
    ahead = model_at(FIBA, Clock(period=3, played=5, home_points=65, away_points=55))
    late = model_at(FIBA, Clock(period=4, played=9, home_points=65, away_points=55))
    home = [price_market(m, M.MONEYLINE, None, 0.05)["home"] for m in (level, ahead, late)]
    assert pre["home"] < home[0] and home[0] > home[1] > home[2] == MIN_ODDS_MILLI
    total = pre_match_lines(FIBA)[1]
    # 120 points with 15 minutes left: well on course for over 162.5.
    assert market_probabilities(ahead, M.OVER_UNDER, total)["over"] > 0.8


def test_lines_stay_within_what_markets_take() -> None:
    lopsided = BasketballModel(60.0, 190.0)
    spread, total = pre_match_lines(lopsided)
    assert spread == 5950 and total < 40000
    assert price_market(lopsided, M.ASIAN_HANDICAP, spread, 0.05)["away"] < 2000


def test_basketball_offers_its_three_markets_only() -> None:
    with pytest.raises(InvalidMarket):
        price_market(FIBA, M.MATCH_RESULT, None, 0.05)
    with pytest.raises(InvalidMarket):
        price_market(FIBA, M.ASIAN_HANDICAP, 30, 0.05)


# -- the clock and play -----------------------------------------------------------------------
def test_clock_after_a_restart() -> None:
    quarter = 10 + BREAK_MINUTES
    assert clock_at(FIBA, 0, 0, 0) == Clock(1, 0, 0, 0)
    assert clock_at(FIBA, 7, 20, 18) == Clock(1, 7, 20, 18)
    assert clock_at(FIBA, 11, 20, 18) == Clock(1, 10, 20, 18)  # the break after Q1
    assert clock_at(FIBA, 3 * quarter + 4, 60, 58) == Clock(4, 4, 60, 58)
    assert clock_at(FIBA, 200, 80, 78) == Clock(4, 10, 80, 78)  # over: a winner
    assert clock_at(FIBA, 4 * quarter + 3, 80, 80) == Clock(5, 3, 80, 80)  # level: overtime


def test_a_game_is_played_by_quarters_to_a_result() -> None:
    plays = advance(FIBA, Clock(), 500, random.Random(7))
    final = plays[-1]
    assert final.ended and final.state.home_points != final.state.away_points
    assert final.state.period >= 4
    assert 100 < final.state.home_points + final.state.away_points < 260
    breaks = [p for p in plays if p.stop]
    assert [p.state.period for p in breaks][:3] == [1, 2, 3]
    assert all(p.status == "suspended" and p.state.played == 10 for p in breaks)
    restarts = [p for p in plays if p.status == "active"]
    assert [p.state.period for p in restarts][:3] == [2, 3, 4]
    scores = [(p.state.home_points, p.state.away_points) for p in plays]
    assert scores == sorted(scores, key=sum) and not any(p.ended for p in plays[:-1])


def test_play_goes_minute_by_minute_and_waits_in_breaks() -> None:
    rng = Script([3, 1])
    plays = advance(FIBA, Clock(), 1, rng)
    assert [(p.state, p.stop, p.status) for p in plays] == [(Clock(1, 1, 3, 1), False, None)]
    clock = Clock(1, 9, 20, 18)
    plays = advance(FIBA, clock, 11, Script([]))  # Q1 ends at 10, Q2 starts at 12
    assert [(p.state, p.stop, p.status) for p in plays] == [
        (Clock(1, 10, 20, 18), True, "suspended")
    ]
    assert advance(FIBA, plays[-1].state, 11, Script([])) == []
    plays = advance(FIBA, plays[-1].state, 12, Script([]))
    assert [(p.state, p.status) for p in plays] == [(Clock(2, 0, 20, 18), "active")]


def test_level_after_regulation_means_overtime_until_decided() -> None:
    quarter = 10 + BREAK_MINUTES
    end = 4 * quarter - BREAK_MINUTES  # the fourth quarter's buzzer
    level = Clock(4, 9, 78, 78)
    plays = advance(FIBA, level, end, Script([0, 0]))
    assert [(p.state, p.ended) for p in plays] == [(Clock(4, 10, 78, 78), False)]
    first_ot = end + BREAK_MINUTES
    plays = advance(FIBA, plays[-1].state, first_ot + OVERTIME_MINUTES, Script([8, 8]))
    assert plays[0].state == Clock(5, 0, 78, 78) and plays[0].status == "active"
    assert plays[-1].state == Clock(5, 5, 86, 86) and not plays[-1].ended  # level again
    second_ot = first_ot + OVERTIME_MINUTES + BREAK_MINUTES
    plays = advance(FIBA, plays[-1].state, second_ot + 5, Script([7, 4]))
    assert plays[-1].ended and plays[-1].state == Clock(6, 5, 93, 90)
