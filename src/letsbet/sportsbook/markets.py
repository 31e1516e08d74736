"""Market types, their lines and outcomes, and their settlement from a final count.

Pure: no I/O. A market settles on two final counts, home and away: the score for score markets
(goals, points, sets: 1x2, double_chance, btts, over_under, handicap, asian_handicap, moneyline)
and the games won for the tennis game markets (total_games, game_handicap; `GAME_MARKETS`).
So one over/under serves football goals and basketball points alike (including overtime: the
score is final), and a tennis set handicap is an asian_handicap on the score in sets.

Lines are integer hundredths of the counted unit ("2.5" -> 250, "-0.75" -> -75) so they compare,
hash and store exactly (`markets.line_hundredths`). Handicap lines are the HOME side's: home -0.75
means the home side starts the match at -0.75 and the away outcome carries +0.75.

A settled outcome is an `OutcomeSettlement`, which feeds the per-leg settlement formula (issue 4,
after Sportradar UOF's bet_settlement)

    factor = void_factor + (1 - void_factor) * (odds * dead_heat_factor if won else 0)

Football markets settled from the score produce exactly five results:

    result     won    void_factor  factor        when
    WIN        True   0            odds          the selection wins
    LOSS       False  0            0             the selection loses
    PUSH       False  1            1             a whole line lands exactly: stake back
    HALF_WIN   True   1/2          (1 + odds)/2  quarter line: one half wins, the other pushes
    HALF_LOSS  False  1/2          1/2           quarter line: one half pushes, the other loses

A quarter line (+-0.25, +-0.75, 1.25, ...) is two bets of half the stake each on the neighbouring
half and whole lines (-0.75 = -0.5 and -1.0; over 2.25 = over 2.0 and over 2.5). The two halves
can never split into a win and a loss, so no other combination exists. The two sides of a two-way
market (Asian handicap, over/under) always get mirrored results: WIN <-> LOSS,
HALF_WIN <-> HALF_LOSS, PUSH <-> PUSH. Dead heats do not occur in score markets
(dead_heat_factor stays 1); the field exists for feeds and other sports. A two-way winner
(moneyline) cannot end level in basketball (overtime) or tennis; should it (a football score, an
abandoned game resulted level), both sides push.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction
from functools import lru_cache

from letsbet.errors import Unprocessable

# Decimal odds are integer thousandths everywhere (2.50 -> 2500): the one definition of the range
# the catalogue stores, the pricer produces and bets accept.
MIN_ODDS_MILLI = 1001  # 1.001
MAX_ODDS_MILLI = 1_000_000  # 1000.00

__all__ = [
    "GAME_MARKETS",
    "HALF_LOSS",
    "HALF_WIN",
    "LOSS",
    "MAX_HANDICAP_HUNDREDTHS",
    "MAX_ODDS_MILLI",
    "MAX_TOTAL_HUNDREDTHS",
    "MIN_ODDS_MILLI",
    "OUTCOME_KEYS",
    "PUSH",
    "WIN",
    "InvalidMarket",
    "MarketType",
    "OutcomeSettlement",
    "check_line",
    "format_line",
    "market_name",
    "outcome_name",
    "parse_line",
    "settle",
]

# Wide enough for basketball (totals near 230 points, spreads near 20); a feed that sends more
# is wrong.
MAX_HANDICAP_HUNDREDTHS = 6000  # +-60
MAX_TOTAL_HUNDREDTHS = 40000  # 400


class InvalidMarket(Unprocessable, ValueError):
    code = "invalid_market"
    message = "The market, its line or the outcome is not valid."


class MarketType(StrEnum):
    MATCH_RESULT = "1x2"
    DOUBLE_CHANCE = "double_chance"
    OVER_UNDER = "over_under"  # total goals; whole lines push, quarter lines split
    BTTS = "btts"  # both teams to score
    HANDICAP = "handicap"  # European 3-way handicap on whole lines
    ASIAN_HANDICAP = "asian_handicap"  # 2-way, quarter lines split, whole lines push
    MONEYLINE = "moneyline"  # 2-way winner, overtime included; a level score pushes
    TOTAL_GAMES = "total_games"  # tennis: over/under on games won by both players
    GAME_HANDICAP = "game_handicap"  # tennis: asian handicap on games won


# Settled on games won (a tiebreak counts as one game), not on the score in sets.
GAME_MARKETS = frozenset({MarketType.TOTAL_GAMES, MarketType.GAME_HANDICAP})

OUTCOME_KEYS: dict[MarketType, tuple[str, ...]] = {
    MarketType.MATCH_RESULT: ("home", "draw", "away"),
    MarketType.DOUBLE_CHANCE: ("1X", "12", "X2"),
    MarketType.OVER_UNDER: ("over", "under"),
    MarketType.BTTS: ("yes", "no"),
    MarketType.HANDICAP: ("home", "draw", "away"),
    MarketType.ASIAN_HANDICAP: ("home", "away"),
    MarketType.MONEYLINE: ("home", "away"),
    MarketType.TOTAL_GAMES: ("over", "under"),
    MarketType.GAME_HANDICAP: ("home", "away"),
}


@dataclass(frozen=True, slots=True)
class OutcomeSettlement:
    """How one outcome settles: see the module docstring for the formula and the five results."""

    won: bool
    void_factor: Fraction = Fraction(0)
    dead_heat_factor: Fraction = Fraction(1)

    def __post_init__(self) -> None:
        if not 0 <= self.void_factor <= 1:
            raise ValueError(f"void_factor must be within 0..1, got {self.void_factor}")
        if not 0 < self.dead_heat_factor <= 1:
            raise ValueError(f"dead_heat_factor must be within (0, 1], got {self.dead_heat_factor}")

    def factor(self, odds_milli: int) -> Fraction:
        """What one unit staked at `odds_milli` returns, exactly."""
        if isinstance(odds_milli, bool) or not isinstance(odds_milli, int) or odds_milli <= 0:
            raise ValueError(f"odds_milli must be a positive int, got {odds_milli!r}")
        if not self.won:
            return self.void_factor
        odds = Fraction(odds_milli, 1000)
        return self.void_factor + (1 - self.void_factor) * odds * self.dead_heat_factor


WIN = OutcomeSettlement(won=True)
LOSS = OutcomeSettlement(won=False)
PUSH = OutcomeSettlement(won=False, void_factor=Fraction(1))
HALF_WIN = OutcomeSettlement(won=True, void_factor=Fraction(1, 2))
HALF_LOSS = OutcomeSettlement(won=False, void_factor=Fraction(1, 2))


# -- lines ------------------------------------------------------------------------------------
_LINE = re.compile(r"[+-]?[0-9]{1,3}(?:\.[0-9]{1,2})?")  # ASCII digits only
_TOTALS = {MarketType.OVER_UNDER, MarketType.TOTAL_GAMES}
_TWO_WAY_HANDICAPS = {MarketType.ASIAN_HANDICAP, MarketType.GAME_HANDICAP}
_LINED = _TOTALS | _TWO_WAY_HANDICAPS | {MarketType.HANDICAP}


def check_line(market_type: MarketType, line_hundredths: int | None) -> int | None:
    """Return the line if `market_type` takes it, else raise InvalidMarket.

    over_under, total_games: a positive quarter line up to 400; asian_handicap, game_handicap: a
    quarter line within +-60 (0 is "draw no bet"); handicap: a whole line within +-60; the others
    take no line."""
    market_type = _market_type(market_type)
    if market_type not in _LINED:
        if line_hundredths is not None:
            raise InvalidMarket(f"{market_type.value} takes no line", line=line_hundredths)
        return None
    if isinstance(line_hundredths, bool) or not isinstance(line_hundredths, int):
        raise InvalidMarket(f"{market_type.value} needs a line", line=line_hundredths)
    step = 100 if market_type is MarketType.HANDICAP else 25
    if line_hundredths % step:
        unit = "whole" if step == 100 else "quarter (0.25)"
        raise InvalidMarket(f"{market_type.value} lines must be {unit} lines", line=line_hundredths)
    if market_type in _TOTALS:
        if not 0 < line_hundredths <= MAX_TOTAL_HUNDREDTHS:
            raise InvalidMarket(
                "an over/under line must be above 0 and at most 400", line=line_hundredths
            )
    elif abs(line_hundredths) > MAX_HANDICAP_HUNDREDTHS:
        raise InvalidMarket("a handicap must be within -60..+60", line=line_hundredths)
    return line_hundredths


def parse_line(market_type: MarketType, line: str | None) -> int | None:
    """Parse a line as written ("2.5", "-0.75", "+1") into hundredths and check it."""
    market_type = _market_type(market_type)
    if line is None or (market_type not in _LINED and not line.strip()):
        return check_line(market_type, None)
    text = line.strip()
    if not _LINE.fullmatch(text):
        raise InvalidMarket(f'a line looks like "2.5", "-0.75" or "+1", got {line!r}', line=line)
    whole, _, decimals = text.lstrip("+-").partition(".")
    value = int(whole) * 100 + int(decimals.ljust(2, "0"))
    return check_line(market_type, -value if text.startswith("-") else value)


def format_line(market_type: MarketType, line_hundredths: int | None) -> str:
    """The line as players read it: "2.5", "-0.75", "+0.25", "-1.0" (Asian), "+1" (3-way), "0";
    "" for markets without a line. `parse_line` reads it back."""
    market_type = _market_type(market_type)
    line = check_line(market_type, line_hundredths)
    if line is None:
        return ""
    if line == 0:
        return "0"
    whole, rest = divmod(abs(line), 100)
    if market_type is MarketType.HANDICAP:
        text = str(whole)
    elif rest == 0:
        text = f"{whole}.0"
    else:
        text = f"{whole}.{rest:02d}".rstrip("0")
    if market_type in _TOTALS:
        return text
    return ("-" if line < 0 else "+") + text


def market_name(market_type: MarketType, line_hundredths: int | None) -> str:
    market_type = _market_type(market_type)
    line = format_line(market_type, line_hundredths)
    match market_type:
        case MarketType.MATCH_RESULT:
            return "1X2"
        case MarketType.DOUBLE_CHANCE:
            return "Double Chance"
        case MarketType.OVER_UNDER:
            return f"Over/Under {line}"
        case MarketType.BTTS:
            return "Both Teams To Score"
        case MarketType.HANDICAP:
            return f"Handicap {line}"
        case MarketType.ASIAN_HANDICAP:
            return f"Asian Handicap {line}"
        case MarketType.MONEYLINE:
            return "Winner"
        case MarketType.TOTAL_GAMES:
            return f"Total Games {line}"
        case MarketType.GAME_HANDICAP:
            return f"Game Handicap {line}"


def outcome_name(
    market_type: MarketType, key: str, line_hundredths: int | None, home: str, away: str
) -> str:
    """The outcome's label: "Arsenal", "Draw", "Arsenal or Draw", "Over 2.5", "Yes",
    "Arsenal (-1)", "Draw (-1)", "Chelsea (+1)", "Arsenal -0.75", "Chelsea +0.75"; the same
    shapes for the basketball and tennis markets ("Lakers", "Over 22.5", "Nadal -3.5")."""
    market_type = _market_type(market_type)
    _check_key(market_type, key)
    line = format_line(market_type, line_hundredths)
    if market_type in _TWO_WAY_HANDICAPS or market_type is MarketType.HANDICAP:
        assert line_hundredths is not None  # checked by format_line
        opposite = format_line(market_type, -line_hundredths)  # the away side's line
    match market_type:
        case MarketType.MATCH_RESULT | MarketType.MONEYLINE:
            return {"home": home, "draw": "Draw", "away": away}[key]
        case MarketType.DOUBLE_CHANCE:
            return {"1X": f"{home} or Draw", "12": f"{home} or {away}", "X2": f"Draw or {away}"}[
                key
            ]
        case MarketType.OVER_UNDER | MarketType.TOTAL_GAMES:
            return f"{key.capitalize()} {line}"
        case MarketType.BTTS:
            return key.capitalize()
        case MarketType.HANDICAP:
            return {
                "home": f"{home} ({line})",
                "draw": f"Draw ({line})",
                "away": f"{away} ({opposite})",
            }[key]
        case MarketType.ASIAN_HANDICAP | MarketType.GAME_HANDICAP:
            return f"{home} {line}" if key == "home" else f"{away} {opposite}"


# -- settlement -------------------------------------------------------------------------------
def settle(
    market_type: MarketType, line_hundredths: int | None, home_goals: int, away_goals: int
) -> dict[str, OutcomeSettlement]:
    """Settle every outcome of a market from the final counts it settles on (the score; games
    won for GAME_MARKETS), keyed like OUTCOME_KEYS. Football's score is regular time; basketball's
    includes overtime. See the module docstring for the results and their factors."""
    market_type = _market_type(market_type)
    line = check_line(market_type, line_hundredths)
    for name, goals in (("home_goals", home_goals), ("away_goals", away_goals)):
        if isinstance(goals, bool) or not isinstance(goals, int) or goals < 0:
            raise ValueError(f"{name} must be an int >= 0, got {goals!r}")
    return dict(_settle(market_type, line, home_goals, away_goals))


@lru_cache(maxsize=65536)
def _settle(
    market_type: MarketType, line: int | None, home: int, away: int
) -> tuple[tuple[str, OutcomeSettlement], ...]:
    # Cached: the pricing model settles every cell of a score matrix for every market it prices.
    keys = OUTCOME_KEYS[market_type]
    match market_type:
        case MarketType.MATCH_RESULT | MarketType.HANDICAP:
            diff = 100 * (home - away) + (line or 0)
            winner = "home" if diff > 0 else "away" if diff < 0 else "draw"
            return tuple((key, WIN if key == winner else LOSS) for key in keys)
        case MarketType.DOUBLE_CHANCE:
            result = "1" if home > away else "2" if home < away else "X"
            return tuple((key, WIN if result in key else LOSS) for key in keys)
        case MarketType.BTTS:
            both = home > 0 and away > 0
            return (("yes", WIN if both else LOSS), ("no", LOSS if both else WIN))
        case MarketType.MONEYLINE:
            return (("home", _whole(home - away)), ("away", _whole(away - home)))
        case MarketType.OVER_UNDER | MarketType.TOTAL_GAMES:
            assert line is not None
            excess = 100 * (home + away) - line
            return (("over", _split(excess)), ("under", _split(-excess)))
        case MarketType.ASIAN_HANDICAP | MarketType.GAME_HANDICAP:
            assert line is not None
            excess = 100 * (home - away) + line
            return (("home", _split(excess)), ("away", _split(-excess)))


def _split(excess: int) -> OutcomeSettlement:
    """Settle a two-way selection that beat its line by `excess` hundredths of a goal.

    Half and whole lines settle as one bet; a quarter line as two half-stakes on the lines
    0.25 either side of it."""
    if excess % 50:
        halves = (_whole(excess - 25), _whole(excess + 25))
        won = sum(h is WIN for h in halves)
        pushed = sum(h is PUSH for h in halves)
        if won and won + pushed < 2:  # a half-win next to a half-loss cannot happen
            raise AssertionError(f"quarter line split into a win and a loss: {excess}")
        if won:
            return WIN if won == 2 else HALF_WIN
        return HALF_LOSS if pushed else LOSS
    return _whole(excess)


def _whole(excess: int) -> OutcomeSettlement:
    return WIN if excess > 0 else PUSH if excess == 0 else LOSS


def _market_type(market_type: MarketType | str) -> MarketType:
    try:
        return MarketType(market_type)
    except ValueError:
        raise InvalidMarket(f"unknown market type {market_type!r}") from None


def _check_key(market_type: MarketType, key: str) -> None:
    if key not in OUTCOME_KEYS[market_type]:
        raise InvalidMarket(f"{market_type.value} has no outcome {key!r}", outcome=key)
