"""AML rules, pure: a payment event and the player's recent history in, alerts out. No I/O.

The consumer (consumers.py) reads the history window the rules need (history.py) and stores
what `evaluate` returns; everything here is decided from its arguments, so each rule is tested
on crafted sequences without a database. Thresholds are tenant data (tenants.AmlThresholds).

Rules (code → severity):
    large_deposit            a succeeded deposit ≥ large_deposit (medium), ≥ very_large (high)
    large_withdrawal         a requested withdrawal ≥ large_withdrawal (medium), ≥ very_large
                             (high)
    quick_cashout            a withdrawal ≥ quick_cashout_min after deposits within turnover_window
                             of which less than min_wagered_percent was staked (high)
    deposit_velocity         ≥ velocity_deposits succeeded deposits within velocity_window (medium)
    shared_identity          an IP, device id or phone of this player behind ≥ shared_accounts
                             accounts (medium), ≥ shared_accounts_high (high; an IP stays
                             medium: carrier-grade NAT puts many players behind one address)

A high alert freezes the player's withdrawals until staff close it (see service.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from letsbet.errors import Conflict
from letsbet.tenants import AmlThresholds


class Rule(StrEnum):
    LARGE_DEPOSIT = "large_deposit"
    LARGE_WITHDRAWAL = "large_withdrawal"
    QUICK_CASHOUT = "quick_cashout"
    DEPOSIT_VELOCITY = "deposit_velocity"
    SHARED_IDENTITY = "shared_identity"


class Severity(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class Status(StrEnum):
    OPEN = "open"
    INVESTIGATING = "investigating"
    CLOSED = "closed"  # no suspicion: releases the alert's withdrawal freeze
    REPORTED = "reported"  # reported to the FIU: the freeze stays until staff lift it


# open → investigating → closed | reported; closed and reported are final.
TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.OPEN: frozenset({Status.INVESTIGATING}),
    Status.INVESTIGATING: frozenset({Status.CLOSED, Status.REPORTED}),
    Status.CLOSED: frozenset(),
    Status.REPORTED: frozenset(),
}


class InvalidTransition(Conflict):
    code = "invalid_transition"
    message = "An alert moves open → investigating → closed or reported."


def check_transition(current: Status, target: Status) -> None:
    if target not in TRANSITIONS[current]:
        raise InvalidTransition(current=current.value, requested=target.value)


def releases_freeze(target: Status) -> bool:
    """Whether moving an alert to `target` lifts the freeze it holds. `reported` does not: a
    player reported to the FIU keeps frozen withdrawals until staff lift them explicitly."""
    return target == Status.CLOSED


class Kind(StrEnum):
    DEPOSIT = "deposit"  # a succeeded deposit
    WITHDRAWAL = "withdrawal"  # a requested withdrawal (its money is on hold)


@dataclass(frozen=True, slots=True)
class PaymentFact:
    """A payment as the rules see it (from a payments.* event)."""

    payment_id: uuid.UUID
    user_id: uuid.UUID
    country: str
    currency: str
    kind: Kind
    amount: int  # gross, minor units
    at: datetime


@dataclass(frozen=True, slots=True)
class Shared:
    """One identifier of the player and the other accounts seen with it."""

    kind: str  # ip | device | phone
    value: str
    other_accounts: tuple[uuid.UUID, ...]

    @property
    def accounts(self) -> int:
        return len(self.other_accounts) + 1


@dataclass(frozen=True, slots=True)
class History:
    """The player's recent window, read before the rules run. `deposits` are succeeded
    deposits (the event's own included) within the longest window; `wagered` is what the
    player staked since `wagered_since`; `recent_alerts` is (rule, dedupe key, raised at)."""

    deposits: tuple[PaymentFact, ...] = ()
    wagered: int = 0
    wagered_since: datetime | None = None
    shared: tuple[Shared, ...] = ()
    recent_alerts: tuple[tuple[str, str, datetime], ...] = ()


@dataclass(frozen=True, slots=True)
class AlertDraft:
    rule: Rule
    severity: Severity
    dedupe_key: str  # one alert per (user, rule, key), whatever redelivers or races
    evidence: Mapping[str, Any] = field(default_factory=dict)


def evaluate(fact: PaymentFact, history: History, limits: AmlThresholds) -> list[AlertDraft]:
    """Every rule that fires on this payment, given the history."""
    alerts: list[AlertDraft] = []
    if fact.kind == Kind.DEPOSIT:
        alerts += _large(fact, limits.large_deposit, limits.very_large_deposit, Rule.LARGE_DEPOSIT)
        alerts += _velocity(fact, history, limits)
    else:
        alerts += _large(
            fact, limits.large_withdrawal, limits.very_large_withdrawal, Rule.LARGE_WITHDRAWAL
        )
        alerts += _quick_cashout(fact, history, limits)
    alerts += _shared_identity(history, limits)
    return alerts


def _large(fact: PaymentFact, medium: int, high: int, rule: Rule) -> list[AlertDraft]:
    if fact.amount < medium:
        return []
    return [
        AlertDraft(
            rule,
            Severity.HIGH if fact.amount >= high else Severity.MEDIUM,
            dedupe_key=str(fact.payment_id),
            evidence={
                "payment_id": str(fact.payment_id),
                "amount": fact.amount,
                "currency": fact.currency,
                "threshold": high if fact.amount >= high else medium,
            },
        )
    ]


def _within(facts: Sequence[PaymentFact], since: datetime, until: datetime) -> list[PaymentFact]:
    return [f for f in facts if since < f.at <= until]


def _velocity(fact: PaymentFact, history: History, limits: AmlThresholds) -> list[AlertDraft]:
    since = fact.at - limits.velocity_window
    recent = _within(history.deposits, since, fact.at)
    if len(recent) < limits.velocity_deposits:
        return []
    # The burst is one pattern: no second alert while an earlier one covers this window.
    if any(r == Rule.DEPOSIT_VELOCITY and at > since for r, _, at in history.recent_alerts):
        return []
    return [
        AlertDraft(
            Rule.DEPOSIT_VELOCITY,
            Severity.MEDIUM,
            dedupe_key=str(fact.payment_id),
            evidence={
                "deposits": len(recent),
                "total": sum(f.amount for f in recent),
                "currency": fact.currency,
                "window_seconds": int(limits.velocity_window.total_seconds()),
                "threshold": limits.velocity_deposits,
                "payment_ids": [str(f.payment_id) for f in recent][-20:],
            },
        )
    ]


def _quick_cashout(fact: PaymentFact, history: History, limits: AmlThresholds) -> list[AlertDraft]:
    if fact.amount < limits.quick_cashout_min:
        return []
    deposits = _within(history.deposits, fact.at - limits.turnover_window, fact.at)
    deposited = sum(f.amount for f in deposits)
    # Integer comparison: wagered / deposited < percent / 100, without division.
    if deposited == 0 or history.wagered * 100 >= deposited * limits.min_wagered_percent:
        return []
    return [
        AlertDraft(
            Rule.QUICK_CASHOUT,
            Severity.HIGH,
            dedupe_key=str(fact.payment_id),
            evidence={
                "payment_id": str(fact.payment_id),
                "withdrawal": fact.amount,
                "deposited": deposited,
                "wagered": history.wagered,
                "currency": fact.currency,
                "min_wagered_percent": limits.min_wagered_percent,
                "window_days": limits.turnover_window.days,
                "deposit_ids": [str(f.payment_id) for f in deposits][-20:],
            },
        )
    ]


def _shared_identity(history: History, limits: AmlThresholds) -> list[AlertDraft]:
    # Raised once per player and identifier (the dedupe key), however many payments follow.
    alerts = []
    for shared in history.shared:
        if shared.accounts < limits.shared_accounts:
            continue
        # Never high on an IP alone: mobile carriers put many subscribers behind one address
        # (carrier-grade NAT), so an IP is a lead for staff, not grounds to freeze.
        high = shared.kind != "ip" and shared.accounts >= limits.shared_accounts_high
        alerts.append(
            AlertDraft(
                Rule.SHARED_IDENTITY,
                Severity.HIGH if high else Severity.MEDIUM,
                dedupe_key=f"{shared.kind}:{shared.value}",
                evidence={
                    "identifier": shared.kind,
                    "value": shared.value,
                    "accounts": shared.accounts,
                    "threshold": limits.shared_accounts_high if high else limits.shared_accounts,
                    "other_user_ids": [str(u) for u in shared.other_accounts][:20],
                },
            )
        )
    return alerts
