"""Placing a bet: price every leg from the server's odds, check every rule, take the stake.

One transaction, two statements between its BEGIN and COMMIT: one read (`repository.read_slip`:
the idempotency key, eligibility's inputs, every selection's current price, statuses, limits
and exposure, and the stake's ledger accounts locked) and, once every rule has passed in Python
(`slip.check_slip`), one write (`repository.write_bet`: the bet, its events' exposure, legs,
expanded lines, first status, the ledger transfer (stake into stakes in play, stake tax per the
country's regime) and the outbox events). Live bets instead reserve the stake with a hold in
the same write and wait for the sport's delay (see `live.py`).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from letsbet.compliance import eligibility
from letsbet.compliance.tax import StakeBreakdown, regime_for, stake_breakdown
from letsbet.errors import LetsbetError
from letsbet.ledger import service as ledger
from letsbet.ledger.domain import (
    AccountRef,
    Entry,
    House,
    HouseAccount,
    IdempotencyConflict,
    PlayerCash,
    TransferSpec,
    tax_entries,
)
from letsbet.platform.bus.outbox import Event
from letsbet.sportsbook.bets import repository as repo
from letsbet.sportsbook.bets.domain import lines_for, total_stake
from letsbet.sportsbook.bets.slip import (
    BetRequest,
    CheckedSlip,
    LiabilityCapReached,
    Selection,
    check_exposure,
    check_slip,
)
from letsbet.tenants import Tenant

__all__ = ["BetRequest", "FreshBet", "Placed", "Selection", "place_bet", "stake_transfer"]


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
    bet_id = uuid.uuid4()
    taxes = _stake_taxes(request, now)
    plan = await ledger.plan_lock(
        conn, tenant.code, tenant.currency, f"bet:{bet_id}:stake", _stake_refs(request, taxes)
    )
    slip = await repo.read_slip(
        conn,
        key=request.key,
        user_id=request.user_id,
        outcome_ids=[s.outcome_id for s in request.selections],
        currency=tenant.currency,
        lock=plan,
        now=now,
    )
    if slip.hit is not None:
        # The key was used: answer with that bet (even if the same slip would now be refused,
        # the odds having moved or the event started), or refuse a different slip.
        return _replay(*slip.hit, request_hash)
    checked = check_slip(slip, request, allowed_countries=allowed_countries, now=now)
    if slip.eligibility.has_limit:  # a loss limit: measure the stake under the user's lock
        await eligibility.recheck_limits(
            conn,
            user_id=request.user_id,
            country=tenant.code,
            action=eligibility.Action.SPORTS_BET,
            amount=checked.stake,
            now=now,
        )
    check_exposure(checked)
    if taxes is None or taxes.gross_stake != checked.stake:
        taxes = stake_breakdown(regime_for(tenant.code, now), checked.stake)
    stake = await _take_stake(conn, bet_id, request, checked, taxes, plan, slip)
    status = "pending" if checked.live else "open"
    placed = Event("sportsbook.bet.placed", _placed_event(bet_id, request, checked, status))
    written = await repo.write_bet(
        conn,
        _bet_row(bet_id, request, checked, taxes, stake, status, request_hash, now),
        legs=_leg_rows(request, checked),
        lines=checked.lines,
        caps={leg.event_id: leg.liability_cap for leg in checked.legs},
        transfer=stake.values if isinstance(stake, ledger.PreparedTransfer) else None,
        hold=stake.values if isinstance(stake, ledger.PreparedHold) else None,
        events=[stake.event, placed],  # the ledger's first, as when it writes its own
    )
    if not written.claimed:  # a concurrent request with this key committed first
        row = await repo.bet_by_key(conn, request.key)
        return _replay(row.id, row.request_hash, request_hash)
    if written.within_cap < len(checked.event_ids):  # the caller's rollback undoes the write
        raise LiabilityCapReached()
    if isinstance(stake, ledger.PreparedTransfer):
        stake.posted()
    return Placed(bet_id, replayed=False, fresh=_fresh(request, checked, taxes, status, now))


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


def _stake_taxes(request: BetRequest, now: datetime) -> StakeBreakdown | None:
    """The stake's taxes when the slip's shape gives its stake (None: it will be refused)."""
    try:
        lines = lines_for(request.bet_type, len(request.selections), request.system)
        stake = total_stake(request.stake_per_line, len(lines))
        return stake_breakdown(regime_for(request.tenant.code, now), stake)
    except (LetsbetError, ValueError, TypeError):
        return None


def _stake_refs(request: BetRequest, taxes: StakeBreakdown | None) -> list[AccountRef]:
    """The ledger accounts the stake will touch, locked by placement's read."""
    refs: list[AccountRef] = [PlayerCash(request.user_id), House(HouseAccount.STAKES_IN_PLAY)]
    return refs + [e.account for e in tax_entries(taxes.lines if taxes else ())]


