"""The simulated feed's sports: competitions, fixtures, markets, prices, play and results for
football, basketball and tennis. Pure: no I/O; time and randomness are passed in.

Each `Sport` turns a match minute (minutes since kick-off at the simulator's speed) into plays
(`odds.play.Play`) and prices every state of play with its model; the simulator publishes them
as feed messages. A sport's live state can be rebuilt from the score in the database and the
clock (`resume`), so a restarted simulator carries on; what cannot be rebuilt is said there.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, replace
from typing import Any, Generic, TypeVar

from letsbet.sportsbook.markets import (
    GAME_MARKETS,
    OUTCOME_KEYS,
    PUSH,
    MarketType,
    OutcomeSettlement,
    settle,
)
from letsbet.sportsbook.odds import basketball, tennis
from letsbet.sportsbook.odds.play import MarketStatus, Play
from letsbet.sportsbook.odds.pricing import (
    MATCH_MINUTES,
    MarginMethod,
    MatchModel,
    live_model,
    price_market,
)

__all__ = [
    "SPORTS",
    "Basketball",
    "Book",
    "Football",
    "Goals",
    "Pairing",
    "Sport",
    "Tennis",
]

ModelT = TypeVar("ModelT")
StateT = TypeVar("StateT")
MarketKey = tuple[MarketType, int | None]
Results = dict[MarketKey, dict[str, OutcomeSettlement]]
Competition = tuple[str, str, tuple[str, ...]]  # region, name, teams or players

TENNIS_GAME_MINUTES = 4  # a game with its share of changeovers


@dataclass(frozen=True, slots=True)
class Book:
    """A market's prices; `open` False keeps it suspended whatever the play says."""

    type: MarketType
    line: int | None
    prices: dict[str, int]
    open: bool = True


@dataclass(frozen=True, slots=True)
class Pairing:
    """A fixture as a sport draws it: kick-off (minutes after midnight UTC), where, who, and
    the pre-match model."""

    minute: int
    region: str
    competition: str
    home: str
    away: str
    model: Any


class Sport(Generic[ModelT, StateT]):
    """What the simulator needs of a sport. Minutes are match minutes since kick-off."""

    id: str
    competitions: tuple[Competition, ...]
    kickoffs: tuple[int, ...]  # minutes after midnight UTC
    per_day: tuple[int, int]  # fixtures a day, at least and at most

    def model(self, rng: random.Random, competition: Competition) -> ModelT:
        raise NotImplementedError

    def default_model(self) -> ModelT:
        raise NotImplementedError

    def start(self, model: ModelT, minute: int) -> StateT:
        """The state at kick-off (late if the simulator was away: nothing played meanwhile)."""
        raise NotImplementedError

    def resume(self, model: ModelT, minute: int, score: tuple[int, int]) -> StateT:
        """The state of a match in play rebuilt from its score and the clock (a restart)."""
        raise NotImplementedError

    def advance(
        self, model: ModelT, state: StateT, minute: int, rng: random.Random
    ) -> list[Play[StateT]]:
        raise NotImplementedError

    def books(
        self, model: ModelT, state: StateT, margin: float, method: MarginMethod
    ) -> list[Book]:
        raise NotImplementedError

    def score(self, state: StateT) -> tuple[int, int]:
        raise NotImplementedError

    def results(self, model: ModelT, state: StateT) -> Results:
        """How every market the sport offers settles on a final state."""
        raise NotImplementedError

    def pairings(self, rng: random.Random) -> list[Pairing]:
        """One day's fixtures: no team or player twice."""
        count = rng.randint(*self.per_day)
        used: set[str] = set()
        pairings = []
        for minute in sorted(rng.sample(self.kickoffs, count)):
            playable = [c for c in self.competitions if len(set(c[2]) - used) >= 2]
            region, name, sides = competition = rng.choice(playable)
            home, away = rng.sample([side for side in sides if side not in used], 2)
            used.update((home, away))
            model = self.model(rng, competition)
            pairings.append(Pairing(minute, region, name, home, away, model))
        return pairings


def _slots(first_hour: int, last_hour: int) -> tuple[int, ...]:
    return tuple(range(first_hour * 60, last_hour * 60 + 1, 30))


# -- football ---------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Goals:
    minute: int = 0
    home: int = 0
    away: int = 0


