"""Tennis: points on serve to games, tiebreaks, sets and matches; prices, margins and play. Pure."""

from __future__ import annotations

import itertools
import math
import random
from functools import cache

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
from letsbet.sportsbook.odds.pricing import MarginMethod, overround
from letsbet.sportsbook.odds.tennis import (
    MARKETS,
    Match,
    TennisModel,
    advance,
    final_distribution,
    hold,
    market_probabilities,
    play_game,
    pre_match_lines,
    price_market,
    set_distribution,
    tiebreak,
)

M = MarketType
METHODS: list[MarginMethod] = ["proportional", "power"]
TOUR = TennisModel(0.66, 0.62)

serve = st.floats(min_value=0.45, max_value=0.8)
models = st.builds(TennisModel, serve, serve)
margins = st.floats(min_value=0.0, max_value=0.2)


class Script(random.Random):
    """random() gives the values in turn, then 0.0 (the server holds) for ever."""

    def __init__(self, values: list[float]) -> None:
        super().__init__(0)
        self.values = values

    def random(self) -> float:
        return self.values.pop(0) if self.values else 0.0


# -- games, tiebreaks, sets -------------------------------------------------------------------
def _game_by_points(p: float) -> float:
    """P(the server wins a game), point by point; deuce (3-3) solved in closed form."""

    @cache
    def win(i: int, j: int) -> float:
        if i >= 4 and i - j >= 2:
            return 1.0
        if j >= 4 and j - i >= 2:
            return 0.0
        if i == j >= 3:
            return p * p / (p * p + (1 - p) * (1 - p))
        return p * win(i + 1, j) + (1 - p) * win(i, j + 1)

    return win(0, 0)


@given(st.floats(min_value=0.05, max_value=0.95))
def test_hold_is_the_game_point_by_point(p: float) -> None:
    assert hold(p) == pytest.approx(_game_by_points(p), abs=1e-12)


def test_hold_examples() -> None:
    assert hold(0.5) == pytest.approx(0.5)
    assert hold(0.6) == pytest.approx(0.7357, abs=1e-4)  # Barnett & Clarke's tables
    assert hold(0.65) > hold(0.6) > hold(0.55)


@given(serve, serve)
def test_who_serves_first_does_not_change_a_tiebreak_or_a_set(a: float, b: float) -> None:
    # A property of the independent-points model (Newton & Keller, 2005): a check of the serve
    # order in the tiebreak and of the alternation of games.
    assert tiebreak(a, b) == pytest.approx(1 - tiebreak(b, a), abs=1e-9)

    def home_wins(serving: bool) -> float:
        return sum(p for (h, g), p in set_distribution(a, b, 0, 0, serving) if h > g)

    assert home_wins(True) == pytest.approx(home_wins(False), abs=1e-9)


@given(serve, serve, st.integers(0, 6), st.integers(0, 6), st.booleans())
def test_set_scores_are_tennis_scores(a: float, b: float, h: int, g: int, serving: bool) -> None:
    dist = dict(set_distribution(a, b, h, g, serving))
    assert math.isclose(sum(dist.values()), 1.0)
    for home, away in dist:
        assert home >= h and away >= g
        won, lost = max(home, away), min(home, away)
        assert (won == 6 and lost <= 4) or (won == 7 and lost in (5, 6))


def test_tiebreak_is_even_between_equals() -> None:
    assert tiebreak(0.62, 0.62) == pytest.approx(0.5)
    assert tiebreak(0.7, 0.6) > 0.5


# -- matches and prices -----------------------------------------------------------------------
@given(models, st.sampled_from([3, 5]))
@settings(
    max_examples=30, deadline=None
)  # a five-set distribution takes a few ms, or more on a busy box
def test_final_distribution_sums_to_one_with_real_scores(model: TennisModel, best_of: int) -> None:
    model = TennisModel(model.home_serve, model.away_serve, best_of)
    dist = final_distribution(model, Match())
    assert math.isclose(sum(dist.values()), 1.0)
    for home_sets, away_sets, home_games, away_games in dist:
        assert max(home_sets, away_sets) == model.sets_to_win
        assert min(home_sets, away_sets) < model.sets_to_win
        sets = home_sets + away_sets
        assert 6 * sets <= home_games + away_games <= 13 * sets


@given(models, margins, st.sampled_from(METHODS))
@settings(deadline=None)
def test_prices_carry_the_margin_in_range(
    model: TennisModel, margin: float, method: MarginMethod
) -> None:
    lines = pre_match_lines(model)
    for market_type in MARKETS:
        line = lines.get(market_type)
        probabilities = market_probabilities(model, Match(), market_type, line)
        assert math.isclose(sum(probabilities.values()), 1.0)
        prices = price_market(model, Match(), market_type, line, margin, method)
        assert tuple(prices) == OUTCOME_KEYS[market_type]
        odds = list(prices.values())
        assert all(MIN_ODDS_MILLI <= o <= MAX_ODDS_MILLI for o in odds)
        if all(MIN_ODDS_MILLI < o < MAX_ODDS_MILLI for o in odds):
            assert abs(float(overround(odds)) - margin) <= 2e-3


def test_pre_match_lines() -> None:
    lines = pre_match_lines(TOUR)
    assert lines[M.ASIAN_HANDICAP] == -150  # the favourite gives a set and a half
    assert lines[M.TOTAL_GAMES] % 100 == 50 and 2050 <= lines[M.TOTAL_GAMES] <= 2850
    assert lines[M.GAME_HANDICAP] % 100 == -50 % 100
    flipped = pre_match_lines(TennisModel(0.62, 0.66))
    assert flipped[M.ASIAN_HANDICAP] == 150
    assert flipped[M.TOTAL_GAMES] == lines[M.TOTAL_GAMES]
    total = market_probabilities(TOUR, Match(), M.TOTAL_GAMES, lines[M.TOTAL_GAMES])
    assert all(0.4 < p < 0.6 for p in total.values())


