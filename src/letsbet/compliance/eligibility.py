"""One answer to "may this player do this money action now?" for every path.

Sports bets, crash bets, deposits and withdrawals all come here, so a rule added here applies
everywhere at once. The rules read their inputs in one statement: `inputs_sql(action)` is a list
of select-list items over the parameters :user_id and :now (the account, the player's
responsible-gaming controls and, only where a limit or cap applies, the totals it is measured
against), and `decide` is pure. A hot path that reads much else in one statement (bet placement)
puts the fragment in its own select list and calls `decide` on the row: no round trip of its
own. `check` is the stand-alone form (one statement; see its docstring for the locks).

Rejections, each with its own code (403 unless noted):
    player_not_eligible   account suspended or closed (reason account_inactive), or the platform
                          is closed in the player's country (reason country_not_allowed)
    location_unknown / location_not_allowed / location_mismatch   geolocation (compliance.geo)
    underage              below the tenant's minimum age
    kyc_required          withdrawals; bets where the tenant forbids betting before KYC
    withdrawals_frozen    withdrawals while a high AML alert holds a freeze (compliance.aml)
    self_excluded         a self-exclusion in force: no bets, no deposits (withdrawals pass)
    timed_out             a time-out in force: no bets, no deposits (withdrawals pass)
    deposit_cap_before_kyc (422) deposits before KYC past the tenant's cap
    deposit_limit_reached  (422) past the player's own deposit limit (day/week/month)
    loss_limit_reached     (422) past the player's own loss limit (day/week/month)
"""

# The SQL here is built from this module's constants only; values travel as parameters.
# ruff: noqa: S608

from __future__ import annotations

import functools
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from letsbet.accounts.domain import age_on
from letsbet.compliance.geo.domain import Location, check_location
from letsbet.compliance.responsible_gaming.domain import over_limit
from letsbet.errors import Forbidden, Unprocessable
from letsbet.platform.db import DriverSQL
from letsbet.platform.money import Money
from letsbet.tenants import get_tenant


class Action(StrEnum):
    SPORTS_BET = "sports_bet"
    CRASH_BET = "crash_bet"
    DEPOSIT = "deposit"
    WITHDRAWAL = "withdrawal"

    @property
    def is_bet(self) -> bool:
        return self in (Action.SPORTS_BET, Action.CRASH_BET)

    @property
    def limit_kind(self) -> str | None:
        """The player limit this action is measured against."""
        if self == Action.DEPOSIT:
            return "deposit"
        return "loss" if self.is_bet else None


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


class WithdrawalsFrozen(NotEligible):
    code = "withdrawals_frozen"
    message = "Withdrawals from this account are on hold pending a compliance review."


class DepositCapBeforeKyc(Unprocessable):
    code = "deposit_cap_before_kyc"
    message = "Deposits before identity verification are capped; verify to deposit more."


class DepositLimitReached(Unprocessable):
    code = "deposit_limit_reached"
    message = "This deposit would pass the deposit limit you set."


class LossLimitReached(Unprocessable):
    code = "loss_limit_reached"
    message = "This stake would pass the loss limit you set."


PERIODS = (("day", "1 day"), ("week", "7 days"), ("month", "30 days"))  # rolling windows
_NOW = "CAST(:now AS timestamptz)"
_OPEN_DEPOSIT = "direction = 'deposit' AND status IN ('initiated','pending','succeeded')"


def _used_sql(kind: str, window: str) -> str:
    """Deposits made (or on their way), or net losses on bets placed, within `window`. A bet
    still open counts as lost in full: its stake is at risk."""
    since = f"{_NOW} - interval '{window}'"
    if kind == "deposit":
        return (
            "(SELECT coalesce(sum(amount), 0)::bigint FROM payments WHERE user_id = :user_id"
            f" AND {_OPEN_DEPOSIT} AND created_at > {since})"
        )
    return (
        "((SELECT coalesce(sum(total_stake - coalesce(payout, 0)), 0)::bigint FROM bets"
        f" WHERE user_id = :user_id AND placed_at > {since} AND status <> 'rejected')"
        " + (SELECT coalesce(sum(amount - coalesce(net_payout, 0)), 0)::bigint FROM crash_bets"
        f" WHERE user_id = :user_id AND placed_at > {since}))"
    )


