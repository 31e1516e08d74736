"""The simulated feed's sports: daily pairings, whole matches played to results that settle
every market priced, and what a restart can and cannot rebuild. Pure."""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from letsbet.sportsbook.markets import (
    GAME_MARKETS,
    MAX_ODDS_MILLI,
    MIN_ODDS_MILLI,
    OUTCOME_KEYS,
    PUSH,
    MarketType,
    settle,
)
from letsbet.sportsbook.odds import tennis
from letsbet.sportsbook.odds.sports import SPORTS, Book, Goals, Sport, market_status

M = MarketType


def play_out(sport: Sport[Any, Any], model: Any, rng: random.Random) -> list[Any]:
    """Every play of a whole match, a match minute at a time."""
    state, plays = sport.start(model, 0), []
    for minute in range(1, 1000):
        plays += sport.advance(model, state, minute, rng)
        if plays:
            state = plays[-1].state
        if plays and plays[-1].ended:
            return plays
    raise AssertionError("the match never ended")


@pytest.mark.parametrize("sport_id", list(SPORTS))
@given(st.integers(min_value=0, max_value=2**32))
def test_a_day_of_pairings(sport_id: str, seed: int) -> None:
    sport = SPORTS[sport_id]
    pairings = sport.pairings(random.Random(seed))
    low, high = sport.per_day
    assert low <= len(pairings) <= high
    sides = [side for p in pairings for side in (p.home, p.away)]
    assert len(sides) == len(set(sides))  # nobody plays twice a day
    assert [p.minute for p in pairings] == sorted(p.minute for p in pairings)
    assert all(p.minute in sport.kickoffs for p in pairings)
    for p in pairings:
        (known,) = [c[2] for c in sport.competitions if c[:2] == (p.region, p.competition)]
        assert {p.home, p.away} <= set(known)


@pytest.mark.parametrize("sport_id", list(SPORTS))
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_match_plays_out_and_settles_every_market_it_priced(sport_id: str, seed: int) -> None:
    sport, rng = SPORTS[sport_id], random.Random(seed)
    model = sport.model(rng, sport.competitions[seed % len(sport.competitions)])
    plays = play_out(sport, model, rng)
    assert not any(p.ended for p in plays[:-1])
    books = sport.books(model, sport.start(model, 0), 0.06, "power")
    for play in plays[:-1]:
        live = sport.books(model, play.state, 0.06, "power")
        assert [(b.type, b.line) for b in live] == [(b.type, b.line) for b in books]
        assert all(MIN_ODDS_MILLI <= o <= MAX_ODDS_MILLI for b in live for o in b.prices.values())
    final = plays[-1].state
    results = sport.results(model, final)
    assert list(results) == [(b.type, b.line) for b in books]
    home, away = sport.score(final)
    for (kind, line), outcomes in results.items():
        assert tuple(outcomes) == OUTCOME_KEYS[kind]
        if sport_id == "football":
            assert outcomes == settle(kind, line, home, away)
        else:  # no draws, half lines: one winner, no push
            assert sum(r.won for r in outcomes.values()) == 1
    if sport_id == "basketball":
        assert home != away
        assert all(results[k] == settle(*k, home, away) for k in results)
    if sport_id == "tennis":  # sets for the winner and set handicap, games for the rest
        for (kind, line), outcomes in results.items():
            games = kind in GAME_MARKETS
            counts = (final.home_total, final.away_total) if games else (home, away)
            assert outcomes == settle(kind, line, *counts)


def test_football_goal_stops_betting() -> None:
    football = SPORTS["football"]
    model = football.default_model()

    class Goal(random.Random):
        def random(self) -> float:
            return 0.0  # both sides score

    (play,) = football.advance(model, Goals(10, 0, 0), 11, Goal())
    assert (play.state, play.stop, play.status) == (Goals(11, 1, 1), True, "active")
    (play,) = football.advance(model, Goals(11, 1, 1), 12, random.Random(0))
    assert play.state.minute == 12
    assert football.advance(model, Goals(12), 12, random.Random(0)) == []
    (end,) = football.advance(model, Goals(89, 2, 1), 90, random.Random(0))
    assert end.ended and end.state == Goals(90, 2, 1)
    assert football.resume(model, 40, (1, 0)) == Goals(40, 1, 0)


def test_tennis_after_a_restart_voids_the_game_markets() -> None:
    sport = SPORTS["tennis"]
    model = tennis.TennisModel(0.65, 0.6)
    resumed = sport.resume(model, 41, (1, 0))
    assert (resumed.home_sets, resumed.away_sets, resumed.played) == (1, 0, 10)
    assert not resumed.games_known
    books = sport.books(model, resumed, 0.06, "power")
    closed = {b.type for b in books if not b.open}
    assert closed == {M.TOTAL_GAMES, M.GAME_HANDICAP}
    assert {market_status(b, "active") for b in books if not b.open} == {"suspended"}
    final = play_out_from(sport, model, resumed)
    results = sport.results(model, final)
    for (kind, _), outcomes in results.items():
        if kind in closed:
            assert set(outcomes.values()) == {PUSH}  # stakes back
        else:
            assert sum(r.won for r in outcomes.values()) == 1


def play_out_from(sport: Sport[Any, Any], model: Any, state: Any) -> Any:
    plays = sport.advance(model, state, 10_000, random.Random(5))
    assert plays[-1].ended
    return plays[-1].state


def test_basketball_restart_keeps_the_score_and_the_clock() -> None:
    sport = SPORTS["basketball"]
    model = sport.default_model()
    clock = sport.resume(model, 30, (50, 47))
    assert (clock.period, clock.played, clock.home_points, clock.away_points) == (3, 6, 50, 47)
    assert sport.score(clock) == (50, 47)


def test_market_status_keeps_a_closed_book_suspended() -> None:
    open_, closed = Book(M.MONEYLINE, None, {}), Book(M.MONEYLINE, None, {}, open=False)
    assert [market_status(open_, s) for s in ("active", None)] == ["active", None]
    assert [market_status(closed, s) for s in ("active", None)] == ["suspended", "suspended"]