class Football(Sport[MatchModel, Goals]):
    """Poisson goals over 90 minutes; a goal stops betting, then markets reopen."""

    id = "football"
    competitions = (
        ("Kenya", "Premier League", ("Gor Mahia", "AFC Leopards", "Tusker", "Bandari", "Shabana")),
        ("Nigeria", "NPFL", ("Enyimba", "Rivers United", "Kano Pillars", "Remo Stars", "Rangers")),
        (
            "Ghana",
            "Premier League",
            ("Asante Kotoko", "Hearts of Oak", "Medeama", "Aduana", "Dreams"),
        ),
        ("England", "Premier League", ("Arsenal", "Chelsea", "Liverpool", "Everton", "Newcastle")),
        (
            "International",
            "CAF Champions League",
            ("Al Ahly", "Esperance", "Mamelodi Sundowns", "Wydad", "TP Mazembe"),
        ),
    )
    kickoffs = _slots(12, 20)
    per_day = (4, 7)
    markets: tuple[MarketKey, ...] = (
        (MarketType.MATCH_RESULT, None),
        (MarketType.DOUBLE_CHANCE, None),
        (MarketType.BTTS, None),
        (MarketType.OVER_UNDER, 250),
        (MarketType.ASIAN_HANDICAP, -25),
    )

    def model(self, rng: random.Random, competition: Competition) -> MatchModel:
        return MatchModel(round(rng.uniform(0.9, 2.0), 2), round(rng.uniform(0.6, 1.6), 2))

    def default_model(self) -> MatchModel:
        return MatchModel(1.4, 1.1)

    def start(self, model: MatchModel, minute: int) -> Goals:
        return Goals(minute)

    def resume(self, model: MatchModel, minute: int, score: tuple[int, int]) -> Goals:
        return Goals(minute, *score)  # no goals in the gap

    def advance(
        self, model: MatchModel, state: Goals, minute: int, rng: random.Random
    ) -> list[Play[Goals]]:
        if minute >= MATCH_MINUTES:
            return [Play(replace(state, minute=minute), ended=True)]
        if minute <= state.minute:
            return []
        elapsed = (minute - state.minute) / MATCH_MINUTES
        home = int(rng.random() < 1 - math.exp(-model.home_rate * elapsed))
        away = int(rng.random() < 1 - math.exp(-model.away_rate * elapsed))
        after = Goals(minute, state.home + home, state.away + away)
        # A goal: stop betting at once, then reopen at the new prices.
        return [Play(after, stop=True, status="active") if home or away else Play(after)]

    def books(
        self, model: MatchModel, state: Goals, margin: float, method: MarginMethod
    ) -> list[Book]:
        live = live_model(model, state.minute, state.home, state.away)
        return [
            Book(kind, line, price_market(live, kind, line, margin, method))
            for kind, line in self.markets
        ]

    def score(self, state: Goals) -> tuple[int, int]:
        return state.home, state.away

    def results(self, model: MatchModel, state: Goals) -> Results:
        return {
            (kind, line): settle(kind, line, state.home, state.away) for kind, line in self.markets
        }


# -- basketball -------------------------------------------------------------------------------
class Basketball(Sport[basketball.BasketballModel, basketball.Clock]):
    """Points in play by the minute; quarter breaks stop betting; a level game goes to
    overtime. FIBA leagues play 40 minutes, the international pro league 48."""

    id = "basketball"
    pro_league = "Pro Basketball League"
    competitions = (
        (
            "Kenya",
            "KBF Premier League",
            ("Nairobi City Thunder", "KPA", "Ulinzi Warriors", "Strathmore Blades", "Equity Dumas"),
        ),
        (
            "Nigeria",
            "NBBF Premier League",
            ("Rivers Hoopers", "Kano Pillars", "Gombe Bulls", "Nigeria Customs", "Kwara Falcons"),
        ),
        (
            "Ghana",
            "National Basketball League",
            (
                "Accra Braves",
                "Kumasi Kings",
                "Tema Titans",
                "Tamale Thunder",
                "Cape Coast Dolphins",
            ),
        ),
        (
            "International",
            pro_league,
            ("Metro Knights", "Harbour Sharks", "Capital Hawks", "Desert Suns", "Lakeside Wolves"),
        ),
    )
    kickoffs = _slots(14, 21)
    per_day = (3, 6)

    def model(self, rng: random.Random, competition: Competition) -> basketball.BasketballModel:
        if competition[1] == self.pro_league:
            home, away, minutes = rng.uniform(106, 120), rng.uniform(100, 116), 48
        else:
            home, away, minutes = rng.uniform(74, 90), rng.uniform(68, 86), 40
        return basketball.BasketballModel(round(home, 1), round(away, 1), minutes)

    def default_model(self) -> basketball.BasketballModel:
        return basketball.BasketballModel(80.0, 76.0)

    def start(self, model: basketball.BasketballModel, minute: int) -> basketball.Clock:
        return basketball.clock_at(model, minute, 0, 0)

    def resume(
        self, model: basketball.BasketballModel, minute: int, score: tuple[int, int]
    ) -> basketball.Clock:
        return basketball.clock_at(model, minute, *score)  # no points in the gap

    def advance(
        self,
        model: basketball.BasketballModel,
        state: basketball.Clock,
        minute: int,
        rng: random.Random,
    ) -> list[Play[basketball.Clock]]:
        return basketball.advance(model, state, minute, rng)

    def _markets(self, model: basketball.BasketballModel) -> tuple[MarketKey, ...]:
        spread, total = basketball.pre_match_lines(model)
        return (
            (MarketType.MONEYLINE, None),
            (MarketType.ASIAN_HANDICAP, spread),
            (MarketType.OVER_UNDER, total),
        )

    def books(
        self,
        model: basketball.BasketballModel,
        state: basketball.Clock,
        margin: float,
        method: MarginMethod,
    ) -> list[Book]:
        live = basketball.model_at(model, state)
        return [
            Book(kind, line, basketball.price_market(live, kind, line, margin, method))
            for kind, line in self._markets(model)
        ]

    def score(self, state: basketball.Clock) -> tuple[int, int]:
        return state.home_points, state.away_points

    def results(self, model: basketball.BasketballModel, state: basketball.Clock) -> Results:
        return {
            (kind, line): settle(kind, line, state.home_points, state.away_points)
            for kind, line in self._markets(model)
        }