@functools.cache
def inputs_sql(action: Action) -> str:
    """Everything the rules read for `action`, as select-list items over :user_id and :now.
    Totals are computed only when a limit of that kind exists (PostgreSQL evaluates a CASE
    branch's subquery only when the branch is taken), so a player without limits costs a few
    primary-key look-ups."""
    user = "(SELECT {} FROM users WHERE id = :user_id)"
    controls = "(SELECT {} FROM rg_controls WHERE user_id = :user_id)"
    items = [
        user.format("status") + " AS account_status",
        user.format("kyc_status = 'verified'") + " AS kyc_verified",
        user.format("date_of_birth") + " AS date_of_birth",
        controls.format("excluded_until") + " AS excluded_until",
        controls.format("excluded_permanently") + " AS excluded_permanently",
        controls.format("timeout_until") + " AS timeout_until",
    ]
    if action == Action.WITHDRAWAL:
        # A high AML alert holding a freeze (partial index on the flag: one probe).
        items.append(
            "EXISTS (SELECT 1 FROM aml_alerts WHERE user_id = :user_id AND holds_freeze)"
            " AS withdrawals_frozen"
        )
    kind = action.limit_kind
    if kind is not None:
        exists = f"EXISTS (SELECT 1 FROM rg_limits WHERE user_id = :user_id AND kind = '{kind}')"
        for period, window in PERIODS:
            items.append(
                "(SELECT CASE WHEN pending_from IS NOT NULL AND pending_from <= "
                f"{_NOW} THEN pending_amount ELSE amount END FROM rg_limits"
                f" WHERE user_id = :user_id AND kind = '{kind}' AND period = '{period}')"
                f" AS limit_{period}"
            )
            items.append(f"CASE WHEN {exists} THEN {_used_sql(kind, window)} END AS used_{period}")
    if action == Action.DEPOSIT:
        items.append(
            f"CASE WHEN {user.format('kyc_status')} <> 'verified' THEN"
            " (SELECT coalesce(sum(amount), 0)::bigint FROM payments WHERE user_id = :user_id"
            f" AND {_OPEN_DEPOSIT}) END AS deposited_before_kyc"
        )
    return ", ".join(items)


# Kept for readers of the fragment that predate per-action inputs (bet placement).
INPUTS_SQL = inputs_sql(Action.SPORTS_BET)


@functools.cache
def _statement(action: Action) -> DriverSQL:
    return DriverSQL("SELECT " + inputs_sql(action))


@dataclass(frozen=True, slots=True)
class Inputs:
    """What the rules read, from a row carrying `inputs_sql`'s columns."""

    account_status: str | None  # None: no such account
    kyc_verified: bool = False
    date_of_birth: date | None = None
    excluded_until: datetime | None = None
    excluded_permanently: bool = False
    timeout_until: datetime | None = None
    # The limit of the action's kind per period (day, week, month) and what it already used.
    limits: tuple[int | None, int | None, int | None] = (None, None, None)
    used: tuple[int, int, int] = (0, 0, 0)
    deposited_before_kyc: int = 0
    withdrawals_frozen: bool = False

    @property
    def has_limit(self) -> bool:
        return any(limit is not None for limit in self.limits)

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> Inputs:
        def get(name: str) -> Any:
            try:
                return row[name]
            except KeyError:
                return None

        day, week, month = (get(f"limit_{p}") for p, _ in PERIODS)
        used_day, used_week, used_month = (int(get(f"used_{p}") or 0) for p, _ in PERIODS)
        return cls(
            account_status=row["account_status"],
            kyc_verified=bool(get("kyc_verified")),
            date_of_birth=get("date_of_birth"),
            excluded_until=get("excluded_until"),
            excluded_permanently=bool(get("excluded_permanently")),
            timeout_until=get("timeout_until"),
            limits=(day, week, month),
            used=(used_day, used_week, used_month),
            deposited_before_kyc=int(get("deposited_before_kyc") or 0),
            withdrawals_frozen=bool(get("withdrawals_frozen")),
        )


