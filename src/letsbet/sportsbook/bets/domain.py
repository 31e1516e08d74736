"""Pure bet math: lines, settlement factors, returns, cash-out quotes, placement checks. No I/O.

Units, fixed for the whole sportsbook:
- Decimal odds are integer thousandths, `odds_milli` (2.50 -> 2500), MIN_ODDS_MILLI..MAX_ODDS_MILLI.
- Money is `int` minor units. Factors (void, dead heat, margin) are exact `Fraction`s; a `Decimal`
  or `int` is accepted and converted exactly, a float never.

Rounding: every amount is computed as an exact Fraction and rounded DOWN to the minor unit once,
at the end (once per line for returns, once per quote for cash-out): the house never overpays
because of rounding, and a line never loses more than one minor unit to it.

Settlement (issue 4, after Sportradar UOF's void_factor and dead_heat_factor), per leg:
    factor = void + (1 - void) * (odds * dead_heat if won else 0)
so a void leg counts 1, a lost leg 0, an Asian half-win 0.5 + 0.5 * odds, a half-loss 0.5, and a
dead heat divides the winnings. A line's return is stake_per_line * the product of its legs'
factors; the bet's return is the sum of its lines, clipped to the bet's max payout if it has one.

Errors (all 422, rendered by the one error handler):
    TooManyLegs      too_many_legs      more selections than allowed (or >1 on a single)
    NotEnoughLegs    not_enough_legs    fewer than the bet type needs
    SameEventLegs    same_event_legs    two legs from one event in a multi or system
    InvalidSystem    invalid_system     see `systems`
Malformed arguments that only a bug could produce (odds out of range, mismatched lengths)
raise ValueError or TypeError.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction

from letsbet.errors import NotFound, Unprocessable

# Re-exported: the system helpers are part of this module's public surface.
from letsbet.sportsbook.bets.systems import MAX_SYSTEM_LINES as MAX_SYSTEM_LINES
from letsbet.sportsbook.bets.systems import NAMED_SYSTEMS as NAMED_SYSTEMS
from letsbet.sportsbook.bets.systems import InvalidSystem as InvalidSystem
from letsbet.sportsbook.bets.systems import expand_lines as expand_lines
from letsbet.sportsbook.bets.systems import line_count as line_count
from letsbet.sportsbook.bets.systems import parse_system as parse_system
from letsbet.sportsbook.markets import MAX_ODDS_MILLI as MAX_ODDS_MILLI
from letsbet.sportsbook.markets import MIN_ODDS_MILLI as MIN_ODDS_MILLI

MAX_LEGS = 20
_MILLI = 1000

# What a void factor, dead-heat factor or margin may be given as; stored as a Fraction.
Ratio = Fraction | Decimal | int


class BetType(StrEnum):
    SINGLE = "single"
    MULTI = "multi"
    SYSTEM = "system"


MIN_LEGS: dict[BetType, int] = {BetType.SINGLE: 1, BetType.MULTI: 2, BetType.SYSTEM: 2}


class OddsChangePolicy(StrEnum):
    NONE = "none"  # accept only the exact price the player saw
    HIGHER = "higher"  # accept the same or a better (higher) price
    ANY = "any"  # accept whatever the current price is


# -- errors -----------------------------------------------------------------------------------
class BetNotFound(NotFound):
    """No such bet, or not the caller's: a bet the caller does not own is not revealed."""

    code = "bet_not_found"
    message = "No such bet."


class TooManyLegs(Unprocessable):
    code = "too_many_legs"
    message = "Too many selections for this bet."


class NotEnoughLegs(Unprocessable):
    code = "not_enough_legs"
    message = "Not enough selections for this bet type."


class SameEventLegs(Unprocessable):
    code = "same_event_legs"
    message = "A multi or system bet cannot have two selections from the same event."


