"""GET and POST /api/bets/{id}/cash-out: quote a cash-out, accept it. Thin: parse, call, shape."""

from __future__ import annotations

import uuid
from datetime import datetime

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncConnection

from letsbet.platform.db import run_in_transaction
from letsbet.platform.http.deps import Conn, CurrentUser, RuntimeDep
from letsbet.platform.http.ratelimit import rate_limit
from letsbet.sportsbook.bets import cashout

# The one BetOut builder, shared with GET /api/bets/{id} so a cashed-out bet reads the same.
from letsbet.sportsbook.bets.endpoints import bet_view
from letsbet.sportsbook.bets.schemas import BetOut, milli_to_odds

router = APIRouter(prefix="/api", tags=["bets"])


class CashOutLegOut(BaseModel):
    leg_no: int
    placed_odds: str
    current_odds: str | None  # null once the leg is settled
    settled: bool


class CashOutQuoteOut(BaseModel):
    quote_id: str
    amount: str
    currency: str
    expires_at: datetime
    legs: list[CashOutLegOut]


class CashOutRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    quote_id: str = Field(min_length=1, max_length=64, pattern=r"^[0-9a-f]+$")


@router.get(
    "/bets/{bet_id}/cash-out",
    response_model=CashOutQuoteOut,
    dependencies=[Depends(rate_limit("read"))],
)
async def quote_cash_out(
    bet_id: uuid.UUID, principal: CurrentUser, conn: Conn, runtime: RuntimeDep
) -> CashOutQuoteOut:
    offer = await cashout.quote(conn, runtime.redis, bet_id=bet_id, user_id=principal.user_id)
    return CashOutQuoteOut(
        quote_id=offer.quote_id,
        amount=cashout.major(offer.amount, offer.currency),
        currency=offer.currency,
        expires_at=offer.expires_at,
        legs=[
            CashOutLegOut(
                leg_no=leg.leg_no,
                placed_odds=milli_to_odds(leg.placed_odds_milli),
                current_odds=(
                    None
                    if leg.current_odds_milli is None
                    else milli_to_odds(leg.current_odds_milli)
                ),
                settled=leg.settled,
            )
            for leg in offer.legs
        ],
    )


@router.post(
    "/bets/{bet_id}/cash-out",
    response_model=BetOut,
    dependencies=[Depends(rate_limit("money"))],
)
async def accept_cash_out(
    bet_id: uuid.UUID, body: CashOutRequest, principal: CurrentUser, runtime: RuntimeDep
) -> BetOut:
    offer = await cashout.load_quote(runtime.redis, body.quote_id)

    async def work(conn: AsyncConnection) -> BetOut:
        done = await cashout.cash_out(
            conn, bet_id=bet_id, user_id=principal.user_id, quote_id=body.quote_id, offer=offer
        )
        return await bet_view(conn, done.bet_id, replayed=done.replayed)

    bet = await run_in_transaction(runtime.db, work)
    if not bet.replayed:
        await cashout.forget_quote(runtime.redis, body.quote_id)
    return bet