# -- tennis -----------------------------------------------------------------------------------
_MEN = ("Luca Moretti", "Pavel Novak", "Hugo Martin", "Kenji Sato", "Rafael Costa", "Tomas Berg")
_WOMEN = (
    "Sofia Rossi",
    "Elena Petrova",
    "Claire Dubois",
    "Yuki Tanaka",
    "Lucia Santos",
    "Ida Lund",
)


class Tennis(Sport[tennis.TennisModel, tennis.Match]):
    """Game by game, best of three sets; a break of serve or a set's end stops betting. The
    score in the database is in sets."""

    id = "tennis"
    competitions = (
        ("International", "Men's World Tour", _MEN),
        ("International", "Women's World Tour", _WOMEN),
        (
            "Kenya",
            "Nairobi Open",
            ("Daniel Kamau", "Brian Otieno", "Kevin Mwangi", "Victor Kiprop", "Paul Njoroge"),
        ),
        (
            "Nigeria",
            "Lagos Open",
            ("Chioma Eze", "Ngozi Okafor", "Aisha Bello", "Funmi Adeyemi", "Ada Nwosu"),
        ),
        (
            "Ghana",
            "Accra Open",
            ("Kwame Asante", "Kofi Mensah", "Yaw Boateng", "Kojo Owusu", "Ebo Quaye"),
        ),
    )
    kickoffs = _slots(8, 18)
    per_day = (3, 7)
    _women = ("Women's World Tour", "Lagos Open")

    def model(self, rng: random.Random, competition: Competition) -> tennis.TennisModel:
        low, high = (0.52, 0.62) if competition[1] in self._women else (0.60, 0.72)
        return tennis.TennisModel(
            round(rng.uniform(low, high), 3), round(rng.uniform(low, high), 3)
        )

    def default_model(self) -> tennis.TennisModel:
        return tennis.TennisModel(0.64, 0.62)

    def start(self, model: tennis.TennisModel, minute: int) -> tennis.Match:
        return tennis.Match(played=minute // TENNIS_GAME_MINUTES)

    def resume(
        self, model: tennis.TennisModel, minute: int, score: tuple[int, int]
    ) -> tennis.Match:
        # The games of earlier sets are gone with the old process: the set starts again at
        # 0-0 and the game markets can no longer be settled (they are void at the end).
        home_sets, away_sets = score
        return tennis.Match(
            home_sets, away_sets, played=minute // TENNIS_GAME_MINUTES, games_known=False
        )

    def advance(
        self, model: tennis.TennisModel, state: tennis.Match, minute: int, rng: random.Random
    ) -> list[Play[tennis.Match]]:
        return tennis.advance(model, state, minute // TENNIS_GAME_MINUTES, rng)

    def _markets(self, model: tennis.TennisModel) -> tuple[MarketKey, ...]:
        lines = tennis.pre_match_lines(model)
        return tuple((kind, lines.get(kind)) for kind in tennis.MARKETS)

    def books(
        self, model: tennis.TennisModel, state: tennis.Match, margin: float, method: MarginMethod
    ) -> list[Book]:
        return [
            Book(
                kind,
                line,
                tennis.price_market(model, state, kind, line, margin, method),
                open=state.games_known or kind not in GAME_MARKETS,
            )
            for kind, line in self._markets(model)
        ]

    def score(self, state: tennis.Match) -> tuple[int, int]:
        return state.home_sets, state.away_sets

    def results(self, model: tennis.TennisModel, state: tennis.Match) -> Results:
        results: Results = {}
        for kind, line in self._markets(model):
            if kind not in GAME_MARKETS:
                results[kind, line] = settle(kind, line, state.home_sets, state.away_sets)
            elif state.games_known:
                results[kind, line] = settle(kind, line, state.home_total, state.away_total)
            else:
                results[kind, line] = dict.fromkeys(OUTCOME_KEYS[kind], PUSH)
        return results


def market_status(book: Book, status: MarketStatus | None) -> MarketStatus | None:
    """The status a book is published with: a closed book stays suspended."""
    return status if book.open else "suspended"


SPORTS: dict[str, Sport[Any, Any]] = {
    sport.id: sport for sport in (Football(), Basketball(), Tennis())
}