# -- placement checks -------------------------------------------------------------------------
def validate_legs(event_ids: Sequence[int], bet_type: BetType, max_legs: int = MAX_LEGS) -> None:
    """Check the selections' count and events for `bet_type`; `event_ids[i]` is leg i's event.

    A single has exactly one leg; a multi or system has MIN_LEGS..max_legs legs, no two from
    the same event (correlated outcomes cannot be combined).
    """
    count = len(event_ids)
    if count < MIN_LEGS[bet_type]:
        raise NotEnoughLegs(
            f"A {bet_type} bet needs at least {MIN_LEGS[bet_type]} selections; got {count}.",
            legs=count,
        )
    if bet_type is BetType.SINGLE:
        if count > 1:
            raise TooManyLegs("A single bet has exactly one selection.", legs=count, max_legs=1)
        return
    if count > max_legs:
        raise TooManyLegs(
            f"At most {max_legs} selections per bet; got {count}.", legs=count, max_legs=max_legs
        )
    seen: set[int] = set()
    for event_id in event_ids:
        if event_id in seen:
            raise SameEventLegs(event_id=event_id)
        seen.add(event_id)


def lines_for(
    bet_type: BetType,
    leg_count: int,
    system: str | None,
    *,
    max_lines: int = MAX_SYSTEM_LINES,
) -> list[tuple[int, ...]]:
    """The lines a bet stakes on, as tuples of leg indexes.

    single -> [(0,)]; multi -> [(0, 1, ..., n-1)]; system -> every combination the system names
    (see `systems.expand_lines` for the order). `system` is required for, and only for, systems.
    """
    if bet_type is not BetType.SYSTEM and system is not None:
        raise InvalidSystem(f"A {bet_type} bet takes no system.", system=system)
    if leg_count < MIN_LEGS[bet_type]:
        raise NotEnoughLegs(
            f"A {bet_type} bet needs at least {MIN_LEGS[bet_type]} selections; got {leg_count}.",
            legs=leg_count,
        )
    if bet_type is BetType.SINGLE:
        if leg_count != 1:
            raise TooManyLegs("A single bet has exactly one selection.", legs=leg_count)
        return [(0,)]
    if bet_type is BetType.MULTI:
        return [tuple(range(leg_count))]
    if system is None:
        raise InvalidSystem('A system bet needs a system, like "2/3" or "yankee".')
    return expand_lines(leg_count, parse_system(system, leg_count, max_lines=max_lines))


def accept_price(seen_milli: int, current_milli: int, policy: OddsChangePolicy) -> bool:
    """Whether a leg priced `current_milli` by the server may be accepted for a player who saw
    `seen_milli`, under the player's odds-change policy."""
    if policy is OddsChangePolicy.ANY:
        return True
    if policy is OddsChangePolicy.HIGHER:
        return current_milli >= seen_milli
    return current_milli == seen_milli


def total_stake(stake_per_line: int, line_count: int) -> int:
    """What the player pays: the stake per line times the number of lines."""
    _check_amount("stake_per_line", stake_per_line)
    if line_count < 1:
        raise ValueError(f"line_count must be >= 1, got {line_count}")
    return stake_per_line * line_count


# -- settlement -------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class LegResult:
    """A resulted leg. `void_factor` is the share of the stake refunded (0..1; 0.5 for an Asian
    half result), `dead_heat_factor` the share of the winnings paid (0 < f <= 1).

    Either factor may be passed as a Fraction, Decimal or int (converted exactly; floats are
    refused); both are Fractions afterwards. `LegResult.of` also takes None (a nullable column).
    """

    won: bool
    void_factor: Fraction = Fraction(0)
    dead_heat_factor: Fraction = Fraction(1)

    def __post_init__(self) -> None:
        void = _fraction("void_factor", self.void_factor)
        dead_heat = _fraction("dead_heat_factor", self.dead_heat_factor)
        if not 0 <= void <= 1:
            raise ValueError(f"void_factor must be between 0 and 1, got {void}")
        if not 0 < dead_heat <= 1:
            raise ValueError(f"dead_heat_factor must be > 0 and <= 1, got {dead_heat}")
        object.__setattr__(self, "void_factor", void)
        object.__setattr__(self, "dead_heat_factor", dead_heat)

    @classmethod
    def of(
        cls, won: bool, void_factor: Ratio | None = None, dead_heat_factor: Ratio | None = None
    ) -> LegResult:
        return cls(
            won,
            _fraction("void_factor", 0 if void_factor is None else void_factor),
            _fraction("dead_heat_factor", 1 if dead_heat_factor is None else dead_heat_factor),
        )


