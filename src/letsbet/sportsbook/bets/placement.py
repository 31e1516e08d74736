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
from letsbet.compliance.tax import regime_for, stake_breakdown
from letsbet.errors import Conflict, LetsbetError, NotFound, Unprocessable
from letsbet.ledger import service as ledger
from letsbet.ledger.domain import (
    AccountRef,
    Entry,
    House,
    HouseAccount,
    IdempotencyConflict,
    PlayerCash,
    TransferSpec,
    canonical_hash,
    tax_entries,
)
from letsbet.platform.bus.outbox import Event, outbox_row
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
    """Validate and place a bet; returns its id (replayed=True for a repeated key).

    Two statements in the caller's transaction (BEGIN and COMMIT are the caller's): one read
    (`repository.read_slip`: the key, eligibility's inputs, the prices, the stake's ledger
    accounts locked) and, once every rule passed in Python, one write (`write_bet`: the bet,
    its exposure, legs, lines, status, ledger transfer or hold, and events).
    """
    now = now or datetime.now(UTC)
    tenant = request.tenant
    request_hash = request.request_hash()
    bet_id = uuid.uuid4()
    plan = await ledger.plan_lock(
        conn, tenant.code, tenant.currency, f"bet:{bet_id}:stake", _stake_refs(request, now)
    )
    slip = await repo.read_slip(
        conn,
        key=request.key,
        user_id=request.user_id,
        outcome_ids=[s.outcome_id for s in request.selections],
        currency=tenant.currency,
        lock=plan.values,
    )
    if slip.hit is not None:
        # The key was used: answer with that bet (even if the same slip would now be refused,
        # the odds having moved or the event started), or refuse a different slip.
        return _replay(*slip.hit, request_hash)
    legs, lines, live, stake, potential, cap = _validate(
        slip, request, allowed_countries=allowed_countries, now=now
    )
    events = sorted({leg.event_id for leg in legs})
    for event_id in events:  # checked again, under the row's lock, by the write
        leg = next(leg for leg in legs if leg.event_id == event_id)
        if leg.liability_cap is not None and (leg.exposure or 0) + potential > leg.liability_cap:
            raise LiabilityCapReached()

    status = "pending" if live else "open"
    delay = max((leg.live_delay_seconds for leg in legs), default=0) if live else 0
    taxes = stake_breakdown(regime_for(tenant.code, now), stake)
    transfer: ledger.PreparedTransfer | None = None
    hold: ledger.PreparedHold | None = None
    try:
        if live:
            spec = ledger.HoldSpec(
                idempotency_key=f"bet:{bet_id}:hold",
                type="bet.live_stake",
                country=tenant.code,
                currency=tenant.currency,
                user_id=request.user_id,
                amount=stake,
                reference=str(bet_id),
                metadata={"bet_id": str(bet_id)},
            )
            locked = await _locked(conn, plan, slip, [PlayerCash(spec.user_id)])
            hold = ledger.prepare_hold(spec, locked)
            ledger_event = hold.event
        else:
            transfer_spec = stake_transfer(bet_id, request.user_id, tenant, stake, taxes.lines)
            transfer_spec.validate()
            refs = [e.account for e in transfer_spec.entries]
            transfer = ledger.prepare_transfer(transfer_spec, await _locked(conn, plan, slip, refs))
            ledger_event = transfer.event
    except LetsbetError as exc:
        ledger.rejected(exc)
        raise
    leg_rows = [
        {
            "event_id": leg.event_id,
            "market_id": leg.market_id,
            "outcome_id": leg.outcome_id,
            "odds_milli": leg.odds_milli,
            "seen_odds_milli": request.selections[n].odds_milli,
        }
        for n, leg in enumerate(legs)
    ]
    placed_event = outbox_row(
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
                "event_ids": events,
            },
        )
    )
    written = await repo.write_bet(
        conn,
        {
            "bet_id": bet_id,
            "user_id": request.user_id,
            "country": tenant.code,
            "currency": tenant.currency,
            "bet_type": request.bet_type.value,
            "system": request.system,
            "stake_per_line": request.stake_per_line,
            "line_count": len(lines),
            "total_stake": stake,
            "stake_tax": taxes.tax,
            "potential_return": potential,
            "max_payout": cap,
            "status": status,
            "odds_change": request.odds_change.value,
            "live": live,
            "bet_key": request.key,
            "bet_hash": request_hash,
            "stake_transfer_id": transfer.transfer.id if transfer else None,
            "hold_id": hold.hold.id if hold else None,
            "accept_after": now + timedelta(seconds=delay) if live else None,
            "placed_at": now,
        },
        legs=leg_rows,
        lines=lines,
        caps={leg.event_id: leg.liability_cap for leg in legs},
        transfer=transfer.values if transfer else None,
        hold=hold.values if hold else None,
        events=[ledger_event, placed_event],  # the ledger's first, as when it wrote its own
    )
    if not written.claimed:  # a concurrent request with this key committed first
        row = await repo.bet_by_key(conn, request.key)
        return _replay(row.id, row.request_hash, request_hash)
    if written.within_cap < len(events):  # the caller's rollback undoes the whole write
        raise LiabilityCapReached()
    if transfer is not None:
        transfer.posted()
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
                row["event_id"],
                row["market_id"],
                row["outcome_id"],
                row["odds_milli"],
                row["seen_odds_milli"],
            )
            for n, row in enumerate(leg_rows)
        ),
        lines=tuple(lines),
    )
    return Placed(bet_id=bet_id, replayed=False, fresh=fresh)


