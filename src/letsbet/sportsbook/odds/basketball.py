"""Basketball prices and play: a normal approximation of the points still to come. Pure: no I/O.

Each side's points in the time left are about normal, with mean rate x time left and variance
DISPERSION x mean (points come in ones, twos and threes, so they spread wider than a Poisson
count), correlated by CORRELATION (pace: a fast game is high-scoring at both ends). The margin
(home - away) and the total of the points to come are then normal too; they are treated as
independent (exactly so when both sides score alike), put on whole points with a continuity
correction and added to the score.

A level score at the end of regulation or of an overtime means another five minutes: the tie's
probability is spread over an overtime's margin, conditioned on not being level again (it stands
for the chain of overtimes), and an overtime's points are added to the total. So the final margin
is never 0: moneyline never pushes, and the score it settles on includes overtime.

Markets: moneyline (winner incl. overtime), over_under on total points and asian_handicap as the
point spread, both on half lines so they never push.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable
from dataclasses import dataclass, replace
from functools import lru_cache

from letsbet.sportsbook.markets import (
    MAX_HANDICAP_HUNDREDTHS,
    MAX_TOTAL_HUNDREDTHS,
    InvalidMarket,
    MarketType,
    check_line,
)
from letsbet.sportsbook.odds.play import Play
from letsbet.sportsbook.odds.pricing import (
    Cell,
    MarginMethod,
    balanced_line,
    book_probabilities,
    price_book,
    results_distribution,
)

__all__ = [
    "BREAK_MINUTES",
    "MARKETS",
    "OVERTIME_MINUTES",
    "BasketballModel",
    "Clock",
    "advance",
    "clock_at",
    "decided",
    "margin_pmf",
    "market_probabilities",
    "model_at",
    "pre_match_lines",
    "price_market",
    "score_cells",
    "total_pmf",
]

DISPERSION = 1.3  # variance / mean of a side's points
CORRELATION = 0.4  # between the two sides' points
OVERTIME_MINUTES = 5
BREAK_MINUTES = 2  # between periods, markets suspended
PERIODS = 4  # quarters
MAX_RATE = 200.0  # expected points a side in regulation
_SPREAD_SDS = 7.0  # how far the discretised normals reach
MARKETS = (MarketType.MONEYLINE, MarketType.OVER_UNDER, MarketType.ASIAN_HANDICAP)
_MARGIN_MARKETS = (MarketType.MONEYLINE, MarketType.ASIAN_HANDICAP)


@dataclass(frozen=True, slots=True)
class BasketballModel:
    """Expected points of each side over regulation (`minutes` long: 40 FIBA, 48 NBA), and the
    game as it stands: game minutes left in the current period run (regulation, or the overtime
    being played; None: all of regulation) and the score."""

    home_rate: float
    away_rate: float
    minutes: int = 40
    minutes_left: float | None = None
    home_points: int = 0
    away_points: int = 0

    def __post_init__(self) -> None:
        for name, rate in (("home_rate", self.home_rate), ("away_rate", self.away_rate)):
            if not (isinstance(rate, int | float) and 0 < rate <= MAX_RATE):
                raise ValueError(f"{name} must be within (0, {MAX_RATE}], got {rate!r}")
        if self.minutes not in (40, 48):
            raise ValueError(f"minutes must be 40 or 48, got {self.minutes!r}")
        left = self.minutes_left
        if left is not None and not (isinstance(left, int | float) and 0 <= left <= self.minutes):
            raise ValueError(f"minutes_left must be within 0..{self.minutes}, got {left!r}")
        for name, points in (("home_points", self.home_points), ("away_points", self.away_points)):
            if isinstance(points, bool) or not isinstance(points, int) or points < 0:
                raise ValueError(f"{name} must be an int >= 0, got {points!r}")

    @property
    def left(self) -> float:
        return self.minutes if self.minutes_left is None else self.minutes_left


# -- distributions ----------------------------------------------------------------------------
def _phi(x: float) -> float:
    return 0.5 * (1 + math.erf(x / math.sqrt(2)))


def _discrete_normal(mean: float, variance: float, low: int | None = None) -> dict[int, float]:
    """A normal on whole numbers (continuity correction), tails folded into the end points;
    values below `low` are folded into `low`."""
    if variance <= 1e-9:
        return {max(round(mean), low) if low is not None else round(mean): 1.0}
    sd = math.sqrt(variance)
    lo, hi = math.floor(mean - _SPREAD_SDS * sd), math.ceil(mean + _SPREAD_SDS * sd)
    if low is not None:
        lo, hi = max(lo, low), max(hi, low)
    pmf: dict[int, float] = {}
    below = 0.0
    for k in range(lo, hi + 1):
        upto = 1.0 if k == hi else _phi((k + 0.5 - mean) / sd)
        if upto > below:
            pmf[k] = upto - below
            below = upto
    return pmf


def _moments(home_mean: float, away_mean: float) -> tuple[float, float, float, float]:
    """Mean and variance of the margin and of the total of points with these means."""
    var_home, var_away = DISPERSION * home_mean, DISPERSION * away_mean
    covariance = CORRELATION * math.sqrt(var_home * var_away)
    return (
        home_mean - away_mean,
        var_home + var_away - 2 * covariance,
        home_mean + away_mean,
        var_home + var_away + 2 * covariance,
    )


def _overtime(model: BasketballModel) -> tuple[dict[int, float], dict[int, float]]:
    """An overtime's margin (never level: the chain of overtimes) and its points."""
    share = OVERTIME_MINUTES / model.minutes
    m_mean, m_var, t_mean, t_var = _moments(model.home_rate * share, model.away_rate * share)
    margin = {m: p for m, p in _discrete_normal(m_mean, m_var).items() if m != 0}
    decided = sum(margin.values())
    return {m: p / decided for m, p in margin.items()}, _discrete_normal(t_mean, t_var, low=0)