def leg_factor(odds_milli: int, result: LegResult) -> Fraction:
    """What one unit staked on this leg returns, exactly:
    void + (1 - void) * (odds * dead_heat if won else 0)."""
    check_odds_milli(odds_milli)
    void = result.void_factor
    if not result.won:
        return void
    return void + (1 - void) * Fraction(odds_milli, _MILLI) * result.dead_heat_factor


def line_factor(leg_odds: Sequence[int], results: Sequence[LegResult]) -> Fraction:
    """The product of a line's leg factors (its legs' odds and results, in the same order)."""
    if not leg_odds or len(leg_odds) != len(results):
        raise ValueError("a line needs one result per leg and at least one leg")
    return math.prod(
        (leg_factor(o, r) for o, r in zip(leg_odds, results, strict=True)), start=Fraction(1)
    )


def line_return(stake_per_line: int, leg_odds: Sequence[int], results: Sequence[LegResult]) -> int:
    """One line's return: stake_per_line * line factor, rounded down to the minor unit."""
    _check_amount("stake_per_line", stake_per_line)
    return math.floor(stake_per_line * line_factor(leg_odds, results))


def line_returns(
    stake_per_line: int,
    lines: Sequence[tuple[int, ...]],
    leg_odds: Sequence[int],
    results: Sequence[LegResult],
) -> list[int]:
    """Each line's return, in line order (each rounded down on its own); `lines` index into
    `leg_odds` and `results`, which hold every leg of the bet."""
    _check_amount("stake_per_line", stake_per_line)
    if len(leg_odds) != len(results):
        raise ValueError(f"{len(leg_odds)} legs but {len(results)} results")
    factors = [leg_factor(o, r) for o, r in zip(leg_odds, results, strict=True)]
    return [
        math.floor(
            stake_per_line
            * math.prod((factors[i] for i in _line(line, len(factors))), start=Fraction(1))
        )
        for line in lines
    ]


def bet_return(
    stake_per_line: int,
    lines: Sequence[tuple[int, ...]],
    leg_odds: Sequence[int],
    results: Sequence[LegResult],
    *,
    max_payout: int | None = None,
) -> int:
    """What a settled bet returns to the player (stake included, before winnings tax).

    The sum of its lines' returns (each rounded down), clipped to `max_payout` when given. With
    every leg void each line returns its stake, so the bet refunds its total stake (placement
    rejects a bet whose potential return exceeds its cap, so a cap never eats a refund).
    """
    total = sum(line_returns(stake_per_line, lines, leg_odds, results))
    return _cap(total, max_payout)


@dataclass(frozen=True, slots=True)
class Settlement:
    """How a bet settles on its legs' results: its status (void when every leg is void, else
    won when it returns anything, else lost), its return and each line's return."""

    status: str  # "won" | "lost" | "void"
    returned: int
    line_returns: tuple[int, ...]


def settle(
    stake_per_line: int,
    lines: Sequence[tuple[int, ...]],
    leg_odds: Sequence[int],
    results: Sequence[LegResult],
    *,
    max_payout: int | None = None,
) -> Settlement:
    """Settle a bet whose legs are all resulted (see `bet_return` for the return)."""
    amounts = tuple(line_returns(stake_per_line, lines, leg_odds, results))
    returned = _cap(sum(amounts), max_payout)
    if all(r.void_factor == 1 for r in results):
        status = "void"
    else:
        status = "won" if returned > 0 else "lost"
    return Settlement(status, returned, amounts)


def potential_return(
    stake_per_line: int, lines: Sequence[tuple[int, ...]], leg_odds: Sequence[int]
) -> int:
    """The return if every leg wins: sum over lines of stake * product of odds, each line
    rounded down. Uses the exact odds, never the rounded `combined_odds_milli`."""
    _check_amount("stake_per_line", stake_per_line)
    for odds in leg_odds:
        check_odds_milli(odds)
    total = 0
    for line in lines:
        legs = _line(line, len(leg_odds))
        total += stake_per_line * math.prod(leg_odds[i] for i in legs) // _milli_power(len(legs))
    return total


def combined_odds_milli(leg_odds: Sequence[int]) -> int:
    """A multi's price for display, in thousandths, rounded down (may exceed MAX_ODDS_MILLI)."""
    if not leg_odds:
        raise ValueError("combined odds of no legs")
    for odds in leg_odds:
        check_odds_milli(odds)
    return math.prod(leg_odds) // _milli_power(len(leg_odds) - 1)


