"""The rules every slip must pass, checked against what placement's one read returned.

Pure (no I/O): `check_slip` runs every rule in a fixed order (eligibility, selections, shape,
markets, prices, stake, maximum payout) and `check_exposure` the liability caps as read; the
write re-checks the caps under the rows' locks. Each refusal is an error with a stable code.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from letsbet.compliance import eligibility
from letsbet.compliance.geo.domain import Location
from letsbet.errors import Conflict, NotFound, Unprocessable
from letsbet.ledger.domain import canonical_hash
from letsbet.platform.money import Money
from letsbet.sportsbook.bets.domain import (
    BetType,
    OddsChangePolicy,
    accept_price,
    lines_for,
    potential_return,
    total_stake,
    validate_legs,
)
from letsbet.sportsbook.bets.repository import Slip, SlipLeg
from letsbet.tenants import Tenant


# -- rejection codes -------------------------------------------------------------------------
class OutcomeNotFound(NotFound):
    code = "outcome_not_found"
    message = "One of the selections does not exist."


class MarketSuspended(Conflict):
    code = "market_suspended"
    message = "A market in your slip is suspended; try again in a moment."


class MarketClosed(Conflict):
    code = "market_closed"
    message = "A market in your slip is closed for betting."


class EventStarted(Conflict):
    code = "event_started"
    message = "An event in your slip has started; pre-match betting is closed."


class OddsChanged(Conflict):
    code = "odds_changed"
    message = "The odds changed; review the new prices and place again."


class StakeBelowMinimum(Unprocessable):
    code = "stake_below_minimum"


class StakeAboveMaximum(Unprocessable):
    code = "stake_above_maximum"


class PayoutAboveCap(Unprocessable):
    code = "payout_above_cap"


class LiabilityCapReached(Conflict):
    code = "liability_cap_reached"
    message = "We cannot take more on this event right now; try a smaller stake."


class NotAvailableHere(Conflict):
    code = "market_closed"
    message = "This event is not offered in your country."


# -- the request -------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Selection:
    outcome_id: int
    odds_milli: int  # the price the player saw


@dataclass(frozen=True, slots=True)
class BetRequest:
    user_id: uuid.UUID
    tenant: Tenant
    bet_type: BetType
    selections: tuple[Selection, ...]
    stake_per_line: int
    system: str | None
    odds_change: OddsChangePolicy
    idempotency_key: str
    location: Location | None = None  # where the request came from, when geofenced

    @property
    def key(self) -> str:
        return f"{self.user_id}:{self.idempotency_key}"

    def request_hash(self) -> str:
        return canonical_hash(
            {
                "type": self.bet_type.value,
                "selections": [[s.outcome_id, s.odds_milli] for s in self.selections],
                "stake": self.stake_per_line,
                "system": self.system,
                "odds_change": self.odds_change.value,
            }
        )


@dataclass(frozen=True, slots=True)
class CheckedSlip:
    """A slip that passed every rule, priced at the server's odds."""

    legs: list[SlipLeg]  # in slip order
    lines: list[tuple[int, ...]]
    live: bool
    stake: int  # total, over every line
    potential: int
    max_payout: int

    @property
    def event_ids(self) -> list[int]:
        return sorted({leg.event_id for leg in self.legs})


def check_slip(
    slip: Slip, request: BetRequest, *, allowed_countries: list[str], now: datetime
) -> CheckedSlip:
    """Every rule a slip must pass, in order; raise the first refusal."""
    tenant = request.tenant
    eligibility.decide(
        slip.eligibility,
        country=tenant.code,
        action=eligibility.Action.SPORTS_BET,
        allowed_countries=allowed_countries,
        location=request.location,
        now=now,
    )
    if len(slip.legs) != len({s.outcome_id for s in request.selections}):
        raise OutcomeNotFound()
    legs = [slip.legs[s.outcome_id] for s in request.selections]
    validate_legs([leg.event_id for leg in legs], request.bet_type, max_legs=tenant.max_legs)
    lines = lines_for(request.bet_type, len(legs), request.system)
    live = _check_markets(legs, tenant, now)
    _check_prices(request, legs)
    stake = total_stake(request.stake_per_line, len(lines))
    _check_stake(request.stake_per_line, stake, tenant, legs)
    if not slip.eligibility.has_limit:  # with a loss limit, placement re-reads under a lock
        eligibility.check_amount(
            slip.eligibility,
            country=tenant.code,
            action=eligibility.Action.SPORTS_BET,
            amount=stake,
        )
    potential = potential_return(request.stake_per_line, lines, [leg.odds_milli for leg in legs])
    cap = min([tenant.max_payout, *(leg.max_payout for leg in legs if leg.max_payout)])
    if potential > cap:
        raise PayoutAboveCap(
            "The potential return is above the maximum payout; lower the stake.",
            potential=potential,
            cap=cap,
        )
    return CheckedSlip(legs, lines, live, stake, potential, cap)


def check_exposure(checked: CheckedSlip) -> None:
    """Refuse when an event's exposure as read plus this bet's potential return passes its
    cap (the write checks again under the row's lock: this only refuses early)."""
    for leg in {leg.event_id: leg for leg in checked.legs}.values():
        cap = leg.liability_cap
        if cap is not None and (leg.exposure or 0) + checked.potential > cap:
            raise LiabilityCapReached()


def _check_markets(legs: Sequence[SlipLeg], tenant: Tenant, now: datetime) -> bool:
    """True when the bet is live (any leg on a live event); raise on a closed market."""
    live = False
    for leg in legs:
        if tenant.code not in leg.countries:
            raise NotAvailableHere()
        if leg.event_status == "suspended" or leg.market_status == "suspended":
            raise MarketSuspended()
        if leg.market_status != "open" or not leg.active:
            raise MarketClosed()
        if leg.event_status == "live":
            live = True
        elif leg.event_status == "scheduled":
            if leg.starts_at <= now:
                raise EventStarted()
        else:
            raise MarketClosed()
    return live


def _check_prices(request: BetRequest, legs: Sequence[SlipLeg]) -> None:
    changed = [
        {"outcome_id": leg.outcome_id, "odds_milli": leg.odds_milli}
        for leg, seen in zip(legs, request.selections, strict=True)
        if not accept_price(seen.odds_milli, leg.odds_milli, request.odds_change)
    ]
    if changed:
        raise OddsChanged(current=changed)


def _check_stake(per_line: int, stake: int, tenant: Tenant, legs: Sequence[SlipLeg]) -> None:
    if per_line < tenant.min_stake:
        raise StakeBelowMinimum(
            f"The minimum stake is {_major(tenant.min_stake, tenant.currency)} {tenant.currency}.",
            minimum=tenant.min_stake,
        )
    maximum = min([tenant.max_stake, *(leg.max_stake for leg in legs if leg.max_stake)])
    if stake > maximum:
        raise StakeAboveMaximum(
            f"The maximum stake here is {_major(maximum, tenant.currency)} {tenant.currency}.",
            maximum=maximum,
        )


def _major(minor: int, currency: str) -> str:
    return Money(minor, currency).format()
