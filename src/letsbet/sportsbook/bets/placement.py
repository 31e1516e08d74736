"""Placing a bet: price every leg from the server's odds, check every rule, take the stake.

One transaction writes the bet, its legs and expanded lines, the ledger transfer (stake into
stakes in play, stake tax per the country's regime) and the outbox event. Live bets instead
reserve the stake with a hold and wait for the sport's delay (see `live.py`).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from letsbet.compliance import eligibility
from letsbet.compliance.geo.domain import Location
from letsbet.compliance.tax import regime_for, stake_breakdown
from letsbet.errors import Conflict, LetsbetError, NotFound, Unprocessable
from letsbet.ledger import service as ledger
from letsbet.ledger.domain import (
    Entry,
    House,
    HouseAccount,
    IdempotencyConflict,
    PlayerCash,
    TransferSpec,
    canonical_hash,
    tax_entries,
)
from letsbet.platform.bus.outbox import Event, record
from letsbet.platform.money import Money
from letsbet.sportsbook.bets import repository as repo
from letsbet.sportsbook.bets.domain import (
    BetType,
    OddsChangePolicy,
    accept_price,
    lines_for,
    potential_return,
    total_stake,
    validate_legs,
)
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
class Placed:
    bet_id: uuid.UUID
    replayed: bool
    # For a new bet, everything the answer needs, so it is not read back after COMMIT.
    fresh: FreshBet | None = None


@dataclass(frozen=True, slots=True)
class FreshBet:
    status: str
    live: bool
    currency: str
    bet_type: str
    system: str | None
    stake_per_line: int
    line_count: int
    total_stake: int
    stake_tax: int
    potential_return: int
    placed_at: datetime
    legs: tuple[tuple[int, int, int, int, int, int], ...]  # no, event, market, outcome, odds, seen
    lines: tuple[tuple[int, ...], ...]


async def place_bet(
    conn: AsyncConnection,
    request: BetRequest,
    *,
    allowed_countries: list[str],
    now: datetime | None = None,
) -> Placed:
    """Validate and place a bet; returns its id (replayed=True for a repeated key)."""
    now = now or datetime.now(UTC)
    tenant = request.tenant
    request_hash = request.request_hash()
    try:
        legs, lines, live, stake, potential, cap = await _validate(
            conn, request, allowed_countries=allowed_countries, now=now
        )
    except LetsbetError:
        # A replay answers with the original bet even if the same slip would now be refused
        # (odds moved, event started): look the key up only on this unhappy path.
        existing = await repo.bet_by_key(conn, request.key)
        if existing is not None:
            return _replay(existing, request_hash)
        raise

    bet_id = uuid.uuid4()
    status = "pending" if live else "open"
    delay = max((leg.live_delay_seconds for leg in legs), default=0) if live else 0
    taxes = stake_breakdown(regime_for(tenant.code, now), stake)
    claimed = await repo.claim_bet(
        conn,
        id=bet_id,
        user_id=request.user_id,
        country_code=tenant.code,
        currency=tenant.currency,
        bet_type=request.bet_type.value,
        system=request.system,
        stake_per_line=request.stake_per_line,
        line_count=len(lines),
        total_stake=stake,
        stake_tax=taxes.tax,
        potential_return=potential,
        max_payout=cap,
        status=status,
        odds_change=request.odds_change.value,
        live=live,
        idempotency_key=request.key,
        request_hash=request_hash,
        placed_at=now,
        accept_after=now + timedelta(seconds=delay) if live else None,
    )
    if not claimed:  # a concurrent request with this key committed first
        row = await repo.bet_by_key(conn, request.key)
        return _replay(row, request_hash)
    # Ascending event id: two slips with the same events in another order lock the liability
    # rows in the same order, so they queue instead of deadlocking.
    for event_id, leg in sorted({leg.event_id: leg for leg in legs}.items()):
        if not await repo.add_exposure(
            conn,
            event_id=event_id,
            currency=tenant.currency,
            amount=potential,
            cap=leg.liability_cap,
        ):
            raise LiabilityCapReached()
    await repo.insert_legs_and_lines(
        conn,
        bet_id,
        [
            {
                "leg_no": n,
                "event_id": leg.event_id,
                "market_id": leg.market_id,
                "outcome_id": leg.outcome_id,
                "odds_milli": leg.odds_milli,
                "seen_odds_milli": request.selections[n].odds_milli,
            }
            for n, leg in enumerate(legs)
        ],
        lines,
        request.stake_per_line,
    )
    if live:
        hold = await ledger.create_hold(
            conn,
            ledger.HoldSpec(
                idempotency_key=f"bet:{bet_id}:hold",
                type="bet.live_stake",
                country=tenant.code,
                currency=tenant.currency,
                user_id=request.user_id,
                amount=stake,
                reference=str(bet_id),
                metadata={"bet_id": str(bet_id)},
            ),
        )
        await repo.update_bet(conn, bet_id, hold_id=hold.id)
    else:
        transfer = await ledger.post_transfer(
            conn, stake_transfer(bet_id, request.user_id, tenant, stake, taxes.lines)
        )
        await repo.update_bet(conn, bet_id, stake_transfer_id=transfer.id)
    await repo.record_status(conn, bet_id, status, at=now)
    await record(
        conn,
        Event(
            "sportsbook.bet.placed",
            {
                "bet_id": str(bet_id),
                "user_id": str(request.user_id),
                "country": tenant.code,
                "currency": tenant.currency,
                "bet_type": request.bet_type.value,
                "status": status,
                "total_stake": stake,
                "potential_return": potential,
                "event_ids": sorted({leg.event_id for leg in legs}),
            },
        ),
    )
    fresh = FreshBet(
        status=status,
        live=live,
        currency=tenant.currency,
        bet_type=request.bet_type.value,
        system=request.system,
        stake_per_line=request.stake_per_line,
        line_count=len(lines),
        total_stake=stake,
        stake_tax=taxes.tax,
        potential_return=potential,
        placed_at=now,
        legs=tuple(
            (
                n,
                leg.event_id,
                leg.market_id,
                leg.outcome_id,
                leg.odds_milli,
                request.selections[n].odds_milli,
            )
            for n, leg in enumerate(legs)
        ),
        lines=tuple(lines),
    )
    return Placed(bet_id=bet_id, replayed=False, fresh=fresh)


async def _validate(
    conn: AsyncConnection, request: BetRequest, *, allowed_countries: list[str], now: datetime
) -> tuple[list[Any], list[tuple[int, ...]], bool, int, int, int]:
    """Every rule a slip must pass: (legs, lines, live, total stake, potential return, cap)."""
    tenant = request.tenant
    rows = await repo.selection_rows(conn, [s.outcome_id for s in request.selections])
    if len(rows) != len({s.outcome_id for s in request.selections}):
        raise OutcomeNotFound()
    legs = [rows[s.outcome_id] for s in request.selections]
    validate_legs([leg.event_id for leg in legs], request.bet_type, max_legs=tenant.max_legs)
    lines = lines_for(request.bet_type, len(legs), request.system)
    live = _check_markets(legs, tenant, now)
    _check_prices(request, legs)
    stake = total_stake(request.stake_per_line, len(lines))
    # Account state, controls and limits in one read, measured with this stake.
    await eligibility.check(
        conn,
        user_id=request.user_id,
        country=tenant.code,
        action=eligibility.Action.SPORTS_BET,
        allowed_countries=allowed_countries,
        amount=stake,
        location=request.location,
        now=now,
    )
    _check_stake(request.stake_per_line, stake, tenant, legs)
    odds = [leg.odds_milli for leg in legs]
    potential = potential_return(request.stake_per_line, lines, odds)
    cap = min([tenant.max_payout, *(leg.max_payout for leg in legs if leg.max_payout)])
    if potential > cap:
        raise PayoutAboveCap(
            "The potential return is above the maximum payout; lower the stake.",
            potential=potential,
            cap=cap,
        )
    return legs, lines, live, stake, potential, cap


def stake_transfer(
    bet_id: uuid.UUID, user_id: uuid.UUID, tenant: Tenant, stake: int, tax_lines: Sequence[Any]
) -> TransferSpec:
    """Stake out of the player's cash into stakes in play, minus any stake tax."""
    tax = sum(line.amount for line in tax_lines)
    return TransferSpec(
        idempotency_key=f"bet:{bet_id}:stake",
        type="bet.stake",
        country=tenant.code,
        currency=tenant.currency,
        entries=(
            Entry(PlayerCash(user_id), -stake),
            Entry(House(HouseAccount.STAKES_IN_PLAY), stake - tax),
            *tax_entries(tax_lines),
        ),
        reference=str(bet_id),
        metadata={"bet_id": str(bet_id)},
    )


def _replay(row: Any, request_hash: str) -> Placed:
    if row.request_hash != request_hash:
        raise IdempotencyConflict()
    return Placed(bet_id=row.id, replayed=True)


def _check_markets(legs: Sequence[Any], tenant: Tenant, now: datetime) -> bool:
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


def _check_prices(request: BetRequest, legs: Sequence[Any]) -> None:
    changed = [
        {"outcome_id": leg.outcome_id, "odds_milli": leg.odds_milli}
        for leg, seen in zip(legs, request.selections, strict=True)
        if not accept_price(seen.odds_milli, leg.odds_milli, request.odds_change)
    ]
    if changed:
        raise OddsChanged(current=changed)


def _check_stake(per_line: int, stake: int, tenant: Tenant, legs: Sequence[Any]) -> None:
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
