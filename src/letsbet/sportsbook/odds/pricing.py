"""Prices from a model: probabilities, margins, fair odds and live moves. Pure: no I/O.

Every sport's model yields a distribution of the final counts a market settles on (a score
matrix, a points margin, games won; `Cell`s), and `results_distribution` turns it into each
outcome's settlement results. The football model lives here: two independent Poisson goal counts
(`MatchModel`); basketball and tennis have their own modules (`odds.basketball`, `odds.tennis`).
Floats are fine here, inside the models; what leaves this module is odds in integer thousandths
(`odds_milli`, 2.50 -> 2500) within MIN_ODDS_MILLI..MAX_ODDS_MILLI, and `overround` is exact.

Probabilities agree with `markets.settle` by construction: every cell of the distribution is
settled with it. Where a market can push or half-settle (whole and quarter Asian lines, whole and
quarter totals), a side's *effective* probability is the one whose inverse is its fair price: the
odds o at which a unit stake returns 1 on average,

    sum over results of P(result) * (void + (1 - void) * (o * dead_heat if won else 0)) = 1
    => o = (1 - V) / A,   V = sum P * void,   A = sum over won results of P * (1 - void) * dead_heat

so p = A / (1 - V). V is the same for both sides of a two-way market (pushes and half results
mirror each other), hence the two effective probabilities sum to 1 and are margined like any other
book. Double chance is not a partition (two outcomes win on every score): its probabilities sum
to 2, and it is priced from the margined 1X2 (q_1X = q_home + q_draw, ...), so its book sums to
2 * (1 + margin) and `overround` of it is 1 + 2 * margin.

Margins (the book's overround, 0.05 = a 105% book):
- proportional: q_i = p_i * (1 + margin);
- power: q_i = p_i ** k with k in (0, 1] solved by bisection so that sum q_i = 1 + margin; it
  puts more of the margin on long shots, as bookmakers do (favourite-longshot bias).
Odds are 1 / q_i rounded to the nearest thousandth and clamped to the odds range, so the achieved
overround (`overround(odds)`) is within about 0.001 of the margin unless an outcome hits a clamp
(a near-certain outcome cannot go below 1.001, a near-impossible one above 1000).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

from letsbet.sportsbook.markets import (
    MAX_ODDS_MILLI,
    MIN_ODDS_MILLI,
    OUTCOME_KEYS,
    MarketType,
    OutcomeSettlement,
    check_line,
    settle,
)

__all__ = [
    "MATCH_MINUTES",
    "MAX_MARGIN",
    "MAX_ODDS_MILLI",
    "MIN_ODDS_MILLI",
    "Cell",
    "MarginMethod",
    "MatchModel",
    "apply_margin",
    "balanced_line",
    "book_probabilities",
    "expected_return",
    "fair_odds",
    "fair_probabilities",
    "live_model",
    "live_score_matrix",
    "market_probabilities",
    "overround",
    "price_book",
    "price_market",
    "results_distribution",
    "score_matrix",
    "settlement_distribution",
]

MAX_MARGIN = 0.5
MAX_RATE = 20.0  # expected goals per side; football never comes close
MAX_GOALS_LIMIT = 50
MATCH_MINUTES = 90
PROBABILITY_TOLERANCE = 1e-3  # how far from 1 a book of probabilities may sum before it is refused
_CERTAIN_VOID = 1e-12  # a market that is (almost) surely void has no meaningful prices

MarginMethod = Literal["proportional", "power"]
ScoreMatrix = list[list[float]]
Cell = tuple[int, int, float]  # final home count, final away count, probability
# The results an outcome can settle to, with their probabilities.
ResultDistribution = dict[OutcomeSettlement, float]


# -- books and margins ------------------------------------------------------------------------
def overround(odds_milli: Sequence[int]) -> Fraction:
    """The book's margin, exactly: sum of 1/odds minus 1 (0.05 for a 105% book)."""
    _check_odds(odds_milli)
    return sum((Fraction(1000, odds) for odds in odds_milli), Fraction(0)) - 1


def apply_margin(
    probabilities: Sequence[float], margin: float, method: MarginMethod = "power"
) -> list[int]:
    """Odds in thousandths for a book of `probabilities` (one per outcome, summing to 1 within
    PROBABILITY_TOLERANCE; normalised) with `margin` built in by `method`."""
    return [_to_odds_milli(q) for q in _margined(probabilities, margin, method)]