def test_the_model_agrees_with_play() -> None:
    # 4,000 simulated matches against the exact distribution (about 4 standard errors).
    rng, wins, games, n = random.Random(11), 0, 0, 4000
    for _ in range(n):
        match = advance(TOUR, Match(), 1000, rng)[-1].state
        wins += match.home_sets > match.away_sets
        games += match.home_total + match.away_total
    dist = final_distribution(TOUR, Match())
    p_home = sum(p for (h, a, _, _), p in dist.items() if h > a)
    mean_games = sum((hg + ag) * p for (_, _, hg, ag), p in dist.items())
    assert wins / n == pytest.approx(p_home, abs=4 * math.sqrt(0.25 / n))
    assert games / n == pytest.approx(mean_games, abs=0.4)


@given(
    st.sampled_from([(2, 0), (2, 1), (0, 2), (1, 2)]),
    st.integers(12, 39),
    st.integers(12, 39),
    st.sampled_from(MARKETS),
    st.sampled_from([-350, -150, 150, 2250, 2650]),
)
def test_probabilities_agree_with_settlement_at_match_point(
    sets: tuple[int, int], home_games: int, away_games: int, market_type: MarketType, line: int
) -> None:
    if market_type is M.MONEYLINE:
        line_or_none: int | None = None
    elif market_type is M.TOTAL_GAMES:
        line_or_none = abs(line)
    else:
        line_or_none = line
    over = Match(*sets, 0, 0, home_games, away_games)
    probabilities = market_probabilities(TOUR, over, market_type, line_or_none)
    counts = (home_games, away_games) if market_type in (M.TOTAL_GAMES, M.GAME_HANDICAP) else sets
    expected = settle(market_type, line_or_none, *counts)
    assert probabilities == {key: 1.0 if r.won else 0.0 for key, r in expected.items()}


def test_prices_move_with_the_score() -> None:
    pre = market_probabilities(TOUR, Match(), M.MONEYLINE, None)["home"]
    set_up = Match(1, 0, 0, 0, 6, 3, home_serving=False, played=9)
    set_down = Match(0, 1, 0, 0, 3, 6, home_serving=False, played=9)
    broken = Match(1, 0, 4, 2, 10, 5, home_serving=True, played=15)
    up, down = (
        market_probabilities(TOUR, m, M.MONEYLINE, None)["home"] for m in (set_up, set_down)
    )
    assert down < pre < up < market_probabilities(TOUR, broken, M.MONEYLINE, None)["home"]
    # 9 games in and a set at least to come: 15 games or more, for sure.
    assert market_probabilities(TOUR, set_up, M.TOTAL_GAMES, 1450)["over"] == pytest.approx(1.0)
    assert market_probabilities(TOUR, set_up, M.TOTAL_GAMES, 1550)["over"] < 1.0


def test_tennis_offers_its_four_markets_only() -> None:
    with pytest.raises(InvalidMarket):
        price_market(TOUR, Match(), M.OVER_UNDER, 2250, 0.05)
    with pytest.raises(InvalidMarket):
        price_market(TOUR, Match(), M.TOTAL_GAMES, None, 0.05)


# -- play -------------------------------------------------------------------------------------
def test_a_break_of_serve_and_a_set_stop_betting() -> None:
    # Home serves first; holds go to the server (0.0 draws); 0.999 breaks.
    plays = advance(TOUR, Match(), 2, Script([0.0, 0.999]))
    assert [(p.stop, p.status) for p in plays] == [(False, None), (True, "active")]
    assert plays[-1].state == Match(0, 0, 2, 0, 2, 0, home_serving=True, played=2)

    five_one = Match(0, 0, 5, 1, 5, 1, home_serving=True, played=6)
    (set_won,) = advance(TOUR, five_one, 7, Script([0.0]))
    assert (set_won.stop, set_won.status, set_won.ended) == (True, "active", False)
    # 6-1: seven games, so the away side (receiver of the last one) serves first in set two.
    assert set_won.state == Match(1, 0, 0, 0, 6, 1, home_serving=False, played=7)
    assert advance(TOUR, set_won.state, 7, Script([])) == []  # nothing more is due


def test_a_tiebreak_counts_as_one_game_and_the_match_ends_at_two_sets() -> None:
    six_all = Match(1, 0, 6, 6, 12, 9, home_serving=False, played=21)
    after, broke = play_game(TOUR, six_all, Script([0.999]))  # the away server loses it
    assert not broke
    assert after.over(TOUR) and (after.home_sets, after.home_total, after.away_total) == (2, 13, 9)
    (last,) = advance(TOUR, six_all, 22, Script([0.999]))
    assert last.ended and last.state == after
    assert advance(TOUR, after, 100, Script([])) == []


def test_a_whole_match_by_the_rules() -> None:
    plays = advance(TOUR, Match(), 1000, random.Random(3))
    assert plays[-1].ended and not any(p.ended for p in plays[:-1])
    final = plays[-1].state
    assert max(final.home_sets, final.away_sets) == 2 and final.played == len(plays)
    assert final.home_total + final.away_total == final.played
    servers = [p.state.home_serving for p in plays]
    assert all(a != b for a, b in itertools.pairwise(servers))  # games alternate