def _regulation(model: BasketballModel) -> tuple[dict[int, float], dict[int, float]]:
    """The margin and total at the end of the current period run."""
    share = model.left / model.minutes
    m_mean, m_var, t_mean, t_var = _moments(model.home_rate * share, model.away_rate * share)
    diff, total = model.home_points - model.away_points, model.home_points + model.away_points
    margin = _discrete_normal(diff + m_mean, m_var)
    return margin, _discrete_normal(total + t_mean, t_var, low=total)


@lru_cache(maxsize=1024)
def _final(model: BasketballModel) -> tuple[dict[int, float], dict[int, float]]:
    margin, total = _regulation(model)
    tie = margin.pop(0, 0.0)
    if tie == 0:
        return margin, total
    ot_margin, ot_points = _overtime(model)
    for m, p in ot_margin.items():
        margin[m] = margin.get(m, 0.0) + tie * p
    final_total = {t: (1 - tie) * p for t, p in total.items()}
    for t, p in total.items():
        for extra, q in ot_points.items():
            final_total[t + extra] = final_total.get(t + extra, 0.0) + tie * p * q
    return margin, final_total


def margin_pmf(model: BasketballModel) -> dict[int, float]:
    """P(final margin, home - away, overtime included); never 0."""
    return dict(_final(model)[0])


def total_pmf(model: BasketballModel) -> dict[int, float]:
    """P(final total points, overtime included)."""
    return dict(_final(model)[1])


def score_cells(model: BasketballModel, market_type: MarketType) -> Iterable[Cell]:
    """Final scores standing for the distribution a market settles on: moneyline and spread
    depend on the margin only, so margin m stands as (m, 0) or (0, -m); over/under on the
    total only, so total t stands as (t, 0)."""
    if market_type in _MARGIN_MARKETS:
        return [(max(m, 0), max(-m, 0), p) for m, p in _final(model)[0].items()]
    if market_type is MarketType.OVER_UNDER:
        return [(t, 0, p) for t, p in _final(model)[1].items()]
    raise InvalidMarket(f"basketball offers {', '.join(m.value for m in MARKETS)}")


def market_probabilities(
    model: BasketballModel, market_type: MarketType, line_hundredths: int | None
) -> dict[str, float]:
    market_type = MarketType(market_type)
    check_line(market_type, line_hundredths)
    cells = score_cells(model, market_type)
    return book_probabilities(results_distribution(cells, market_type, line_hundredths))