def fair_probabilities(odds_milli: Sequence[int], method: MarginMethod = "power") -> list[float]:
    """The probabilities a book's odds imply once its margin is removed: the inverse of
    `apply_margin` with the same method (up to the rounding of the odds)."""
    _check_odds(odds_milli)
    implied = [1000 / odds for odds in odds_milli]  # each < 1: odds are at least 1.001
    if method == "proportional":
        total = sum(implied)
        return [r / total for r in implied]
    if method != "power":
        raise ValueError(f"unknown margin method {method!r}")

    # p_i = r_i ** e with sum p_i = 1; the sum falls as e grows (every r_i < 1).
    def excess(e: float) -> float:
        return sum(math.pow(r, e) for r in implied) - 1

    if excess(1.0) >= 0:
        lo, hi = 1.0, 2.0
        while excess(hi) > 0:
            lo, hi = hi, hi * 2
    else:  # a book under 100%: e < 1 (excess(0) = n - 1 > 0)
        lo, hi = 0.0, 1.0
    exponent = _bisect(excess, lo, hi)
    fair = [math.pow(r, exponent) for r in implied]
    total = sum(fair)
    return [p / total for p in fair]


def _margined(probabilities: Sequence[float], margin: float, method: MarginMethod) -> list[float]:
    """The margined implied probabilities q_i (their sum is 1 + margin)."""
    fair = _normalised(probabilities)
    if not (isinstance(margin, int | float) and 0 <= margin <= MAX_MARGIN):
        raise ValueError(f"margin must be within 0..{MAX_MARGIN}, got {margin!r}")
    if method == "proportional":
        return [p * (1 + margin) for p in fair]
    if method != "power":
        raise ValueError(f"unknown margin method {method!r}")
    if sum(p > 0 for p in fair) < 2:  # one certain outcome: no exponent adds a margin
        return [p * (1 + margin) for p in fair]
    target = 1 + margin
    # sum p_i ** k falls from (number of p_i > 0) at k -> 0 to 1 at k = 1.
    k = _bisect(lambda k: sum(math.pow(p, k) for p in fair if p > 0) - target, 0.0, 1.0)
    return [math.pow(p, k) if p > 0 else 0.0 for p in fair]


def _normalised(probabilities: Sequence[float]) -> list[float]:
    values = [float(p) for p in probabilities]
    if len(values) < 2:
        raise ValueError("a book needs at least two outcomes")
    if not all(math.isfinite(p) and p >= 0 for p in values):
        raise ValueError(f"probabilities must be finite and >= 0, got {values}")
    total = sum(values)
    if abs(total - 1) > PROBABILITY_TOLERANCE:
        raise ValueError(f"probabilities must sum to 1, got {total}")
    return [p / total for p in values]


def _to_odds_milli(q: float) -> int:
    if q * MAX_ODDS_MILLI <= 1000:  # also q == 0: never divide, never overflow
        return MAX_ODDS_MILLI
    return max(MIN_ODDS_MILLI, min(MAX_ODDS_MILLI, math.floor(1000 / q + 0.5)))


def _bisect(f: Callable[[float], float], lo: float, hi: float) -> float:
    """The root of a decreasing `f` with f(lo) >= 0 >= f(hi)."""
    for _ in range(200):
        mid = (lo + hi) / 2
        if mid in (lo, hi):
            break
        if f(mid) > 0:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def _check_odds(odds_milli: Sequence[int]) -> None:
    if len(odds_milli) < 2:
        raise ValueError("a book needs at least two outcomes")
    for odds in odds_milli:
        if isinstance(odds, bool) or not isinstance(odds, int):
            raise TypeError(f"odds_milli must be ints, got {odds!r}")
        if not MIN_ODDS_MILLI <= odds <= MAX_ODDS_MILLI:
            raise ValueError(f"odds_milli must be within {MIN_ODDS_MILLI}..{MAX_ODDS_MILLI}")


