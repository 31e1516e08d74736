"""Pricing: margins, fair probabilities, the Poisson goals model, market prices, live moves."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from letsbet.sportsbook.markets import (
    HALF_LOSS,
    HALF_WIN,
    LOSS,
    OUTCOME_KEYS,
    PUSH,
    WIN,
    InvalidMarket,
    MarketType,
    settle,
)
from letsbet.sportsbook.odds.pricing import (
    MAX_ODDS_MILLI,
    MIN_ODDS_MILLI,
    MarginMethod,
    MatchModel,
    apply_margin,
    balanced_line,
    book_probabilities,
    expected_return,
    fair_odds,
    fair_probabilities,
    live_model,
    live_score_matrix,
    market_probabilities,
    overround,
    price_book,
    price_market,
    results_distribution,
    score_matrix,
    settlement_distribution,
)

M = MarketType
METHODS: list[MarginMethod] = ["proportional", "power"]
MARKETS: list[tuple[MarketType, int | None]] = [
    (M.MATCH_RESULT, None),
    (M.DOUBLE_CHANCE, None),
    (M.BTTS, None),
    *((M.OVER_UNDER, line) for line in range(50, 451, 25)),
    *((M.HANDICAP, line) for line in (-200, -100, 0, 100)),
    *((M.ASIAN_HANDICAP, line) for line in range(-200, 201, 25)),
]
TWO_WAY_LINES: list[tuple[MarketType, int]] = [
    (t, line) for t, line in MARKETS if t in (M.ASIAN_HANDICAP, M.OVER_UNDER) and line is not None
]
TYPICAL = MatchModel(1.6, 1.1)

rates = st.floats(min_value=0.2, max_value=3.5)
models = st.builds(MatchModel, rates, rates)
margins = st.floats(min_value=0.0, max_value=0.2)
markets = st.sampled_from(MARKETS)
# Books of 2..4 outcomes, none rarer than ~0.3%, so no price reaches the 1000.00 clamp.
books = st.lists(st.floats(min_value=1, max_value=100), min_size=2, max_size=4).map(
    lambda w: [x / sum(w) for x in w]
)


def inside(odds: list[int]) -> bool:
    return all(MIN_ODDS_MILLI < o < MAX_ODDS_MILLI for o in odds)


# -- overround --------------------------------------------------------------------------------
def test_overround_is_exact() -> None:
    assert overround([2000, 2000]) == 0
    assert overround([1900, 1900]) == Fraction(1, 19)
    assert overround([3000, 3000, 3000]) == 0
    assert overround([1001, 1_000_000]) == Fraction(1000, 1001) + Fraction(1, 1000) - 1
    assert overround([2100, 2100]) < 0  # a book under 100%


@pytest.mark.parametrize("bad", [[2000], [1000, 3000], [2000, 1_000_001], [2000, 2.5]])
def test_overround_rejects(bad: list[int]) -> None:
    with pytest.raises((ValueError, TypeError)):
        overround(bad)


# -- apply_margin -----------------------------------------------------------------------------
def test_apply_margin_examples() -> None:
    assert apply_margin([0.5, 0.5], 0.0, "proportional") == [2000, 2000]
    assert apply_margin([0.5, 0.5], 0.1, "proportional") == [1818, 1818]
    assert apply_margin([0.5, 0.5], 0.1, "power") == [1818, 1818]  # symmetric: the same
    assert apply_margin([0.25, 0.75], 0.0, "power") == [4000, 1333]
    # Slightly off books are normalised.
    assert apply_margin([0.333, 0.333, 0.333], 0.0, "proportional") == [3000, 3000, 3000]


def test_power_method_loads_the_margin_on_the_long_shot() -> None:
    book = [0.7, 0.2, 0.1]
    power = apply_margin(book, 0.08, "power")
    proportional = apply_margin(book, 0.08, "proportional")
    assert power[0] > proportional[0]  # the favourite pays more
    assert power[2] < proportional[2]  # the long shot pays less


def test_degenerate_books_are_clamped() -> None:
    for method in METHODS:
        assert apply_margin([1.0, 0.0], 0.05, method) == [MIN_ODDS_MILLI, MAX_ODDS_MILLI]
        assert apply_margin([0.0, 1.0, 0.0], 0.0, method) == [MAX_ODDS_MILLI, 1001, MAX_ODDS_MILLI]
    assert apply_margin([1e-12, 1 - 1e-12], 0.1, "proportional") == [MAX_ODDS_MILLI, 1001]
    # The power method puts the whole margin on the long shot: 10.0 on a one-in-a-trillion.
    assert apply_margin([1e-12, 1 - 1e-12], 0.1, "power") == [10_000, MIN_ODDS_MILLI]


@pytest.mark.parametrize(
    ("probabilities", "margin", "method"),
    [
        ([1.0], 0.05, "power"),
        ([0.6, 0.6], 0.05, "power"),
        ([0.5, 0.4], 0.05, "power"),
        ([1.2, -0.2], 0.05, "proportional"),
        ([math.nan, 0.5], 0.05, "power"),
        ([0.5, 0.5], -0.01, "power"),
        ([0.5, 0.5], 0.6, "proportional"),
        ([0.5, 0.5], math.inf, "proportional"),
        ([0.5, 0.5], 0.05, "shin"),
    ],
)
def test_apply_margin_rejects(probabilities: list[float], margin: float, method: str) -> None:
    with pytest.raises(ValueError):
        apply_margin(probabilities, margin, method)  # type: ignore[arg-type]


@given(books, margins, st.sampled_from(METHODS))
def test_apply_margin_achieves_the_margin(
    book: list[float], margin: float, method: MarginMethod
) -> None:
    odds = apply_margin(book, margin, method)
    assert all(MIN_ODDS_MILLI <= o <= MAX_ODDS_MILLI for o in odds)
    if inside(odds):
        assert abs(float(overround(odds)) - margin) <= 1e-3


@given(books, margins, margins, st.sampled_from(METHODS))
def test_higher_margin_never_raises_a_price(
    book: list[float], a: float, b: float, method: MarginMethod
) -> None:
    low, high = sorted((a, b))
    for cheaper, dearer in zip(
        apply_margin(book, high, method), apply_margin(book, low, method), strict=True
    ):
        assert cheaper <= dearer


@given(books, margins, st.sampled_from(METHODS))
def test_fair_probabilities_undo_the_margin(
    book: list[float], margin: float, method: MarginMethod
) -> None:
    odds = apply_margin(book, margin, method)
    recovered = fair_probabilities(odds, method)
    assert math.isclose(sum(recovered), 1.0)
    if not inside(odds):  # a favourite clamped at 1.001 lost part of the margin
        return
    for got, want in zip(recovered, book, strict=True):
        assert abs(got - want) <= 2e-3


def test_fair_probabilities_examples() -> None:
    for method in METHODS:
        assert fair_probabilities([1900, 1900], method) == pytest.approx([0.5, 0.5])
        assert fair_probabilities([2100, 2100], method) == pytest.approx([0.5, 0.5])
        assert fair_probabilities([2000, 4000, 4000], method) == pytest.approx([0.5, 0.25, 0.25])
    under = fair_probabilities([1500, 4000], "power")  # a 91.7% book
    assert sum(under) == pytest.approx(1.0)
    assert under[0] > 1000 / 1500  # margin removed "upwards" from the favourite
    with pytest.raises(ValueError):
        fair_probabilities([1900, 1900], "shin")  # type: ignore[arg-type]


# -- the goals model --------------------------------------------------------------------------
def test_score_matrix_is_independent_poisson() -> None:
    matrix = score_matrix(TYPICAL)
    assert len(matrix) == 11 and all(len(row) == 11 for row in matrix)
    assert math.isclose(sum(map(sum, matrix)), 1.0)
    for i in range(10):
        for j in range(10):
            want = (
                math.exp(-1.6) * 1.6**i / math.factorial(i) * math.exp(-1.1) * 1.1**j
            ) / math.factorial(j)
            assert math.isclose(matrix[i][j], want, rel_tol=1e-12)
    home_tail = 1 - sum(math.exp(-1.6) * 1.6**k / math.factorial(k) for k in range(10))
    assert math.isclose(sum(matrix[10]), home_tail, rel_tol=1e-9)  # "10 or more"


@given(models, st.integers(min_value=1, max_value=15))
def test_score_matrix_sums_to_one(model: MatchModel, max_goals: int) -> None:
    matrix = score_matrix(model, max_goals)
    assert len(matrix) == max_goals + 1
    assert math.isclose(sum(map(sum, matrix)), 1.0, abs_tol=1e-12)
    assert all(p >= 0 for row in matrix for p in row)


def test_live_score_matrix_shifts_by_the_score() -> None:
    model = MatchModel(0.5, 0.4, home_goals=2, away_goals=1)
    matrix = live_score_matrix(model, max_goals=6)
    remaining = score_matrix(model, max_goals=6)
    assert len(matrix) == 9 and all(len(row) == 8 for row in matrix)
    assert math.isclose(sum(map(sum, matrix)), 1.0)
    assert matrix[2][1] == remaining[0][0]
    assert matrix[3][4] == remaining[1][3]
    assert all(matrix[i][j] == 0 for i in range(9) for j in range(8) if i < 2 or j < 1)


def test_final_whistle_model_is_certain() -> None:
    matrix = live_score_matrix(MatchModel(0.0, 0.0, 1, 3), max_goals=2)
    assert matrix[1][3] == 1.0
    assert sum(map(sum, matrix)) == 1.0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"home_rate": -0.1, "away_rate": 1.0},
        {"home_rate": math.nan, "away_rate": 1.0},
        {"home_rate": 1.0, "away_rate": math.inf},
        {"home_rate": 1.0, "away_rate": 25.0},
        {"home_rate": 1.0, "away_rate": 1.0, "home_goals": -1},
        {"home_rate": 1.0, "away_rate": 1.0, "away_goals": 1.5},
    ],
)
def test_match_model_is_checked(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        MatchModel(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("max_goals", [0, 51, 2.0])
def test_score_matrix_checks_max_goals(max_goals: int) -> None:
    with pytest.raises((ValueError, TypeError)):
        score_matrix(TYPICAL, max_goals)


def test_live_model_scales_the_rates_to_the_time_left() -> None:
    assert live_model(TYPICAL, 0, 0, 0) == TYPICAL
    half_time = live_model(TYPICAL, 45, 1, 0)
    assert (half_time.home_goals, half_time.away_goals) == (1, 0)
    assert math.isclose(half_time.home_rate, 0.8) and math.isclose(half_time.away_rate, 0.55)
    assert live_model(TYPICAL, 90, 2, 2) == MatchModel(0.0, 0.0, 2, 2)
    assert live_model(TYPICAL, 94, 2, 2) == MatchModel(0.0, 0.0, 2, 2)  # stoppage time
    # Always from the pre-match model, never compounded.
    assert live_model(half_time, 45, 1, 0).home_rate < half_time.home_rate
    with pytest.raises(ValueError):
        live_model(TYPICAL, -1, 0, 0)
    with pytest.raises(ValueError):
        live_model(TYPICAL, 10, -1, 0)


# -- market probabilities ---------------------------------------------------------------------
@given(models, markets)
def test_market_probabilities_sum_to_one(
    model: MatchModel, market: tuple[MarketType, int | None]
) -> None:
    market_type, line = market
    probabilities = market_probabilities(model, market_type, line)
    assert tuple(probabilities) == OUTCOME_KEYS[market_type]
    assert all(0 <= p <= 1 + 1e-12 for p in probabilities.values())
    winners = 2 if market_type is M.DOUBLE_CHANCE else 1  # double chance: two win every time
    assert math.isclose(sum(probabilities.values()), winners, abs_tol=1e-9)


def test_match_result_probabilities_sum_the_matrix() -> None:
    matrix = score_matrix(TYPICAL)
    cells = [(i, j, p) for i, row in enumerate(matrix) for j, p in enumerate(row)]
    home = sum(p for i, j, p in cells if i > j)
    draw = sum(p for i, j, p in cells if i == j)
    probabilities = market_probabilities(TYPICAL, M.MATCH_RESULT, None)
    assert probabilities == pytest.approx({"home": home, "draw": draw, "away": 1 - home - draw})
    assert market_probabilities(TYPICAL, M.ASIAN_HANDICAP, -50)["home"] == pytest.approx(home)
    # Draw no bet: the draw is refunded, so the fair chance is P(home) / P(not a draw).
    dnb = market_probabilities(TYPICAL, M.ASIAN_HANDICAP, 0)
    assert dnb["home"] == pytest.approx(home / (1 - draw))
    btts = market_probabilities(TYPICAL, M.BTTS, None)["yes"]
    assert btts == pytest.approx((1 - math.exp(-1.6)) * (1 - math.exp(-1.1)), abs=1e-6)


@given(
    st.integers(min_value=0, max_value=6),
    st.integers(min_value=0, max_value=6),
    markets,
)
def test_probabilities_agree_with_settlement_at_the_final_whistle(
    home: int, away: int, market: tuple[MarketType, int | None]
) -> None:
    market_type, line = market
    final = settle(market_type, line, home, away)
    probabilities = market_probabilities(MatchModel(0.0, 0.0, home, away), market_type, line)
    if all(result == PUSH for result in final.values()):
        assert set(probabilities.values()) == {0.5}  # a certain push has no fair price
        return
    for key, result in final.items():
        # A half-win is the only way to win on a non-void stake: effectively certain.
        assert probabilities[key] == (1.0 if result.won else 0.0)


def test_settlement_distribution_for_a_quarter_line() -> None:
    # Certain 0-0: home -0.25 half-loses, away +0.25 half-wins.
    dist = settlement_distribution(MatchModel(0.0, 0.0), M.ASIAN_HANDICAP, -25)
    assert dist == {"home": {HALF_LOSS: 1.0}, "away": {HALF_WIN: 1.0}}
    dist = settlement_distribution(TYPICAL, M.ASIAN_HANDICAP, -75)
    assert set(dist["home"]) == {WIN, HALF_WIN, LOSS}
    assert dist["home"][HALF_WIN] == pytest.approx(dist["away"][HALF_LOSS])
    assert math.isclose(sum(dist["home"].values()), 1.0)


def test_fair_odds_solve_expected_return_of_one() -> None:
    results = {WIN: 0.3, HALF_WIN: 0.2, LOSS: 0.5}
    # V = 0.2 * 1/2 = 0.1, A = 0.3 + 0.2 * 1/2 = 0.4, o = (1 - V) / A = 2.25
    assert fair_odds(results) == pytest.approx(2.25)
    assert expected_return(results, 2250) == pytest.approx(1.0)
    assert expected_return({PUSH: 1.0}, 5000) == 1.0
    assert fair_odds({LOSS: 0.8, HALF_LOSS: 0.2}) == math.inf


@given(models, st.sampled_from(TWO_WAY_LINES))
def test_fair_prices_return_the_stake_on_average(
    model: MatchModel, market: tuple[MarketType, int]
) -> None:
    market_type, line = market
    prices = price_market(model, market_type, line, margin=0.0)
    distributions = settlement_distribution(model, market_type, line)
    for key, odds in prices.items():
        if inside([odds]) and odds < 100_000:  # not clamped, not lost in rounding
            assert expected_return(distributions[key], odds) == pytest.approx(1.0, abs=1e-3)
            assert fair_odds(distributions[key]) == pytest.approx(odds / 1000, abs=5e-4)


# -- prices -----------------------------------------------------------------------------------
@given(models, markets, margins, st.sampled_from(METHODS))
def test_price_market_achieves_the_margin(
    model: MatchModel, market: tuple[MarketType, int | None], margin: float, method: MarginMethod
) -> None:
    market_type, line = market
    prices = price_market(model, market_type, line, margin, method)
    odds = list(prices.values())
    assert tuple(prices) == OUTCOME_KEYS[market_type]
    assert all(MIN_ODDS_MILLI <= o <= MAX_ODDS_MILLI for o in odds)
    if inside(odds):
        # Double chance is priced off the margined 1X2 and its outcomes overlap: its book is
        # 2 * (1 + margin).
        target = 1 + 2 * margin if market_type is M.DOUBLE_CHANCE else margin
        assert abs(float(overround(odds)) - target) <= 2e-3


@given(models, markets, margins, margins, st.sampled_from(METHODS))
def test_higher_margin_lowers_every_price(
    model: MatchModel,
    market: tuple[MarketType, int | None],
    a: float,
    b: float,
    method: MarginMethod,
) -> None:
    market_type, line = market
    low, high = sorted((a, b))
    dear = price_market(model, market_type, line, high, method)
    cheap = price_market(model, market_type, line, low, method)
    assert all(dear[key] <= cheap[key] for key in dear)


@given(rates, rates, st.floats(min_value=0.05, max_value=2.0), st.sampled_from(METHODS))
def test_stronger_home_side_gets_shorter_odds(
    home_rate: float, away_rate: float, boost: float, method: MarginMethod
) -> None:
    weak = MatchModel(home_rate, away_rate)
    strong = MatchModel(home_rate + boost, away_rate)
    for market_type, line in ((M.MATCH_RESULT, None), (M.ASIAN_HANDICAP, -75)):
        assert (
            price_market(strong, market_type, line, 0.05, method)["home"]
            <= price_market(weak, market_type, line, 0.05, method)["home"]
        )
    one_x = price_market(strong, M.DOUBLE_CHANCE, None, 0.05, method)["1X"]
    assert one_x <= price_market(weak, M.DOUBLE_CHANCE, None, 0.05, method)["1X"]


def test_prices_for_a_typical_match() -> None:
    prices = price_market(TYPICAL, M.MATCH_RESULT, None, 0.05, "power")
    assert prices["home"] < prices["away"] < prices["draw"]
    assert abs(float(overround(list(prices.values()))) - 0.05) < 1e-3
    fair = price_market(TYPICAL, M.MATCH_RESULT, None, 0.0)
    probabilities = market_probabilities(TYPICAL, M.MATCH_RESULT, None)
    assert fair == {k: round(1000 / p) for k, p in probabilities.items()}


def test_price_market_rejects_bad_lines() -> None:
    with pytest.raises(InvalidMarket):
        price_market(TYPICAL, M.ASIAN_HANDICAP, 30, 0.05)
    with pytest.raises(InvalidMarket):
        price_market(TYPICAL, M.DOUBLE_CHANCE, 100, 0.05)
    with pytest.raises(InvalidMarket):
        price_market(TYPICAL, M.OVER_UNDER, None, 0.05)
    with pytest.raises(ValueError):
        price_market(TYPICAL, M.MATCH_RESULT, None, 0.9)


# -- live prices ------------------------------------------------------------------------------
def test_prices_move_with_the_score_and_the_clock() -> None:
    pre = price_market(TYPICAL, M.MATCH_RESULT, None, 0.05)
    leading = price_market(live_model(TYPICAL, 60, 1, 0), M.MATCH_RESULT, None, 0.05)
    later = price_market(live_model(TYPICAL, 85, 1, 0), M.MATCH_RESULT, None, 0.05)
    assert later["home"] < leading["home"] < pre["home"]
    assert later["away"] > leading["away"] > pre["away"]
    # A goal up at 0-0 on the clock: over 0.5 is already won, BTTS now needs only the away side.
    live = live_model(TYPICAL, 30, 1, 0)
    assert price_market(live, M.OVER_UNDER, 50, 0.05)["over"] == MIN_ODDS_MILLI
    goalless = live_model(TYPICAL, 30, 0, 0)
    btts_yes = price_market(live, M.BTTS, None, 0.05)["yes"]
    assert btts_yes < price_market(goalless, M.BTTS, None, 0.05)["yes"]
    away_scores = 1 - math.exp(-live.away_rate)
    assert market_probabilities(live, M.BTTS, None)["yes"] == pytest.approx(away_scores)


def test_final_whistle_prices() -> None:
    final = live_model(TYPICAL, 90, 2, 1)
    assert price_market(final, M.MATCH_RESULT, None, 0.05) == {
        "home": MIN_ODDS_MILLI,
        "draw": MAX_ODDS_MILLI,
        "away": MAX_ODDS_MILLI,
    }
    # Home -1.0 landed exactly on the line: a certain push, priced evenly.
    assert price_market(final, M.ASIAN_HANDICAP, -100, 0.0) == {"home": 2000, "away": 2000}


# -- any model's distribution -----------------------------------------------------------------
def test_results_distribution_settles_every_cell() -> None:
    cells = [(3, 0, 0.25), (0, 1, 0.5), (2, 2, 0.25)]
    dist = results_distribution(cells, M.MONEYLINE, None)
    assert dist == {
        "home": {WIN: 0.25, LOSS: 0.5, PUSH: 0.25},
        "away": {LOSS: 0.25, WIN: 0.5, PUSH: 0.25},
    }
    # The push is refunded: the fair chances are those of the decided games.
    assert book_probabilities(dist) == pytest.approx({"home": 1 / 3, "away": 2 / 3})
    assert results_distribution([(0, 0, 0.0)], M.MONEYLINE, None) == {"home": {}, "away": {}}


@given(
    st.dictionaries(st.integers(min_value=-40, max_value=40), st.floats(0.01, 1), min_size=1),
)
def test_balanced_line_splits_a_distribution_most_evenly(weights: dict[int, float]) -> None:
    total = sum(weights.values())
    pmf = {k: w / total for k, w in weights.items()}
    line = balanced_line(pmf)
    assert line % 100 == 50 and min(pmf) * 100 < line < max(pmf) * 100 + 100

    def gap(line: int) -> float:
        return abs(sum(p for k, p in pmf.items() if 100 * k < line) - 0.5)

    assert all(gap(line) <= gap(k * 100 + 50) + 1e-12 for k in pmf)


def test_balanced_line_examples() -> None:
    assert balanced_line({160: 0.2, 161: 0.3, 162: 0.5}) == 16150
    assert balanced_line({-3: 0.5, 4: 0.5}) == -250
    with pytest.raises(ValueError):
        balanced_line({})


@given(books, margins, st.sampled_from(METHODS))
def test_price_book_is_apply_margin_by_key(
    probabilities: list[float], margin: float, method: MarginMethod
) -> None:
    book = dict(zip(("home", "away"), [probabilities[0], 1 - probabilities[0]], strict=True))
    odds = price_book(book, M.MONEYLINE, margin, method)
    assert list(odds.values()) == apply_margin(list(book.values()), margin, method)
