"""Pure rules of crash bets: limits, cash-out decisions, the max-profit cap. No I/O, no clock.

Every decision is a function of what a round fixes when it takes off (crash point, crash time,
cap) and the time a command was received, so the engine, any api replica and a newly elected
leader reach the same result for the same bet. Multipliers are integer hundredths.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from letsbet.crash.curve import ONE, multiplier_at, payout, time_to_reach
from letsbet.errors import Conflict, NotFound, Unprocessable

MIN_AUTO_CASHOUT = 101  # 1.01x: at 1.00x the round may already be over
MAX_AUTO_CASHOUT = 100_000_000  # 1,000,000.00x
_MULTIPLIER = re.compile(r"^[0-9]{1,9}(\.[0-9]{1,2})?$")


class RoundStatus(StrEnum):
    BETTING = "betting"
    FLYING = "flying"
    CRASHED = "crashed"


class BetStatus(StrEnum):
    ACTIVE = "active"
    CASHED_OUT = "cashed_out"
    LOST = "lost"


class CashoutKind(StrEnum):
    MANUAL = "manual"
    AUTO = "auto"
    CAP = "cap"  # the round's max-profit cap forced it


# -- errors ----------------------------------------------------------------------------------------
class GameNotFound(NotFound):
    code = "game_not_found"
    message = "No such crash game."


class RoundNotFound(NotFound):
    code = "round_not_found"
    message = "No such round."


class BetNotFound(NotFound):
    code = "bet_not_found"
    message = "No such bet."


class ChainNotFound(NotFound):
    code = "chain_not_found"
    message = "This game has no hash chain yet."


class BettingClosed(Conflict):
    code = "betting_closed"
    message = "Bets are taken only while the next round's betting window is open."


class TooManyBets(Conflict):
    code = "too_many_bets"
    message = "You already have the most bets allowed in this round."


class RoundNotStarted(Conflict):
    code = "round_not_started"
    message = "The round has not taken off yet."


class RoundCrashed(Conflict):
    code = "round_crashed"
    message = "Too late: the round crashed before the cash-out arrived."


class InvalidAutoCashout(Unprocessable):
    code = "invalid_auto_cashout"
    message = "auto_cashout must be a multiplier from 1.01 to 1000000.00 with two decimals."


class StakeBelowMinimum(Unprocessable):
    code = "stake_below_minimum"


class StakeAboveMaximum(Unprocessable):
    code = "stake_above_maximum"


# -- input -----------------------------------------------------------------------------------------
def parse_multiplier(text: str) -> int:
    """ "2.50" -> 250; InvalidAutoCashout unless 1.01 <= value <= 1,000,000.00, two decimals."""
    if not isinstance(text, str) or not _MULTIPLIER.match(text):
        raise InvalidAutoCashout()
    whole, _, cents = text.partition(".")
    value = int(whole) * 100 + int(cents.ljust(2, "0") or 0)
    if not MIN_AUTO_CASHOUT <= value <= MAX_AUTO_CASHOUT:
        raise InvalidAutoCashout()
    return value


def check_stake(amount: int, *, minimum: int, maximum: int, shown: Mapping[str, str]) -> None:
    """Per-tenant stake limits; `shown` carries the limits formatted for the message."""
    if amount < minimum:
        raise StakeBelowMinimum(f"The minimum stake is {shown['minimum']}.", minimum=minimum)
    if amount > maximum:
        raise StakeAboveMaximum(f"The maximum stake is {shown['maximum']}.", maximum=maximum)


def player_alias(user_id: uuid.UUID) -> str:
    """What other players see instead of an id or a phone number."""
    return "P" + hashlib.blake2b(user_id.bytes, digest_size=3).hexdigest()


def elapsed_ms(since: datetime, now: datetime) -> int:
    """Whole milliseconds from `since` to `now` (0 if `now` is earlier: clock skew)."""
    return max(0, (now - since) // timedelta(milliseconds=1))


# -- a round in flight -----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Flight:
    """What a round fixes at take-off: where it crashes (multiplier and millisecond) and the
    multiplier at which the max-profit cap force-cashes every bet still riding (None: never)."""

    crash_point: int
    cap: int | None = None

    @property
    def crash_ms(self) -> int:
        return time_to_reach(self.crash_point)


def forced_multiplier(auto: int | None, flight: Flight) -> tuple[int, CashoutKind] | None:
    """Where the server cashes a bet out by itself: its auto-cash-out target or the round's
    cap, whichever comes first, if the round reaches it (at or below the crash point)."""
    if flight.crash_point <= ONE:
        return None  # an instant crash (1.00x) leaves no moment to cash out at all
    best: tuple[int, CashoutKind] | None = None
    for limit, kind in ((auto, CashoutKind.AUTO), (flight.cap, CashoutKind.CAP)):
        if limit is not None and limit <= flight.crash_point and (best is None or limit < best[0]):
            best = (limit, kind)
    return best


def cashout_at(elapsed: int, *, auto: int | None, flight: Flight) -> tuple[int, CashoutKind] | None:
    """What a cash-out received `elapsed` ms after take-off pays: (multiplier, kind), or None
    when the round crashed first. A bet the server should already have cashed out (auto target
    or cap passed) is paid at that multiplier, whoever processes it first."""
    now = multiplier_at(elapsed)
    forced = forced_multiplier(auto, flight)
    if forced is not None and forced[0] <= now:
        return forced
    if elapsed >= flight.crash_ms:
        return None
    return now, CashoutKind.MANUAL


@dataclass(frozen=True, slots=True)
class Riding:
    """A bet still in the air, as the engine sees it."""

    key: object
    auto: int | None


def due_cashouts(
    bets: Iterable[Riding], elapsed: int, flight: Flight
) -> list[tuple[Riding, int, CashoutKind]]:
    """Bets the server must cash out by `elapsed`, in ascending multiplier order."""
    now = multiplier_at(elapsed)
    due = []
    for bet in bets:
        forced = forced_multiplier(bet.auto, flight)
        if forced is not None and forced[0] <= now:
            due.append((bet, *forced))
    due.sort(key=lambda item: item[1])
    return due


def next_due_ms(bets: Iterable[Riding], elapsed: int, flight: Flight) -> int:
    """The next millisecond the server must act at: a forced cash-out or the crash."""
    now = multiplier_at(elapsed)
    upcoming = [flight.crash_ms]
    for bet in bets:
        forced = forced_multiplier(bet.auto, flight)
        if forced is not None and forced[0] > now:
            upcoming.append(time_to_reach(forced[0]))
    return min(upcoming)


# -- the max-profit cap ----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Exposure:
    """One bet of a round for the cap: settled bets have a fixed profit, riding ones grow."""

    currency: str
    amount: int
    auto: int | None = None
    settled_profit: int | None = None  # payout - stake once cashed out (None while riding)


def cap_multiplier(exposures: Sequence[Exposure], caps: Mapping[str, int]) -> int | None:
    """The highest multiplier at which the players' total profit in each currency stays within
    its cap (minor units), assuming every riding bet rides on except to its auto-cash-out; None
    when the cap can never be reached.

    Riding profit is taken as stake x m / 100 - stake before rounding down, an upper bound on
    what is paid, so forcing everyone out at this multiplier never pays more than the cap. Cash-
    outs only lower the future profit of the bets they settle, so recomputing after them can
    only raise this multiplier.
    """
    by_currency: dict[str, list[Exposure]] = {}
    for exposure in exposures:
        by_currency.setdefault(exposure.currency, []).append(exposure)
    limits = [_cap_for(bets, caps[currency]) for currency, bets in by_currency.items()]
    found = [limit for limit in limits if limit is not None]
    return min(found) if found else None


def _cap_for(bets: Sequence[Exposure], cap: int) -> int | None:
    fixed = sum(b.settled_profit for b in bets if b.settled_profit is not None)
    riding = [b for b in bets if b.settled_profit is None]
    stakes = sum(b.amount for b in riding)  # the stakes still growing with the multiplier
    autos = sorted((b for b in riding if b.auto is not None), key=lambda b: b.auto or 0)
    i = 0
    while True:
        # Between auto targets the liability is fixed + stakes * m / 100 - stakes.
        limit = None if stakes == 0 else 100 * (cap - fixed + stakes) // stakes
        next_target = autos[i].auto if i < len(autos) else None
        if limit is not None and (next_target is None or limit < next_target):
            return max(ONE, limit)
        if next_target is None:
            return None
        while i < len(autos) and autos[i].auto == next_target:
            fixed += payout(autos[i].amount, next_target) - autos[i].amount
            stakes -= autos[i].amount
            i += 1