# -- cash-out ---------------------------------------------------------------------------------
def cash_out_quote(
    stake: int,
    placed_odds: Sequence[int],
    current_odds: Sequence[int | None],
    *,
    margin: Ratio,
    lost: bool = False,
    results: Sequence[LegResult | None] | None = None,
    max_payout: int | None = None,
) -> int:
    """What the house offers now to settle a single or multi early (issue 4, must have 8):

        quote = stake * prod(settled legs' factors) * prod(placed / current over unsettled legs)
                      * (1 - margin), rounded down

    `placed_odds[i]` is leg i's accepted price; `current_odds[i]` its price now, or None once the
    leg is settled. A settled leg contributes its settlement factor: `leg_factor(placed, result)`
    when `results[i]` is given, else its placed odds (a plain win) - so with plain wins this is
    the issue's stake * prod(placed) / prod(current of unsettled legs) * (1 - margin). A settled
    void leg therefore counts 1, and a lost leg (or `lost=True`) makes the quote 0.

    With margin 0 and nothing moved (every leg unsettled, current == placed) the quote is the
    stake: the fair value of an unchanged bet. Clipped to `max_payout` when given.
    """
    _check_amount("stake", stake)
    margin_f = _fraction("margin", margin)
    if not 0 <= margin_f <= 1:
        raise ValueError(f"margin must be between 0 and 1, got {margin_f}")
    if not placed_odds or len(placed_odds) != len(current_odds):
        raise ValueError("cash-out needs one current price (or None) per leg")
    if results is not None and len(results) != len(placed_odds):
        raise ValueError("cash-out results must have one entry (or None) per leg")
    if lost:
        return 0
    value = Fraction(stake)
    for i, (placed, current) in enumerate(zip(placed_odds, current_odds, strict=True)):
        result = None if results is None else results[i]
        if current is None:
            factor = leg_factor(placed, LegResult(won=True) if result is None else result)
        elif result is not None:
            raise ValueError(f"leg {i} is settled but still has a current price")
        else:
            check_odds_milli(placed)
            check_odds_milli(current)
            factor = Fraction(placed, current)
        if factor == 0:
            return 0
        value *= factor
    return _cap(math.floor(value * (1 - margin_f)), max_payout)


# -- helpers ----------------------------------------------------------------------------------
def check_odds_milli(odds_milli: int) -> None:
    """Raise ValueError unless `odds_milli` is an int within MIN_ODDS_MILLI..MAX_ODDS_MILLI."""
    if isinstance(odds_milli, bool) or not isinstance(odds_milli, int):
        raise TypeError(f"odds_milli must be an int, got {type(odds_milli).__name__}")
    if not MIN_ODDS_MILLI <= odds_milli <= MAX_ODDS_MILLI:
        raise ValueError(
            f"odds_milli must be between {MIN_ODDS_MILLI} and {MAX_ODDS_MILLI}, got {odds_milli}"
        )


def _check_amount(name: str, amount: int) -> None:
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise TypeError(f"{name} must be an int of minor units, got {type(amount).__name__}")
    if amount < 0:
        raise ValueError(f"{name} must be >= 0 minor units, got {amount}")


def _fraction(name: str, value: Ratio) -> Fraction:
    if isinstance(value, Fraction):
        return value
    if isinstance(value, Decimal) and value.is_finite():
        return Fraction(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return Fraction(value)
    raise TypeError(f"{name} must be a Fraction, finite Decimal or int, got {value!r}")


def _line(line: tuple[int, ...], leg_count: int) -> tuple[int, ...]:
    if not line or len(set(line)) != len(line) or any(not 0 <= i < leg_count for i in line):
        raise ValueError(f"line {line} is not a set of leg indexes below {leg_count}")
    return line


def _milli_power(exponent: int) -> int:
    power: int = _MILLI**exponent  # int ** int is typed Any (a negative exponent gives a float)
    return power


def _cap(amount: int, max_payout: int | None) -> int:
    if max_payout is None:
        return amount
    _check_amount("max_payout", max_payout)
    return min(amount, max_payout)