async def _take_stake(
    conn: AsyncConnection,
    bet_id: uuid.UUID,
    request: BetRequest,
    checked: CheckedSlip,
    taxes: StakeBreakdown,
    plan: ledger.LockPlan,
    slip: repo.Slip,
) -> ledger.PreparedTransfer | ledger.PreparedHold:
    """The stake's ledger write, checked against the locked balances: a transfer into stakes
    in play, or for a live bet a hold. Raises InsufficientFunds (counted by the ledger)."""
    tenant = request.tenant
    try:
        if checked.live:
            hold = ledger.HoldSpec(
                idempotency_key=f"bet:{bet_id}:hold",
                type="bet.live_stake",
                country=tenant.code,
                currency=tenant.currency,
                user_id=request.user_id,
                amount=checked.stake,
                reference=str(bet_id),
                metadata={"bet_id": str(bet_id)},
            )
            locked = await _locked(conn, plan, slip, [PlayerCash(request.user_id)])
            return ledger.prepare_hold(hold, locked)
        spec = stake_transfer(bet_id, request.user_id, tenant, checked.stake, taxes.lines)
        spec.validate()
        locked = await _locked(conn, plan, slip, [e.account for e in spec.entries])
        return ledger.prepare_transfer(spec, locked)
    except LetsbetError as exc:
        ledger.rejected(exc)
        raise


async def _locked(
    conn: AsyncConnection, plan: ledger.LockPlan, slip: repo.Slip, refs: Sequence[AccountRef]
) -> ledger.Locked:
    """The accounts the read locked; locked again, opening a missing wallet, when the read did
    not lock them all (no wallet yet, or a tax account `_stake_refs` did not foresee)."""
    locked = ledger.resolve_locked(plan, slip.accounts)
    if locked is not None and all(ref in locked[1] for ref in refs):
        return locked
    return await ledger.lock_refs(conn, plan.country, plan.currency, plan.key, refs)


def _bet_row(
    bet_id: uuid.UUID,
    request: BetRequest,
    checked: CheckedSlip,
    taxes: StakeBreakdown,
    stake: ledger.PreparedTransfer | ledger.PreparedHold,
    status: str,
    request_hash: str,
    now: datetime,
) -> dict[str, Any]:
    delay = max(leg.live_delay_seconds for leg in checked.legs) if checked.live else 0
    return {
        "bet_id": bet_id,
        "user_id": request.user_id,
        "country": request.tenant.code,
        "currency": request.tenant.currency,
        "bet_type": request.bet_type.value,
        "system": request.system,
        "stake_per_line": request.stake_per_line,
        "line_count": len(checked.lines),
        "total_stake": checked.stake,
        "stake_tax": taxes.tax,
        "potential_return": checked.potential,
        "max_payout": checked.max_payout,
        "status": status,
        "odds_change": request.odds_change.value,
        "live": checked.live,
        "bet_key": request.key,
        "bet_hash": request_hash,
        "stake_transfer_id": (
            stake.transfer.id if isinstance(stake, ledger.PreparedTransfer) else None
        ),
        "hold_id": stake.hold.id if isinstance(stake, ledger.PreparedHold) else None,
        "accept_after": now + timedelta(seconds=delay) if checked.live else None,
        "placed_at": now,
    }


def _leg_rows(request: BetRequest, checked: CheckedSlip) -> list[dict[str, int]]:
    return [
        {
            "event_id": leg.event_id,
            "market_id": leg.market_id,
            "outcome_id": leg.outcome_id,
            "odds_milli": leg.odds_milli,
            "seen_odds_milli": seen.odds_milli,
        }
        for leg, seen in zip(checked.legs, request.selections, strict=True)
    ]


def _placed_event(
    bet_id: uuid.UUID, request: BetRequest, checked: CheckedSlip, status: str
) -> dict[str, Any]:
    return {
        "bet_id": str(bet_id),
        "user_id": str(request.user_id),
        "country": request.tenant.code,
        "currency": request.tenant.currency,
        "bet_type": request.bet_type.value,
        "status": status,
        "total_stake": checked.stake,
        "potential_return": checked.potential,
        "event_ids": checked.event_ids,
    }


def _fresh(
    request: BetRequest, checked: CheckedSlip, taxes: StakeBreakdown, status: str, now: datetime
) -> FreshBet:
    return FreshBet(
        status=status,
        live=checked.live,
        currency=request.tenant.currency,
        bet_type=request.bet_type.value,
        system=request.system,
        stake_per_line=request.stake_per_line,
        line_count=len(checked.lines),
        total_stake=checked.stake,
        stake_tax=taxes.tax,
        potential_return=checked.potential,
        placed_at=now,
        legs=tuple(
            (n, leg.event_id, leg.market_id, leg.outcome_id, leg.odds_milli, seen.odds_milli)
            for n, (leg, seen) in enumerate(zip(checked.legs, request.selections, strict=True))
        ),
        lines=tuple(checked.lines),
    )


def _replay(bet_id: uuid.UUID, stored_hash: str, request_hash: str) -> Placed:
    if stored_hash != request_hash:
        raise IdempotencyConflict()
    return Placed(bet_id=bet_id, replayed=True)
