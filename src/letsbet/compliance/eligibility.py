"""One answer to "may this player do this money action now?" for every path.

Sports bets, crash bets, deposits and withdrawals all call `check`, so a rule added here applies
everywhere at once. The check is one read (`state_query`: the user row, their responsible-gaming
controls and, only where a limit or cap applies, the totals it is measured against) and one pure
decision (`decide`). A player with a limit that this action is measured against has their user
row locked and the totals read again, so two concurrent requests cannot both fit under a limit.

Rejections, each with its own code (all 403 unless noted):
    player_not_eligible   account suspended or closed (reason account_inactive), or the platform
                          is closed in the player's country (reason country_not_allowed)
    self_excluded         self-exclusion in force: no bets, no deposits (withdrawals pass)
    timed_out             a time-out in force: no bets, no deposits (withdrawals pass)
    underage              below the tenant's minimum age
    kyc_required          withdrawals, and bets where the tenant forbids betting before KYC
    deposit_cap_before_kyc  (422) deposits before KYC past the tenant's cap
    deposit_limit_reached (422) past the player's own deposit limit (day/week/month)
    loss_limit_reached    (422) past the player's own loss limit (day/week/month)
    location_unknown / location_not_allowed / location_mismatch   geolocation (compliance.geo)
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from letsbet.accounts.domain import age_on
from letsbet.accounts.tables import users
from letsbet.compliance.geo.domain import Location, check_location
from letsbet.compliance.responsible_gaming.domain import (
    WINDOWS,
    LimitKind,
    Period,
    over_limit,
)
from letsbet.compliance.responsible_gaming.tables import rg_controls, rg_limits
from letsbet.crash.tables import crash_bets
from letsbet.errors import Forbidden, Unprocessable
from letsbet.payments.tables import payments
from letsbet.sportsbook.bets.tables import bets
from letsbet.tenants import Tenant, get_tenant


class Action(StrEnum):
    SPORTS_BET = "sports_bet"
    CRASH_BET = "crash_bet"
    DEPOSIT = "deposit"
    WITHDRAWAL = "withdrawal"

    @property
    def is_bet(self) -> bool:
        return self in (Action.SPORTS_BET, Action.CRASH_BET)


class NotEligible(Forbidden):
    code = "player_not_eligible"
    message = "This account may not do this right now."


class SelfExcluded(NotEligible):
    code = "self_excluded"
    message = "You have excluded yourself from betting; this ends when your exclusion ends."


class TimedOut(NotEligible):
    code = "timed_out"
    message = "You are taking a time-out; betting and deposits open again when it ends."


class Underage(NotEligible):
    code = "underage"
    message = "Betting is for adults only."


class KycRequired(NotEligible):
    code = "kyc_required"
    message = "Verify your identity first (POST /api/kyc/verify-user)."


class DepositCapBeforeKyc(Unprocessable):
    code = "deposit_cap_before_kyc"
    message = "Deposits before identity verification are capped; verify to deposit more."


class DepositLimitReached(Unprocessable):
    code = "deposit_limit_reached"
    message = "This deposit would pass the deposit limit you set."


class LossLimitReached(Unprocessable):
    code = "loss_limit_reached"
    message = "This stake would pass the loss limit you set."


_PERIODS = (Period.DAY, Period.WEEK, Period.MONTH)


@dataclass(frozen=True, slots=True)
class PlayerState:
    """Everything the rules need, as one row read."""

    status: str
    country: str
    kyc_verified: bool
    date_of_birth: date
    excluded_until: datetime | None = None
    excluded_permanently: bool = False
    timeout_until: datetime | None = None
    withdrawals_frozen: bool = False
    # The limit of this action's kind per period (day, week, month) and what it already used.
    limits: tuple[int | None, int | None, int | None] = (None, None, None)
    used: tuple[int, int, int] = (0, 0, 0)
    deposited_before_kyc: int = 0  # all deposits, when the player is not verified

    @property
    def has_limit(self) -> bool:
        return any(limit is not None for limit in self.limits)


@dataclass(frozen=True, slots=True)
class Gate:
    """Where the request comes from and what the platform allows (settings, geolocation)."""

    allowed_countries: Sequence[str]
    location: Location | None = None  # None: not fenced here (internal callers, geofence off)


def _limit_kind(action: Action) -> LimitKind | None:
    if action == Action.DEPOSIT:
        return LimitKind.DEPOSIT
    if action.is_bet:
        return LimitKind.LOSS
    return None


def _effective_limit(user_id: uuid.UUID, kind: LimitKind, period: Period, now: datetime) -> Any:
    """The limit in force: a pending raise counts once its cooling period is over."""
    value = sa.case(
        (
            sa.and_(rg_limits.c.pending_from.is_not(None), rg_limits.c.pending_from <= now),
            rg_limits.c.pending_amount,
        ),
        else_=rg_limits.c.amount,
    )
    return (
        sa.select(value)
        .where(
            rg_limits.c.user_id == user_id,
            rg_limits.c.kind == kind.value,
            rg_limits.c.period == period.value,
        )
        .scalar_subquery()
    )


def _used(user_id: uuid.UUID, kind: LimitKind, since: datetime) -> Any:
    """Deposits made (or on their way), or net losses on bets placed, since `since`."""
    if kind == LimitKind.DEPOSIT:
        return (
            sa.select(sa.func.coalesce(sa.func.sum(payments.c.amount), 0))
            .where(
                payments.c.user_id == user_id,
                payments.c.direction == "deposit",
                payments.c.status.in_(["initiated", "pending", "succeeded"]),
                payments.c.created_at > since,
            )
            .scalar_subquery()
        )
    # A bet still open counts as lost in full: its stake is at risk.
    sports = (
        sa.select(
            sa.func.coalesce(
                sa.func.sum(bets.c.total_stake - sa.func.coalesce(bets.c.payout, 0)), 0
            )
        )
        .where(bets.c.user_id == user_id, bets.c.placed_at > since, bets.c.status != "rejected")
        .scalar_subquery()
    )
    crash = (
        sa.select(
            sa.func.coalesce(
                sa.func.sum(crash_bets.c.amount - sa.func.coalesce(crash_bets.c.net_payout, 0)), 0
            )
        )
        .where(crash_bets.c.user_id == user_id, crash_bets.c.placed_at > since)
        .scalar_subquery()
    )
    return sports + crash


def state_query(user_id: uuid.UUID, action: Action, now: datetime) -> sa.Select[Any]:
    """The single read behind `check`. Totals are computed only when a limit or cap needs them
    (PostgreSQL evaluates a CASE branch's subquery only when the branch is taken)."""
    kyc_verified = users.c.kyc_status == "verified"
    columns: list[Any] = [
        users.c.status,
        users.c.country_code,
        kyc_verified.label("kyc_verified"),
        users.c.date_of_birth,
        rg_controls.c.excluded_until,
        sa.func.coalesce(rg_controls.c.excluded_permanently, False).label("excluded_permanently"),
        rg_controls.c.timeout_until,
    ]
    kind = _limit_kind(action)
    if kind is not None:
        for period in _PERIODS:
            limit = _effective_limit(user_id, kind, period, now)
            columns.append(limit.label(f"limit_{period.value}"))
            columns.append(
                sa.case(
                    (limit.is_not(None), _used(user_id, kind, now - WINDOWS[period])), else_=0
                ).label(f"used_{period.value}")
            )
    if action == Action.DEPOSIT:
        columns.append(
            sa.case(
                (
                    sa.not_(kyc_verified),
                    _used(user_id, LimitKind.DEPOSIT, datetime(1970, 1, 1, tzinfo=UTC)),
                ),
                else_=0,
            ).label("deposited_before_kyc")
        )
    return (
        sa.select(*columns)
        .select_from(users.outerjoin(rg_controls, rg_controls.c.user_id == users.c.id))
        .where(users.c.id == user_id)
    )


def state_of(row: Any, action: Action) -> PlayerState:
    mapping = row._mapping
    limits: tuple[int | None, int | None, int | None] = (None, None, None)
    used = (0, 0, 0)
    if _limit_kind(action) is not None:
        day, week, month = (mapping[f"limit_{p.value}"] for p in _PERIODS)
        limits = (day, week, month)
        used_day, used_week, used_month = (int(mapping[f"used_{p.value}"] or 0) for p in _PERIODS)
        used = (used_day, used_week, used_month)
    return PlayerState(
        status=row.status,
        country=row.country_code,
        kyc_verified=bool(row.kyc_verified),
        date_of_birth=row.date_of_birth,
        excluded_until=row.excluded_until,
        excluded_permanently=bool(row.excluded_permanently),
        timeout_until=row.timeout_until,
        withdrawals_frozen=bool(mapping.get("withdrawals_frozen", False)),
        limits=limits,
        used=used,
        deposited_before_kyc=int(mapping.get("deposited_before_kyc") or 0),
    )


def decide(
    state: PlayerState,
    *,
    action: Action,
    tenant: Tenant,
    amount: int,
    gate: Gate,
    now: datetime,
) -> None:
    """Every rule, pure: raise the first rejection that applies, or return."""
    if state.status != "active":
        raise NotEligible("This account is suspended or closed.", reason="account_inactive")
    if tenant.code not in gate.allowed_countries:
        raise NotEligible(f"letsbet is closed in {tenant.code}.", reason="country_not_allowed")
    if gate.location is not None:
        check_location(gate.location, home=tenant.code, allowed=gate.allowed_countries)
    if age_on(state.date_of_birth, now.date()) < tenant.min_age:
        raise Underage(minimum_age=tenant.min_age)
    if action == Action.WITHDRAWAL:
        if not state.kyc_verified:
            raise KycRequired("Verify your identity before withdrawing.")
        return  # exclusions and limits never keep a player from their own money
    if state.excluded_permanently or (
        state.excluded_until is not None and state.excluded_until > now
    ):
        raise SelfExcluded(
            until=None
            if state.excluded_permanently or state.excluded_until is None
            else state.excluded_until.isoformat(),
            permanent=state.excluded_permanently,
        )
    if state.timeout_until is not None and state.timeout_until > now:
        raise TimedOut(until=state.timeout_until.isoformat())
    if action.is_bet and not tenant.allow_betting_before_kyc and not state.kyc_verified:
        raise KycRequired("Verify your identity before betting.")
    if action == Action.DEPOSIT and not state.kyc_verified:
        if state.deposited_before_kyc + amount > tenant.deposit_cap_before_kyc:
            raise DepositCapBeforeKyc(
                cap=tenant.deposit_cap_before_kyc, deposited=state.deposited_before_kyc
            )
    error = DepositLimitReached if action == Action.DEPOSIT else LossLimitReached
    for period, limit, used in zip(_PERIODS, state.limits, state.used, strict=True):
        if over_limit(used, amount, limit):
            raise error(period=period.value, limit=limit, used=used)


async def check(
    conn: AsyncConnection,
    *,
    user_id: uuid.UUID,
    country: str,
    action: Action,
    allowed_countries: Sequence[str],
    amount: int = 0,
    location: Location | None = None,
    now: datetime | None = None,
) -> PlayerState:
    """Raise the rejection (see the module's list), or return the player's state.

    `amount` is the stake or deposit in minor units (limits and caps are measured with it).
    Deposits and withdrawals lock the user row first (FOR NO KEY UPDATE), so one money request
    per player at a time passes the caps; a bet locks it only when a loss limit applies."""
    now = now or datetime.now(UTC)
    tenant = get_tenant(country)
    gate = Gate(allowed_countries, location)
    if not action.is_bet:
        await _lock_user(conn, user_id)
    row = (await conn.execute(state_query(user_id, action, now))).first()
    if row is None:
        raise NotEligible("No such account.", reason="account_inactive")
    state = state_of(row, action)
    if action.is_bet and state.has_limit:
        # Totals read without the lock could miss a concurrent bet's stake: lock, read again.
        await _lock_user(conn, user_id)
        row = (await conn.execute(state_query(user_id, action, now))).first()
        assert row is not None
        state = state_of(row, action)
    decide(state, action=action, tenant=tenant, amount=amount, gate=gate, now=now)
    return state


async def _lock_user(conn: AsyncConnection, user_id: uuid.UUID) -> None:
    await conn.execute(
        sa.select(users.c.id).where(users.c.id == user_id).with_for_update(key_share=True)
    )
