"""Responsible gaming rules, pure: self-exclusion, time-outs, deposit and loss limits.

The rules follow what the licensing regulators (BCLB, the Lagos State Lotteries and Gaming
Authority, Ghana's Gaming Commission) and common practice expect of a player-set control: a
control that protects the player takes effect at once; a change that loosens it never does.
Self-exclusion and time-outs can only be extended; a deposit or loss limit can be lowered at once
but raised (or removed) only after a 24-hour cooling period. Windows are rolling: day = the last
24 hours, week = 7 days, month = 30 days.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from letsbet.errors import Conflict, Unprocessable

COOLING = timedelta(hours=24)
MIN_TIMEOUT_HOURS = 24
MAX_TIMEOUT_HOURS = 6 * 7 * 24  # six weeks
MIN_EXCLUSION_MONTHS = 1
MAX_EXCLUSION_MONTHS = 12


class LimitKind(StrEnum):
    DEPOSIT = "deposit"
    LOSS = "loss"


class Period(StrEnum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


WINDOWS = {
    Period.DAY: timedelta(days=1),
    Period.WEEK: timedelta(days=7),
    Period.MONTH: timedelta(days=30),
}


class ExclusionCannotBeShortened(Conflict):
    code = "exclusion_cannot_be_shortened"
    message = "A self-exclusion can be extended but never shortened or lifted early."


class TimeoutCannotBeShortened(Conflict):
    code = "timeout_cannot_be_shortened"
    message = "A time-out can be extended but never shortened or lifted early."


class InvalidControl(Unprocessable):
    code = "invalid_responsible_gaming_setting"


def add_months(moment: datetime, months: int) -> datetime:
    """The same wall time `months` calendar months later (31 Jan + 1 month = 28/29 Feb)."""
    month_index = moment.month - 1 + months
    year = moment.year + month_index // 12
    month = month_index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


@dataclass(frozen=True, slots=True)
class Exclusion:
    until: datetime | None  # None with permanent=True: for good
    permanent: bool

    def active(self, now: datetime) -> bool:
        return self.permanent or (self.until is not None and self.until > now)


def self_exclude(current: Exclusion | None, *, months: int | None, now: datetime) -> Exclusion:
    """A new exclusion for `months` (1-12) or for good (None); refuses to shorten one in force."""
    if months is not None and not MIN_EXCLUSION_MONTHS <= months <= MAX_EXCLUSION_MONTHS:
        raise InvalidControl(
            f"Self-exclusion is for {MIN_EXCLUSION_MONTHS} to {MAX_EXCLUSION_MONTHS} months,"
            " or permanent."
        )
    wanted = (
        Exclusion(until=None, permanent=True)
        if months is None
        else Exclusion(until=add_months(now, months), permanent=False)
    )
    if current is not None and current.active(now):
        if current.permanent or (
            not wanted.permanent
            and current.until is not None
            and wanted.until is not None
            and wanted.until < current.until
        ):
            raise ExclusionCannotBeShortened(
                until=None if current.until is None else current.until.isoformat(),
                permanent=current.permanent,
            )
    return wanted


def take_timeout(current_until: datetime | None, *, hours: int, now: datetime) -> datetime:
    """The end of a new time-out of `hours` (24 h to 6 weeks); never earlier than one in force."""
    if not MIN_TIMEOUT_HOURS <= hours <= MAX_TIMEOUT_HOURS:
        raise InvalidControl(
            f"A time-out lasts {MIN_TIMEOUT_HOURS} hours to six weeks ({MAX_TIMEOUT_HOURS} hours)."
        )
    until = now + timedelta(hours=hours)
    if current_until is not None and current_until > now and until < current_until:
        raise TimeoutCannotBeShortened(until=current_until.isoformat())
    return until


@dataclass(frozen=True, slots=True)
class Limit:
    """A limit as stored: `amount` in force (None: no limit) and perhaps a pending raise."""

    amount: int | None
    pending_amount: int | None = None  # None with pending_from set: the limit is being removed
    pending_from: datetime | None = None

    def effective(self, now: datetime) -> int | None:
        if self.pending_from is not None and self.pending_from <= now:
            return self.pending_amount
        return self.amount

    def settled(self, now: datetime) -> Limit:
        """The same limit with a pending raise folded in once its cooling period is over."""
        if self.pending_from is not None and self.pending_from <= now:
            return Limit(amount=self.pending_amount)
        return self


NO_LIMIT = Limit(amount=None)


def change_limit(current: Limit, requested: int | None, now: datetime) -> Limit:
    """Apply a player's request: a lower (or first) limit at once, a higher one or removal
    (requested=None) after the cooling period. A tighter request also drops a pending raise."""
    if requested is not None and requested <= 0:
        raise InvalidControl("A limit must be a positive amount; send null to remove it.")
    base = current.settled(now)
    if requested is not None and (base.amount is None or requested <= base.amount):
        return Limit(amount=requested)
    if requested == base.amount:
        return Limit(amount=base.amount)
    return Limit(amount=base.amount, pending_amount=requested, pending_from=now + COOLING)


def over_limit(spent: int, amount: int, limit: int | None) -> bool:
    """True when spending `amount` more would pass `limit` (spent counts what is already used)."""
    return limit is not None and spent + amount > limit