def price_market(
    model: BasketballModel,
    market_type: MarketType,
    line_hundredths: int | None,
    margin: float,
    method: MarginMethod = "power",
) -> dict[str, int]:
    probabilities = market_probabilities(model, market_type, line_hundredths)
    return price_book(probabilities, market_type, margin, method)


def pre_match_lines(model: BasketballModel) -> tuple[int, int]:
    """The half lines that split the margin and the total most evenly: (home spread, total),
    in hundredths, within the lines markets take. Half lines never push."""
    margin, total = _final(model)
    spread = max(
        -MAX_HANDICAP_HUNDREDTHS + 50, min(MAX_HANDICAP_HUNDREDTHS - 50, -balanced_line(margin))
    )
    return spread, min(MAX_TOTAL_HUNDREDTHS - 50, balanced_line(total))


# -- the game clock and play ------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Clock:
    """Where a game stands: the period (1-4, then overtimes), game minutes played in it, the
    score. A period played to its end and not decided waits for the next one (a break)."""

    period: int = 1
    played: int = 0
    home_points: int = 0
    away_points: int = 0


def period_minutes(minutes: int, period: int) -> int:
    return minutes // PERIODS if period <= PERIODS else OVERTIME_MINUTES


def period_start(minutes: int, period: int) -> int:
    """Match minutes from tip-off to the start of `period` (breaks included)."""
    return sum(period_minutes(minutes, p) + BREAK_MINUTES for p in range(1, period))


def model_at(pre: BasketballModel, clock: Clock) -> BasketballModel:
    """The model in play: the current period run's minutes left and the score."""
    length = period_minutes(pre.minutes, clock.period)
    left = length - clock.played
    if clock.period <= PERIODS:
        left += (PERIODS - clock.period) * length
    return replace(
        pre, minutes_left=left, home_points=clock.home_points, away_points=clock.away_points
    )


def decided(clock: Clock, minutes: int) -> bool:
    """The game is over: a period from the fourth on played out with a winner."""
    return (
        clock.period >= PERIODS
        and clock.played >= period_minutes(minutes, clock.period)
        and clock.home_points != clock.away_points
    )


def clock_at(pre: BasketballModel, minute: int, home_points: int, away_points: int) -> Clock:
    """Where a game that has a score of home-away stands `minute` match minutes after tip-off
    (after a restart): level after regulation means overtime."""
    period = 1
    while True:
        length = period_minutes(pre.minutes, period)
        ends = period_start(pre.minutes, period) + length
        last = period >= PERIODS and home_points != away_points
        if minute < ends + BREAK_MINUTES or last:
            played = max(0, min(length, minute - period_start(pre.minutes, period)))
            return Clock(period, played, home_points, away_points)
        period += 1


def _points(mean: float, rng: random.Random) -> int:
    return max(0, round(rng.gauss(mean, math.sqrt(DISPERSION * mean)))) if mean > 0 else 0


def advance(
    pre: BasketballModel, clock: Clock, minute: int, rng: random.Random
) -> list[Play[Clock]]:
    """Play the game from `clock` up to `minute` match minutes after tip-off."""
    plays: list[Play[Clock]] = []
    while True:
        length = period_minutes(pre.minutes, clock.period)
        start = period_start(pre.minutes, clock.period)
        if clock.played < length:
            now = min(max(minute - start, 0), length)
            if now <= clock.played:
                return plays
            share = (now - clock.played) / pre.minutes
            clock = replace(
                clock,
                played=now,
                home_points=clock.home_points + _points(pre.home_rate * share, rng),
                away_points=clock.away_points + _points(pre.away_rate * share, rng),
            )
            if decided(clock, pre.minutes):
                return [*plays, Play(clock, ended=True)]
            # A period's end: stop betting for the break; otherwise prices just move.
            plays.append(
                Play(clock, stop=True, status="suspended") if now == length else Play(clock)
            )
            continue
        if decided(clock, pre.minutes):  # found so after a restart
            return [*plays, Play(clock, ended=True)]
        if minute < period_start(pre.minutes, clock.period + 1):
            return plays
        clock = replace(clock, period=clock.period + 1, played=0)
        plays.append(Play(clock, status="active"))