def _stake_refs(request: BetRequest, now: datetime) -> list[AccountRef]:
    """The ledger accounts the stake will touch, to lock them in placement's read. When the
    slip's shape is invalid (it will be refused) the player's wallet and stakes in play."""
    refs: list[AccountRef] = [PlayerCash(request.user_id), House(HouseAccount.STAKES_IN_PLAY)]
    try:
        lines = lines_for(request.bet_type, len(request.selections), request.system)
        stake = total_stake(request.stake_per_line, len(lines))
        taxes = stake_breakdown(regime_for(request.tenant.code, now), stake)
    except (LetsbetError, ValueError, TypeError):
        return refs
    return refs + [e.account for e in tax_entries(taxes.lines)]


async def _locked(
    conn: AsyncConnection, plan: ledger.LockPlan, slip: repo.Slip, refs: Sequence[AccountRef]
) -> ledger.Locked:
    """The accounts the read locked; locked again, opening a missing wallet, when the read did
    not lock them all (no wallet yet, or a ref `_stake_refs` did not foresee)."""
    locked = ledger.resolve_locked(plan, slip.accounts)
    if locked is not None and all(ref in locked[1] for ref in refs):
        return locked
    return await ledger.lock_refs(conn, plan.country, plan.currency, plan.key, refs)


def _validate(
    slip: repo.Slip, request: BetRequest, *, allowed_countries: list[str], now: datetime
) -> tuple[list[repo.SlipLeg], list[tuple[int, ...]], bool, int, int, int]:
    """Every rule a slip must pass: (legs, lines, live, total stake, potential return, cap)."""
    tenant = request.tenant
    eligibility.decide(
        slip.eligibility,
        country=tenant.code,
        action=eligibility.Action.SPORTS_BET,
        allowed_countries=allowed_countries,
    )
    rows = slip.legs
    if len(rows) != len({s.outcome_id for s in request.selections}):
        raise OutcomeNotFound()
    legs = [rows[s.outcome_id] for s in request.selections]
    validate_legs([leg.event_id for leg in legs], request.bet_type, max_legs=tenant.max_legs)
    lines = lines_for(request.bet_type, len(legs), request.system)
    live = _check_markets(legs, tenant, now)
    _check_prices(request, legs)
    stake = total_stake(request.stake_per_line, len(lines))
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


def _replay(bet_id: uuid.UUID, stored_hash: str, request_hash: str) -> Placed:
    if stored_hash != request_hash:
        raise IdempotencyConflict()
    return Placed(bet_id=bet_id, replayed=True)


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