# -- the goals model --------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class MatchModel:
    """Expected goals still to come for each side (pre-match: the whole match) and the score so
    far (0-0 pre-match). Probabilities are of the final score: current score + goals to come."""

    home_rate: float
    away_rate: float
    home_goals: int = 0
    away_goals: int = 0

    def __post_init__(self) -> None:
        for name, rate in (("home_rate", self.home_rate), ("away_rate", self.away_rate)):
            if not (isinstance(rate, int | float) and 0 <= rate <= MAX_RATE):
                raise ValueError(f"{name} must be within 0..{MAX_RATE}, got {rate!r}")
        for name, goals in (("home_goals", self.home_goals), ("away_goals", self.away_goals)):
            if isinstance(goals, bool) or not isinstance(goals, int) or goals < 0:
                raise ValueError(f"{name} must be an int >= 0, got {goals!r}")


def live_model(pre: MatchModel, minute: int, home_goals: int, away_goals: int) -> MatchModel:
    """The model in play: the pre-match rates scaled to the time left, (90 - minute) / 90, and
    the current score. From minute 90 on (stoppage time) no more goals are expected."""
    if isinstance(minute, bool) or not isinstance(minute, int) or minute < 0:
        raise ValueError(f"minute must be an int >= 0, got {minute!r}")
    left = max(0, MATCH_MINUTES - minute) / MATCH_MINUTES
    return MatchModel(pre.home_rate * left, pre.away_rate * left, home_goals, away_goals)


def score_matrix(model: MatchModel, max_goals: int = 10) -> ScoreMatrix:
    """P(home scores i more goals, away scores j more) for i, j in 0..max_goals, independent
    Poisson. The last row and column hold "max_goals or more", so the matrix sums to 1."""
    home = _poisson(model.home_rate, max_goals)
    away = _poisson(model.away_rate, max_goals)
    return [[h * a for a in away] for h in home]


def live_score_matrix(model: MatchModel, max_goals: int = 10) -> ScoreMatrix:
    """P(final score is i-j): `score_matrix` shifted by the current score (cells below the
    current score are 0)."""
    remaining = score_matrix(model, max_goals)
    rows = [[0.0] * (model.away_goals + max_goals + 1) for _ in range(model.home_goals)]
    pad = [0.0] * model.away_goals
    return rows + [pad + row for row in remaining]


def _poisson(rate: float, max_goals: int) -> list[float]:
    if isinstance(max_goals, bool) or not isinstance(max_goals, int):
        raise TypeError(f"max_goals must be an int, got {max_goals!r}")
    if not 1 <= max_goals <= MAX_GOALS_LIMIT:
        raise ValueError(f"max_goals must be within 1..{MAX_GOALS_LIMIT}, got {max_goals}")
    pmf = [math.exp(-rate)]
    for k in range(1, max_goals):
        pmf.append(pmf[-1] * rate / k)
    pmf.append(max(0.0, 1 - sum(pmf)))  # the tail: max_goals or more
    return pmf


# -- markets ----------------------------------------------------------------------------------
def results_distribution(
    cells: Iterable[Cell], market_type: MarketType, line_hundredths: int | None
) -> dict[str, ResultDistribution]:
    """For each outcome, the probability of each result `markets.settle` can give it, from the
    distribution of the final counts the market settles on (`cells`: (home, away, probability)).
    Every sport's model prices through this, so its prices agree with settlement."""
    market_type = MarketType(market_type)
    # Summed by object identity first: settle hands out a few shared result objects, and hashing
    # their Fractions for every cell would dominate the cost of pricing.
    totals: dict[tuple[str, int], float] = defaultdict(float)
    objects: dict[int, OutcomeSettlement] = {}
    for home, away, probability in cells:
        if probability == 0:
            continue
        for key, result in settle(market_type, line_hundredths, home, away).items():
            objects[id(result)] = result  # held here, so the id stays unique
            totals[key, id(result)] += probability
    results: dict[str, ResultDistribution] = {key: {} for key in OUTCOME_KEYS[market_type]}
    for (key, result_id), probability in totals.items():
        result = objects[result_id]
        results[key][result] = results[key].get(result, 0.0) + probability
    return results


