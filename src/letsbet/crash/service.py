"""Crash bet use cases: place a bet in the betting window, cash out during the flight.

Each takes the caller's connection first and runs inside the caller's transaction (wrap it in
`run_in_transaction`); `games.CrashGames` does that for REST and WebSocket alike and announces
the results once they are committed.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from letsbet.compliance import eligibility
from letsbet.compliance.geo.domain import Location
from letsbet.compliance.tax import regime_for, stake_breakdown
from letsbet.crash import repository as repo
from letsbet.crash import settlement
from letsbet.crash.config import GameConfig
from letsbet.crash.domain import (
    BetNotFound,
    BetStatus,
    BettingClosed,
    Flight,
    RoundCrashed,
    RoundNotStarted,
    RoundStatus,
    TooManyBets,
    cashout_at,
    check_stake,
    elapsed_ms,
)
from letsbet.errors import LetsbetError
from letsbet.ledger import service as ledger
from letsbet.ledger.domain import IdempotencyConflict, canonical_hash
from letsbet.platform.bus.outbox import Event, record
from letsbet.platform.money import Money
from letsbet.tenants import Tenant


@dataclass(frozen=True, slots=True)
class BetView:
    """A crash bet as its owner sees it."""

    id: uuid.UUID
    round_id: int
    game_id: str
    user_id: uuid.UUID
    status: str
    currency: str
    amount: int
    stake_tax: int
    auto_cashout: int | None
    cashout_multiplier: int | None
    cashout_kind: str | None
    payout: int | None
    winnings_tax: int | None
    net_payout: int | None
    placed_at: datetime
    settled_at: datetime | None
    replayed: bool = False

    @classmethod
    def of(cls, row: Any, game_id: str, *, replayed: bool = False) -> BetView:
        return cls(
            id=row.id,
            round_id=row.round_id,
            game_id=game_id,
            user_id=row.user_id,
            status=row.status,
            currency=row.currency,
            amount=row.amount,
            stake_tax=row.stake_tax,
            auto_cashout=row.auto_cashout,
            cashout_multiplier=row.cashout_multiplier,
            cashout_kind=row.cashout_kind,
            payout=row.payout,
            winnings_tax=row.winnings_tax,
            net_payout=row.net_payout,
            placed_at=row.placed_at,
            settled_at=row.settled_at,
            replayed=replayed,
        )


@dataclass(frozen=True, slots=True)
class BetRequest:
    game: GameConfig
    user_id: uuid.UUID
    tenant: Tenant
    amount: int  # minor units of the tenant's currency
    auto_cashout: int | None  # hundredths
    idempotency_key: str
    location: Location | None = None  # where the request came from, when geofenced

    @property
    def key(self) -> str:
        return f"{self.user_id}:crash:{self.idempotency_key}"

    def request_hash(self) -> str:
        return canonical_hash(
            {"game": self.game.game_id, "amount": self.amount, "auto": self.auto_cashout}
        )


async def place_bet(
    conn: AsyncConnection,
    request: BetRequest,
    *,
    allowed_countries: list[str],
    now: datetime,
) -> BetView:
    """Take a bet into the open round's betting window; a repeated key returns the first bet."""
    tenant = request.tenant
    try:
        round_id = await _open_round_for(conn, request, allowed_countries, now)
    except LetsbetError:
        # A replay answers with the original bet even when the window has closed since.
        existing = await repo.bet_by_key(conn, request.key)
        if existing is not None:
            return _replay(existing, request)
        raise
    bet_id = uuid.uuid4()
    taxes = stake_breakdown(regime_for(tenant.code, now), request.amount)
    claimed = await repo.claim_bet(
        conn,
        id=bet_id,
        round_id=round_id,
        user_id=request.user_id,
        country_code=tenant.code,
        currency=tenant.currency,
        amount=request.amount,
        stake_tax=taxes.tax,
        auto_cashout=request.auto_cashout,
        status=BetStatus.ACTIVE.value,
        idempotency_key=request.key,
        request_hash=request.request_hash(),
        placed_at=now,
    )
    if not claimed:  # a concurrent request with this key committed first
        return _replay(await repo.bet_by_key(conn, request.key), request)
    transfer = await ledger.post_transfer(
        conn,
        settlement.stake_transfer(
            bet_id,
            request.user_id,
            country=tenant.code,
            currency=tenant.currency,
            amount=request.amount,
            tax_lines=taxes.lines,
        ),
    )
    await repo.update_bet(conn, bet_id, stake_transfer_id=transfer.id)
    await record(
        conn,
        Event(
            "crash.bet.placed",
            {
                "bet_id": str(bet_id),
                "round_id": round_id,
                "game_id": request.game.game_id,
                "user_id": str(request.user_id),
                "country": tenant.code,
                "currency": tenant.currency,
                "amount": request.amount,
                "stake_tax": taxes.tax,
                "auto_cashout": request.auto_cashout,
            },
        ),
    )
    return BetView(
        id=bet_id,
        round_id=round_id,
        game_id=request.game.game_id,
        user_id=request.user_id,
        status=BetStatus.ACTIVE.value,
        currency=tenant.currency,
        amount=request.amount,
        stake_tax=taxes.tax,
        auto_cashout=request.auto_cashout,
        cashout_multiplier=None,
        cashout_kind=None,
        payout=None,
        winnings_tax=None,
        net_payout=None,
        placed_at=now,
        settled_at=None,
    )