def decide(
    inputs: Inputs,
    *,
    country: str,
    action: Action,
    allowed_countries: Sequence[str],
    amount: int | None = None,
    location: Location | None = None,
    now: datetime | None = None,
) -> None:
    """Every rule, pure: raise the first rejection that applies, or return. `amount` (minor
    units) is what limits and caps are measured with; None leaves them to `check_amount`
    (placement knows the stake only after the slip's rules). `location` None: not fenced."""
    now = now or datetime.now(UTC)
    tenant = get_tenant(country)
    if inputs.account_status != "active":
        raise NotEligible("This account is suspended or closed.", reason="account_inactive")
    if country not in allowed_countries:
        raise NotEligible(f"letsbet is closed in {country}.", reason="country_not_allowed")
    if location is not None:
        check_location(location, home=country, allowed=allowed_countries)
    if inputs.date_of_birth is not None and age_on(inputs.date_of_birth, now.date()) < (
        tenant.min_age
    ):
        raise Underage(minimum_age=tenant.min_age)
    if action == Action.WITHDRAWAL:
        if not inputs.kyc_verified:
            raise KycRequired("Verify your identity before withdrawing.")
        if inputs.withdrawals_frozen:
            raise WithdrawalsFrozen()
        return  # exclusions and limits never keep players from their own money
    if inputs.excluded_permanently or (
        inputs.excluded_until is not None and inputs.excluded_until > now
    ):
        until = None if inputs.excluded_permanently else inputs.excluded_until
        raise SelfExcluded(
            until=until.isoformat() if until else None, permanent=inputs.excluded_permanently
        )
    if inputs.timeout_until is not None and inputs.timeout_until > now:
        raise TimedOut(until=inputs.timeout_until.isoformat())
    if action.is_bet and not tenant.allow_betting_before_kyc and not inputs.kyc_verified:
        raise KycRequired("Verify your identity before betting.")
    if amount is not None:
        check_amount(inputs, country=country, action=action, amount=amount)


def check_amount(inputs: Inputs, *, country: str, action: Action, amount: int) -> None:
    """The rules measured with the amount: the cap before KYC and the player's own limits."""
    tenant = get_tenant(country)

    def major(minor: int) -> str:  # details speak the API's money: "500.00", not 50000
        return Money(minor, tenant.currency).format()

    if action == Action.DEPOSIT and not inputs.kyc_verified:
        cap = tenant.deposit_cap_before_kyc
        if inputs.deposited_before_kyc + amount > cap:
            raise DepositCapBeforeKyc(cap=major(cap), deposited=major(inputs.deposited_before_kyc))
    error = DepositLimitReached if action == Action.DEPOSIT else LossLimitReached
    for (period, _), limit, used in zip(PERIODS, inputs.limits, inputs.used, strict=True):
        if over_limit(used, amount, limit):
            assert limit is not None  # over_limit is False without a limit
            raise error(period=period, limit=major(limit), used=major(used))


async def read_inputs(
    conn: AsyncConnection, *, user_id: uuid.UUID, action: Action, now: datetime
) -> Inputs:
    row = await _statement(action).fetchrow(conn, {"user_id": user_id, "now": now})
    return Inputs.of(row)


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
) -> Inputs:
    """Raise the rejection (see the module's list), or return the inputs.

    Deposits and withdrawals lock the user row first (FOR NO KEY UPDATE) and then read, so one
    money request per player at a time passes the caps. A bet reads without a lock; only when a
    loss limit applies does it lock the user row and read again (`recheck_limits`), since a
    total read before the lock could miss a concurrent bet's stake."""
    now = now or datetime.now(UTC)
    if not action.is_bet:
        await lock_user(conn, user_id)
    inputs = await read_inputs(conn, user_id=user_id, action=action, now=now)
    decide(
        inputs,
        country=country,
        action=action,
        allowed_countries=allowed_countries,
        location=location,
        now=now,
    )
    if action.is_bet and inputs.has_limit:
        return await recheck_limits(
            conn, user_id=user_id, country=country, action=action, amount=amount, now=now
        )
    check_amount(inputs, country=country, action=action, amount=amount)
    return inputs


async def recheck_limits(
    conn: AsyncConnection,
    *,
    user_id: uuid.UUID,
    country: str,
    action: Action,
    amount: int,
    now: datetime,
) -> Inputs:
    """For a player with a limit: lock the user row, read the totals afresh, measure `amount`.
    Every bet and deposit of a limited player holds this lock until it commits."""
    await lock_user(conn, user_id)
    inputs = await read_inputs(conn, user_id=user_id, action=action, now=now)
    check_amount(inputs, country=country, action=action, amount=amount)
    return inputs


async def lock_user(conn: AsyncConnection, user_id: uuid.UUID) -> None:
    from letsbet.accounts.tables import users  # the fragment stays free of table objects

    await conn.execute(
        sa.select(users.c.id).where(users.c.id == user_id).with_for_update(key_share=True)
    )
