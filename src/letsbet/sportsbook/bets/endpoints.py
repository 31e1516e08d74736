"""POST /api/bets, GET /api/bets, GET /api/bets/{id}. Thin: parse, call, shape."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Query, Response
from sqlalchemy.ext.asyncio import AsyncConnection

from letsbet.accounts.domain import Role
from letsbet.compliance.geo.deps import MoneyLocation
from letsbet.errors import LetsbetError
from letsbet.platform.db import run_in_transaction
from letsbet.platform.http import cursor as cursors
from letsbet.platform.http.cursor import InvalidCursor
from letsbet.platform.http.deps import Conn, CurrentUser, RuntimeDep
from letsbet.platform.http.ratelimit import rate_limit
from letsbet.platform.money import Money, to_money
from letsbet.platform.observability import BETS_PLACED, BETS_REJECTED, BETS_STAKED
from letsbet.sportsbook.bets import placement
from letsbet.sportsbook.bets import repository as repo
from letsbet.sportsbook.bets.domain import BetNotFound, BetType, OddsChangePolicy
from letsbet.sportsbook.bets.schemas import (
    BetOut,
    BetPage,
    BetSummary,
    LegOut,
    LineOut,
    PlaceBetRequest,
    StatusOut,
    milli_to_odds,
    odds_to_milli,
)
from letsbet.sportsbook.bets.tables import bets
from letsbet.tenants import get_tenant

router = APIRouter(prefix="/api", tags=["bets"])


@router.post(
    "/bets", status_code=201, response_model=BetOut, dependencies=[Depends(rate_limit("money"))]
)
async def place(
    body: PlaceBetRequest,
    principal: CurrentUser,
    runtime: RuntimeDep,
    response: Response,
    location: MoneyLocation,
) -> BetOut:
    tenant = get_tenant(principal.country)
    stake = to_money(body.stake, tenant.currency)
    request = placement.BetRequest(
        user_id=principal.user_id,
        tenant=tenant,
        bet_type=BetType(body.bet_type),
        selections=tuple(
            placement.Selection(s.outcome_id, odds_to_milli(s.odds)) for s in body.selections
        ),
        stake_per_line=stake.minor,
        system=body.system,
        odds_change=OddsChangePolicy(body.odds_change),
        idempotency_key=body.idempotency_key,
        location=location,
    )

    async def work(conn: AsyncConnection) -> placement.Placed:
        return await placement.place_bet(
            conn, request, allowed_countries=runtime.settings.allowed_countries
        )

    try:
        placed = await run_in_transaction(runtime.db, work)
    except LetsbetError as exc:
        BETS_REJECTED.labels(exc.code).inc()
        raise
    if placed.fresh is not None:  # a new bet: answer from what placement already knows
        bet = _fresh_view(placed.bet_id, placed.fresh)
    else:  # a replay: read it back
        async with runtime.db.connect() as conn:
            bet = await bet_view(conn, placed.bet_id, replayed=placed.replayed)
    if bet.replayed:
        response.status_code = 200
    else:
        BETS_PLACED.labels(body.bet_type, tenant.currency).inc()
        BETS_STAKED.labels(tenant.currency).inc(stake.minor * bet.line_count)
    return bet


@router.get("/bets", response_model=BetPage, dependencies=[Depends(rate_limit("read"))])
async def list_bets(
    principal: CurrentUser,
    conn: Conn,
    status: Annotated[str | None, Query(max_length=20)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> BetPage:
    query = sa.select(bets).where(bets.c.user_id == principal.user_id)
    if status:
        query = query.where(bets.c.status == status)
    if cursor:
        placed_at, bet_id = _decode_cursor(cursor)
        query = query.where(sa.tuple_(bets.c.placed_at, bets.c.id) < (placed_at, bet_id))
    rows = (
        await conn.execute(
            query.order_by(bets.c.placed_at.desc(), bets.c.id.desc()).limit(limit + 1)
        )
    ).all()
    items = [
        BetSummary(
            id=r.id,
            status=r.status,
            bet_type=r.bet_type,
            currency=r.currency,
            total_stake=_fmt(r.total_stake, r.currency),
            potential_return=_fmt(r.potential_return, r.currency),
            payout=_fmt(r.payout, r.currency) if r.payout is not None else None,
            placed_at=r.placed_at,
        )
        for r in rows[:limit]
    ]
    last = rows[limit - 1] if len(rows) > limit else None
    return BetPage(items=items, next_cursor=_encode_cursor(last) if last else None)


@router.get("/bets/{bet_id}", response_model=BetOut, dependencies=[Depends(rate_limit("read"))])
async def get_bet(bet_id: uuid.UUID, principal: CurrentUser, conn: Conn) -> BetOut:
    bet = await repo.bet_by_id(conn, bet_id)
    if bet is None or (bet.user_id != principal.user_id and principal.role != Role.ADMIN):
        raise BetNotFound()
    return await bet_view(conn, bet_id)


def _fresh_view(bet_id: uuid.UUID, fresh: placement.FreshBet) -> BetOut:
    currency = fresh.currency
    return BetOut(
        id=bet_id,
        status=fresh.status,
        reject_code=None,
        bet_type=fresh.bet_type,
        system=fresh.system,
        live=fresh.live,
        currency=currency,
        stake_per_line=_fmt(fresh.stake_per_line, currency),
        line_count=fresh.line_count,
        total_stake=_fmt(fresh.total_stake, currency),
        stake_tax=_fmt(fresh.stake_tax, currency),
        potential_return=_fmt(fresh.potential_return, currency),
        returned=None,
        winnings_tax=None,
        payout=None,
        placed_at=fresh.placed_at,
        settled_at=None,
        legs=[
            LegOut(
                leg_no=no,
                event_id=event,
                market_id=market,
                outcome_id=outcome,
                odds=milli_to_odds(odds),
                seen_odds=milli_to_odds(seen),
                result=None,
                void_factor=None,
                dead_heat_factor=None,
            )
            for no, event, market, outcome, odds, seen in fresh.legs
        ],
        lines=[
            LineOut(
                line_no=n,
                legs=list(line),
                stake=_fmt(fresh.stake_per_line, currency),
                returned=None,
            )
            for n, line in enumerate(fresh.lines)
        ],
        history=[StatusOut(status=fresh.status, reason=None, at=fresh.placed_at)],
    )


async def bet_view(conn: AsyncConnection, bet_id: uuid.UUID, *, replayed: bool = False) -> BetOut:
    bet = await repo.bet_by_id(conn, bet_id)
    if bet is None:
        raise BetNotFound()
    currency = bet.currency
    legs = await repo.legs_of(conn, bet_id)
    lines = await repo.lines_of(conn, bet_id)
    history = await repo.history_of(conn, bet_id)
    return BetOut(
        id=bet.id,
        status=bet.status,
        reject_code=bet.reject_code,
        bet_type=bet.bet_type,
        system=bet.system,
        live=bet.live,
        currency=currency,
        stake_per_line=_fmt(bet.stake_per_line, currency),
        line_count=bet.line_count,
        total_stake=_fmt(bet.total_stake, currency),
        stake_tax=_fmt(bet.stake_tax, currency),
        potential_return=_fmt(bet.potential_return, currency),
        returned=_opt(bet.return_amount, currency),
        winnings_tax=_opt(bet.winnings_tax, currency),
        payout=_opt(bet.payout, currency),
        placed_at=bet.placed_at,
        settled_at=bet.settled_at,
        legs=[
            LegOut(
                leg_no=leg.leg_no,
                event_id=leg.event_id,
                market_id=leg.market_id,
                outcome_id=leg.outcome_id,
                odds=milli_to_odds(leg.odds_milli),
                seen_odds=milli_to_odds(leg.seen_odds_milli),
                result=leg.result,
                void_factor=str(leg.void_factor) if leg.void_factor is not None else None,
                dead_heat_factor=(
                    str(leg.dead_heat_factor) if leg.dead_heat_factor is not None else None
                ),
            )
            for leg in legs
        ],
        lines=[
            LineOut(
                line_no=line.line_no,
                legs=list(line.legs),
                stake=_fmt(line.stake, currency),
                returned=_opt(line.return_amount, currency),
            )
            for line in lines
        ],
        history=[StatusOut(status=h.status, reason=h.reason, at=h.at) for h in history],
        replayed=replayed,
    )


def _fmt(minor: int, currency: str) -> str:
    return Money(minor, currency).format()


def _opt(minor: int | None, currency: str) -> str | None:
    return None if minor is None else _fmt(minor, currency)


def _encode_cursor(row: Any) -> str:
    return cursors.encode_cursor(f"{row.placed_at.isoformat()}|{row.id}")


def _decode_cursor(value: str) -> tuple[datetime, uuid.UUID]:
    try:
        placed_at, bet_id = cursors.decode_cursor(value, max_chars=128).split("|")
        return datetime.fromisoformat(placed_at), uuid.UUID(bet_id)
    except ValueError:
        raise InvalidCursor() from None