def book_probabilities(distributions: Mapping[str, ResultDistribution]) -> dict[str, float]:
    """Each outcome's effective probability, the inverse of its fair odds: A / (1 - V). For
    markets without pushes that is P(win). Sums to 1 for every market but double chance (2).
    A market that is certainly void (a push at the final whistle) gets equal probabilities."""
    probabilities: dict[str, float] = {}
    for key, results in distributions.items():
        void, win = _void_and_win(results)
        if void > 1 - _CERTAIN_VOID:
            return {key: 1 / len(distributions) for key in distributions}
        probabilities[key] = win / (1 - void)
    return probabilities


def price_book(
    probabilities: Mapping[str, float],
    market_type: MarketType,
    margin: float,
    method: MarginMethod = "power",
) -> dict[str, int]:
    """Odds in thousandths for a two- or three-way market's `probabilities` (keyed like
    OUTCOME_KEYS), with `margin` built in by `method`."""
    keys = OUTCOME_KEYS[MarketType(market_type)]
    odds = apply_margin([probabilities[key] for key in keys], margin, method)
    return dict(zip(keys, odds, strict=True))


def balanced_line(pmf: Mapping[int, float]) -> int:
    """The half line, in hundredths, that splits a distribution of whole numbers most evenly:
    the over/under line of a total, or minus the home side's spread of a margin."""
    if not pmf:
        raise ValueError("an empty distribution has no line")
    best, best_gap, below = 0, math.inf, 0.0
    for value in sorted(pmf):
        below += pmf[value]
        if abs(below - 0.5) < best_gap:
            best, best_gap = value, abs(below - 0.5)
    return best * 100 + 50


def settlement_distribution(
    model: MatchModel, market_type: MarketType, line_hundredths: int | None, max_goals: int = 10
) -> dict[str, ResultDistribution]:
    """For each outcome, the probability of each result `markets.settle` can give it."""
    return results_distribution(_score_cells(model, max_goals), market_type, line_hundredths)


def _score_cells(model: MatchModel, max_goals: int) -> Iterator[Cell]:
    for i, row in enumerate(score_matrix(model, max_goals)):
        for j, probability in enumerate(row):
            yield model.home_goals + i, model.away_goals + j, probability


def fair_odds(results: Mapping[OutcomeSettlement, float]) -> float:
    """The decimal odds at which one unit staked returns 1 on average: (1 - V) / A (see the
    module docstring); inf when the outcome cannot win."""
    void, win = _void_and_win(results)
    return (1 - void) / win if win > 0 else math.inf


def expected_return(results: Mapping[OutcomeSettlement, float], odds_milli: int) -> float:
    """What one unit staked at `odds_milli` returns on average over `results`."""
    return sum(p * float(result.factor(odds_milli)) for result, p in results.items())


def market_probabilities(
    model: MatchModel, market_type: MarketType, line_hundredths: int | None, max_goals: int = 10
) -> dict[str, float]:
    """Each outcome's effective probability under the goals model (see `book_probabilities`)."""
    return book_probabilities(
        settlement_distribution(model, market_type, line_hundredths, max_goals)
    )


def price_market(
    model: MatchModel,
    market_type: MarketType,
    line_hundredths: int | None,
    margin: float,
    method: MarginMethod = "power",
    max_goals: int = 10,
) -> dict[str, int]:
    """Odds in thousandths for every outcome of a market, with `margin` built in by `method`."""
    market_type = MarketType(market_type)
    if market_type is MarketType.DOUBLE_CHANCE:
        check_line(market_type, line_hundredths)  # no line: InvalidMarket otherwise
        result = market_probabilities(model, MarketType.MATCH_RESULT, None, max_goals)
        q = dict(zip(result, _margined(list(result.values()), margin, method), strict=True))
        combined = {
            "1X": q["home"] + q["draw"],
            "12": q["home"] + q["away"],
            "X2": q["draw"] + q["away"],
        }
        return {key: _to_odds_milli(value) for key, value in combined.items()}
    probabilities = market_probabilities(model, market_type, line_hundredths, max_goals)
    return price_book(probabilities, market_type, margin, method)


def _void_and_win(results: Mapping[OutcomeSettlement, float]) -> tuple[float, float]:
    void = sum(p * float(r.void_factor) for r, p in results.items())
    win = sum(
        p * float((1 - r.void_factor) * r.dead_heat_factor) for r, p in results.items() if r.won
    )
    return void, win