async def _open_round_for(
    conn: AsyncConnection, request: BetRequest, allowed_countries: list[str], now: datetime
) -> int:
    """Every rule a bet must pass; the id of the round it joins."""
    tenant = request.tenant
    await eligibility.check(
        conn,
        user_id=request.user_id,
        country=tenant.code,
        action=eligibility.Action.CRASH_BET,
        allowed_countries=allowed_countries,
        amount=request.amount,
        location=request.location,
        now=now,
    )
    check_stake(
        request.amount,
        minimum=tenant.min_stake,
        maximum=tenant.max_stake,
        shown={
            "minimum": f"{Money(tenant.min_stake, tenant.currency)}",
            "maximum": f"{Money(tenant.max_stake, tenant.currency)}",
        },
    )
    current = await repo.latest_round(conn, request.game.game_id, for_share=True)
    if current is None or current.status != RoundStatus.BETTING or now >= current.betting_closes_at:
        raise BettingClosed()
    await repo.lock_player_in_round(conn, current.id, request.user_id)
    limit = request.game.max_bets_per_player
    if await repo.count_player_bets(conn, current.id, request.user_id) >= limit:
        raise TooManyBets(f"At most {limit} bets per player per round.", limit=limit)
    return int(current.id)


def _replay(row: Any, request: BetRequest) -> BetView:
    if row.request_hash != request.request_hash():  # the hash covers the game id
        raise IdempotencyConflict()
    return BetView.of(row, request.game.game_id, replayed=True)


@dataclass(frozen=True, slots=True)
class Cashout:
    bet: BetView
    settled: settlement.CashedOut | None  # None for a replay of an earlier cash-out


async def cash_out(
    conn: AsyncConnection, *, user_id: uuid.UUID, bet_id: uuid.UUID, now: datetime
) -> Cashout:
    """Cash a riding bet out at the server's multiplier at `now` (the time of receipt).

    A bet already cashed out answers with that cash-out (a retry is harmless); one the round
    passed its auto-cash-out or cap for is paid there; after the crash it is 409 round_crashed.
    """
    row = await repo.bet_with_round(conn, bet_id)
    if row is None or row.user_id != user_id:
        raise BetNotFound()
    if row.status == BetStatus.CASHED_OUT:
        return Cashout(BetView.of(row, row.game_id, replayed=True), None)
    if row.status == BetStatus.LOST:
        raise RoundCrashed()
    if row.round_status == RoundStatus.BETTING or row.started_at is None:
        raise RoundNotStarted()
    flight = Flight(crash_point=row.crash_point, cap=row.cap_multiplier)
    decision = cashout_at(elapsed_ms(row.started_at, now), auto=row.auto_cashout, flight=flight)
    if decision is None:
        raise RoundCrashed()
    multiplier, kind = decision
    settled = await settlement.cash_out(
        conn,
        bet_id,
        round_id=row.round_id,
        game_id=row.game_id,
        multiplier=multiplier,
        kind=kind,
        now=now,
    )
    fresh = await repo.bet_by_id(conn, bet_id)
    if settled is None:  # settled by someone else between our read and our update
        if fresh.status != BetStatus.CASHED_OUT:
            raise RoundCrashed()
        return Cashout(BetView.of(fresh, row.game_id, replayed=True), None)
    return Cashout(BetView.of(fresh, row.game_id), settled)
