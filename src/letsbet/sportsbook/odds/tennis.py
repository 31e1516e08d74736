"""Tennis prices and play from each player's chance of winning a point on serve. Pure: no I/O.

Points on a player's serve are independent with probability `home_serve` / `away_serve`, the
classic model (Barnett & Clarke, "Combining player statistics to predict outcomes of tennis
matches", 2005). From it, exactly:
- a service game: p^4 (1 + 4q + 10q^2) + 20 p^3 q^3 * p^2 / (1 - 2pq), q = 1 - p;
- a tiebreak at 6-6 (first to 7 by two; the first server serves one point, then two each);
- a set (first to 6 games by two, else the tiebreak) from any score and server;
- the match, best of 3 or 5 sets: the next set opens with the player who received in the last
  game of the set before (a tiebreak counts as one game served by the player who served first).
The distribution of final (sets, sets, games, games) is exact, and `markets.settle` settles every
cell of it, so prices agree with settlement.

Markets: moneyline (the match winner), asian_handicap on the score in sets (the set handicap,
+-1.5), total_games and game_handicap (games won, a tiebreak counting one game), on half lines.
Play goes game by game; a break of serve or a set's end stops betting for a moment.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass, replace
from functools import cache, lru_cache

from letsbet.sportsbook.markets import GAME_MARKETS, InvalidMarket, MarketType, check_line
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
    "MARKETS",
    "Match",
    "TennisModel",
    "advance",
    "final_distribution",
    "hold",
    "market_probabilities",
    "pre_match_lines",
    "price_market",
    "score_cells",
    "set_distribution",
    "tiebreak",
]

MIN_SERVE, MAX_SERVE = 0.3, 0.9  # a point on serve; tour players win 0.55-0.75 of them
MARKETS = (
    MarketType.MONEYLINE,
    MarketType.ASIAN_HANDICAP,
    MarketType.TOTAL_GAMES,
    MarketType.GAME_HANDICAP,
)
SetScore = tuple[int, int]
Final = tuple[int, int, int, int]  # home sets, away sets, home games, away games


@dataclass(frozen=True, slots=True)
class TennisModel:
    home_serve: float  # P(home wins a point on their own serve)
    away_serve: float
    best_of: int = 3

    def __post_init__(self) -> None:
        for name, p in (("home_serve", self.home_serve), ("away_serve", self.away_serve)):
            if not (isinstance(p, int | float) and MIN_SERVE <= p <= MAX_SERVE):
                raise ValueError(f"{name} must be within {MIN_SERVE}..{MAX_SERVE}, got {p!r}")
        if self.best_of not in (3, 5):
            raise ValueError(f"best_of must be 3 or 5, got {self.best_of!r}")

    @property
    def sets_to_win(self) -> int:
        return self.best_of // 2 + 1


@dataclass(frozen=True, slots=True)
class Match:
    """A match between games: sets won, games in the current set, games won in the match (the
    current set's included), who serves next, how many games were played. `games_known` is
    False when the games of earlier sets were lost (a restart): game markets are then void."""

    home_sets: int = 0
    away_sets: int = 0
    home_games: int = 0
    away_games: int = 0
    home_total: int = 0
    away_total: int = 0
    home_serving: bool = True
    played: int = 0
    games_known: bool = True

    def over(self, model: TennisModel) -> bool:
        return max(self.home_sets, self.away_sets) >= model.sets_to_win


# -- points to games, sets and matches --------------------------------------------------------
def hold(p: float) -> float:
    """P(the server wins a game) when they win each point on serve with probability p."""
    q = 1 - p
    return p**4 * (1 + 4 * q + 10 * q * q) + 20 * p**3 * q**3 * p * p / (1 - 2 * p * q)


@lru_cache(maxsize=4096)
def tiebreak(first: float, second: float) -> float:
    """P(the player serving first wins the tiebreak); `first`/`second`: each player's chance
    of winning a point on their own serve."""

    @cache
    def win(i: int, j: int) -> float:
        if i >= 7 and i - j >= 2:
            return 1.0
        if j >= 7 and j - i >= 2:
            return 0.0
        if i == j >= 6:  # each pair of points has one serve each: win both to win
            both, neither = first * (1 - second), (1 - first) * second
            return both / (both + neither)
        serving_first = (i + j + 1) // 2 % 2 == 0  # serves: A, B B, A A, B B, ...
        p = first if serving_first else 1 - second
        return p * win(i + 1, j) + (1 - p) * win(i, j + 1)

    return win(0, 0)


@lru_cache(maxsize=65536)
def set_distribution(
    home_serve: float, away_serve: float, home_games: int, away_games: int, home_serving: bool
) -> tuple[tuple[SetScore, float], ...]:
    """P(final score of the set) from a score in games with `home_serving` the next game."""
    if _set_over(home_games, away_games):
        return (((home_games, away_games), 1.0),)
    if home_games == away_games == 6:
        first, second = (home_serve, away_serve) if home_serving else (away_serve, home_serve)
        p = tiebreak(first, second) if home_serving else 1 - tiebreak(first, second)
        return (((7, 6), p), ((6, 7), 1 - p))
    p = hold(home_serve) if home_serving else 1 - hold(away_serve)
    result: dict[SetScore, float] = defaultdict(float)
    for won, q in ((True, p), (False, 1 - p)):
        after = (home_games + won, away_games + (not won))
        for score, r in set_distribution(home_serve, away_serve, *after, not home_serving):
            result[score] += q * r
    return tuple(result.items())


def _set_over(home: int, away: int) -> bool:
    return (max(home, away) >= 6 and abs(home - away) >= 2) or max(home, away) == 7


def final_distribution(model: TennisModel, match: Match) -> dict[Final, float]:
    """P(final home sets, away sets, home games, away games) from a match between games."""
    return dict(_final(model, match))


# Sets in play: (sets, sets, games, games, set games, set games, home serves) -> probability
_Frontier = dict[tuple[int, int, int, int, int, int, bool], float]


@lru_cache(maxsize=1024)
def _final(model: TennisModel, match: Match) -> tuple[tuple[Final, float], ...]:
    done: dict[Final, float] = defaultdict(float)
    frontier: _Frontier = {
        (
            match.home_sets,
            match.away_sets,
            match.home_total,
            match.away_total,
            match.home_games,
            match.away_games,
            match.home_serving,
        ): 1.0
    }
    while frontier:
        following: _Frontier = defaultdict(float)
        for (hs, as_, ht, at, hg, ag, serving), p in frontier.items():
            if max(hs, as_) >= model.sets_to_win:
                done[hs, as_, ht, at] += p
                continue
            dist = set_distribution(model.home_serve, model.away_serve, hg, ag, serving)
            for (fh, fa), q in dist:
                games = fh + fa - hg - ag
                # The receiver of the set's last game serves first in the next set.
                next_serving = serving != (games % 2 == 1)
                key = (
                    hs + (fh > fa),
                    as_ + (fa > fh),
                    ht + fh - hg,
                    at + fa - ag,
                    0,
                    0,
                    next_serving,
                )
                following[key] += p * q
        frontier = following
    return tuple(done.items())


# -- markets ----------------------------------------------------------------------------------
def score_cells(model: TennisModel, match: Match, market_type: MarketType) -> list[Cell]:
    """The final counts a market settles on: games won for GAME_MARKETS, sets for the others."""
    if market_type not in MARKETS:
        raise InvalidMarket(f"tennis offers {', '.join(m.value for m in MARKETS)}")
    cells: dict[tuple[int, int], float] = defaultdict(float)
    for (hs, as_, hg, ag), p in _final(model, match):
        cells[(hg, ag) if market_type in GAME_MARKETS else (hs, as_)] += p
    return [(h, a, p) for (h, a), p in cells.items()]


def market_probabilities(
    model: TennisModel, match: Match, market_type: MarketType, line_hundredths: int | None
) -> dict[str, float]:
    market_type = MarketType(market_type)
    check_line(market_type, line_hundredths)
    cells = score_cells(model, match, market_type)
    return book_probabilities(results_distribution(cells, market_type, line_hundredths))


def price_market(
    model: TennisModel,
    match: Match,
    market_type: MarketType,
    line_hundredths: int | None,
    margin: float,
    method: MarginMethod = "power",
) -> dict[str, int]:
    probabilities = market_probabilities(model, match, market_type, line_hundredths)
    return price_book(probabilities, market_type, margin, method)


def pre_match_lines(model: TennisModel) -> dict[MarketType, int]:
    """Lines for a new match: the favourite gives 1.5 sets; total games and the game handicap
    at the half lines that split the match most evenly."""
    final = _final(model, Match())
    home_wins = sum(p for (hs, as_, _, _), p in final if hs > as_)
    totals: dict[int, float] = defaultdict(float)
    margins: dict[int, float] = defaultdict(float)
    for (_, _, hg, ag), p in final:
        totals[hg + ag] += p
        margins[hg - ag] += p
    return {
        MarketType.ASIAN_HANDICAP: -150 if home_wins >= 0.5 else 150,
        MarketType.TOTAL_GAMES: balanced_line(totals),
        MarketType.GAME_HANDICAP: -balanced_line(margins),
    }


# -- play -------------------------------------------------------------------------------------
def play_game(model: TennisModel, match: Match, rng: random.Random) -> tuple[Match, bool]:
    """Play the next game (a tiebreak at 6-6); returns the match after it and whether the
    receiver won it (a break of serve; never for a tiebreak)."""
    if match.home_games == match.away_games == 6:
        first, second = (
            (model.home_serve, model.away_serve)
            if match.home_serving
            else (model.away_serve, model.home_serve)
        )
        p = tiebreak(first, second)
        home_won = (rng.random() < p) == match.home_serving
        broke = False
    else:
        p = hold(model.home_serve if match.home_serving else model.away_serve)
        held = rng.random() < p
        home_won = held == match.home_serving
        broke = not held
    games = (match.home_games + home_won, match.away_games + (not home_won))
    after = replace(
        match,
        home_games=games[0],
        away_games=games[1],
        home_total=match.home_total + home_won,
        away_total=match.away_total + (not home_won),
        home_serving=not match.home_serving,
        played=match.played + 1,
    )
    if _set_over(*games):
        # The receiver of the last game serves first in the next set: the server has already
        # changed hands above.
        after = replace(
            after,
            home_sets=match.home_sets + (games[0] > games[1]),
            away_sets=match.away_sets + (games[1] > games[0]),
            home_games=0,
            away_games=0,
        )
    return after, broke


def advance(
    model: TennisModel, match: Match, games_due: int, rng: random.Random
) -> list[Play[Match]]:
    """Play games until `games_due` have been played or the match is over. A break of serve
    or a set's end stops betting, then markets reopen at the new prices."""
    plays: list[Play[Match]] = []
    while match.played < games_due and not match.over(model):
        before = match
        match, broke = play_game(model, match, rng)
        if match.over(model):
            plays.append(Play(match, ended=True))
        elif broke or match.home_sets + match.away_sets > before.home_sets + before.away_sets:
            plays.append(Play(match, stop=True, status="active"))
        else:
            plays.append(Play(match))
    return plays
