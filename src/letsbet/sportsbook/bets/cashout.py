"""Cash-out: the house offers to settle an open single or multi early (issue 4, must have 8).

A quote prices the bet from the server's current odds (see `domain.cash_out_quote`):

    amount = stake * prod(settled legs' factors) * prod(placed / current over unsettled legs)
                   * (1 - CASH_OUT_MARGIN), rounded down

and lives in Redis for QUOTE_TTL_SECONDS. Accepting it locks the bet, prices it again from the
odds of that moment and pays only if the amount is unchanged; the bet is then settled early
through the ledger exactly as settlement would settle a bet returning that amount.

Errors (409 unless noted, rendered by the one error handler):
    BetNotFound          404 bet_not_found           no such bet, or not the caller's
    CashOutUnavailable       cash_out_unavailable    details.reason: one of REASONS
    CashOutQuoteExpired      cash_out_quote_expired  unknown, expired, or for another bet
    CashOutQuoteChanged      cash_out_quote_changed  the price moved; details.amount is new
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncConnection

from letsbet.compliance.tax import payout_breakdown, regime_for
from letsbet.errors import Conflict, Unavailable
from letsbet.ledger import service as ledger
from letsbet.platform.bus.outbox import Event, record
from letsbet.platform.money import Money
from letsbet.platform.observability import BETS_PAID, BETS_SETTLED, get_logger
from letsbet.sportsbook.bets import repository as repo
from letsbet.sportsbook.bets.domain import BetNotFound, LegResult, cash_out_quote, leg_factor

# Settlement's transfer builder is private but is exactly what cash-out posts (the player gets
# the return less withholding, the rest is revenue); imported rather than copied so the two
# cannot drift. Only its idempotency key, type and metadata are replaced below.
from letsbet.sportsbook.bets.settlement import settlement_transfer

log = get_logger(__name__)

# The house's edge on an early settlement: the quote is the bet's fair value at current odds
# less 5%. A trading decision, not a rule from any regulation; change it here only.
CASH_OUT_MARGIN = Fraction(5, 100)

# How long a quote may be accepted: short, because live odds move within seconds and a stale
# quote is a free option for the player. Accepting re-prices anyway; this bounds the window.
QUOTE_TTL_SECONDS = 5

# Why a bet cannot be cashed out now: `details.reason` of CashOutUnavailable.
REASONS = (
    "bet_pending",  # a live bet still waiting out its delay
    "bet_not_open",  # settled, rejected or already cashed out
    "system_bet",  # systems are not offered cash-out
    "leg_lost",  # a leg has lost: the bet is worth nothing
    "market_suspended",  # an unsettled leg's market or event is suspended
    "market_closed",  # an unsettled leg's market is closed, resulted or its event over
    "no_value",  # the quote rounds down to zero
)


class CashOutUnavailable(Conflict):
    code = "cash_out_unavailable"
    message = "This bet cannot be cashed out right now."


class CashOutQuoteExpired(Conflict):
    code = "cash_out_quote_expired"
    message = "The cash-out offer has expired; ask for a new one."


class CashOutQuoteChanged(Conflict):
    code = "cash_out_quote_changed"
    message = "The cash-out amount changed; review the new amount and try again."


@dataclass(frozen=True, slots=True)
class QuoteLeg:
    leg_no: int
    placed_odds_milli: int
    current_odds_milli: int | None  # None once the leg is settled
    settled: bool


@dataclass(frozen=True, slots=True)
class Quote:
    quote_id: str
    bet_id: uuid.UUID
    user_id: uuid.UUID
    currency: str
    amount: int  # minor units
    expires_at: datetime
    legs: tuple[QuoteLeg, ...]


@dataclass(frozen=True, slots=True)
class CashedOut:
    bet_id: uuid.UUID
    replayed: bool


# -- pricing (pure) ---------------------------------------------------------------------------
def price(bet: Any, legs: Sequence[Any], rows: Mapping[int, Any]) -> tuple[int, list[QuoteLeg]]:
    """What the house pays now for `bet` (its legs, and `rows`: selection rows by outcome id),
    or CashOutUnavailable with the reason."""
    if bet.status == "pending":
        raise CashOutUnavailable(reason="bet_pending")
    if bet.status != "open":
        raise CashOutUnavailable(reason="bet_not_open", status=bet.status)
    if bet.bet_type == "system":
        raise CashOutUnavailable(reason="system_bet")
    results = [_result(leg) for leg in legs]
    for leg, result in zip(legs, results, strict=True):
        if result is not None and leg_factor(leg.odds_milli, result) == 0:
            raise CashOutUnavailable(reason="leg_lost", leg_no=leg.leg_no)
    current: list[int | None] = []
    for leg, result in zip(legs, results, strict=True):
        if result is not None:
            current.append(None)
            continue
        current.append(int(_open_row(rows.get(leg.outcome_id), leg.leg_no).odds_milli))
    amount = cash_out_quote(
        bet.total_stake,
        [leg.odds_milli for leg in legs],
        current,
        margin=CASH_OUT_MARGIN,
        results=results,
        max_payout=bet.max_payout,
    )
    if amount == 0:
        raise CashOutUnavailable(reason="no_value")
    quote_legs = [
        QuoteLeg(leg.leg_no, leg.odds_milli, odds, settled=odds is None)
        for leg, odds in zip(legs, current, strict=True)
    ]
    return amount, quote_legs


def _result(leg: Any) -> LegResult | None:
    if leg.result is None:
        return None
    return LegResult.of(leg.result == "won", leg.void_factor, leg.dead_heat_factor)


def _open_row(row: Any, leg_no: int) -> Any:
    """The selection row of an unsettled leg, if its market can still be traded."""
    if row is None:
        raise CashOutUnavailable(reason="market_closed", leg_no=leg_no)
    if row.event_status == "suspended" or row.market_status == "suspended":
        raise CashOutUnavailable(reason="market_suspended", leg_no=leg_no)
    if (
        row.market_status != "open"
        or not row.active
        or row.event_status not in ("scheduled", "live")
    ):
        raise CashOutUnavailable(reason="market_closed", leg_no=leg_no)
    return row


# -- use cases --------------------------------------------------------------------------------
async def quote(
    conn: AsyncConnection,
    redis: aioredis.Redis,
    *,
    bet_id: uuid.UUID,
    user_id: uuid.UUID,
    now: datetime | None = None,
) -> Quote:
    """Price the caller's bet for cash-out now and keep the offer for QUOTE_TTL_SECONDS."""
    now = now or datetime.now(UTC)
    bet = await _owned_bet(conn, bet_id, user_id)
    amount, legs = await _price_now(conn, bet)
    offer = Quote(
        quote_id=uuid.uuid4().hex,
        bet_id=bet_id,
        user_id=user_id,
        currency=bet.currency,
        amount=amount,
        expires_at=now + timedelta(seconds=QUOTE_TTL_SECONDS),
        legs=tuple(legs),
    )
    await _store(redis, offer)
    return offer


async def cash_out(
    conn: AsyncConnection,
    *,
    bet_id: uuid.UUID,
    user_id: uuid.UUID,
    quote_id: str,
    offer: Mapping[str, Any] | None,
    now: datetime | None = None,
) -> CashedOut:
    """Accept a cash-out quote: settle the bet early for the quoted amount, through the ledger.

    `offer` is the stored quote (`load_quote`), None when it has expired. The bet is locked,
    must still be open and must price to the same amount now; a repeat of an accepted quote
    answers with the cashed-out bet (replayed=True) and moves no money.
    """
    now = now or datetime.now(UTC)
    bet = await _owned_bet(conn, bet_id, user_id, for_update=True)
    if bet.status == "cashed_out" and await _accepted(conn, bet_id, quote_id):
        return CashedOut(bet_id, replayed=True)
    if (
        offer is None
        or offer.get("bet_id") != str(bet_id)
        or offer.get("user_id") != str(user_id)
        or datetime.fromisoformat(offer["expires_at"]) < now
    ):
        raise CashOutQuoteExpired()
    amount, _ = await _price_now(conn, bet)
    if amount != offer["amount"]:
        raise CashOutQuoteChanged(
            amount=major(amount, bet.currency), quoted=major(int(offer["amount"]), bet.currency)
        )
    await _settle_early(conn, bet, amount, quote_id, now)
    return CashedOut(bet_id, replayed=False)


async def _settle_early(
    conn: AsyncConnection, bet: Any, amount: int, quote_id: str, now: datetime
) -> None:
    taxes = payout_breakdown(
        regime_for(bet.country_code, now), stake=bet.total_stake, payout=amount
    )
    spec = dataclasses.replace(
        settlement_transfer(bet, amount, taxes),
        idempotency_key=f"bet:{bet.id}:cashout",
        type="bet.cash_out",
        metadata={"bet_id": str(bet.id), "return": amount, "quote_id": quote_id},
    )
    transfer = await ledger.post_transfer(conn, spec)
    await repo.update_bet(
        conn,
        bet.id,
        status="cashed_out",
        return_amount=amount,
        winnings_tax=taxes.tax,
        payout=taxes.net_payout,
        settlement_transfer_id=transfer.id,
        settled_at=now,
    )
    await repo.record_status(conn, bet.id, "cashed_out", _reason(quote_id))
    legs = await repo.legs_of(conn, bet.id)
    await repo.release_exposure(
        conn,
        event_ids=sorted({leg.event_id for leg in legs}),
        currency=bet.currency,
        amount=bet.potential_return,
    )
    BETS_SETTLED.labels("cashed_out").inc()
    BETS_PAID.labels(bet.currency).inc(taxes.net_payout)
    await record(
        conn,
        Event(
            "sportsbook.bet.cashed_out",
            {
                "bet_id": str(bet.id),
                "user_id": str(bet.user_id),
                "currency": bet.currency,
                "total_stake": bet.total_stake,
                "return": amount,
                "winnings_tax": taxes.tax,
                "payout": taxes.net_payout,
                "quote_id": quote_id,
            },
        ),
    )


async def _owned_bet(
    conn: AsyncConnection, bet_id: uuid.UUID, user_id: uuid.UUID, *, for_update: bool = False
) -> Any:
    bet = await repo.bet_by_id(conn, bet_id, for_update=for_update)
    if bet is None or bet.user_id != user_id:
        raise BetNotFound()
    return bet


async def _price_now(conn: AsyncConnection, bet: Any) -> tuple[int, list[QuoteLeg]]:
    legs = await repo.legs_of(conn, bet.id)
    rows = await repo.selection_rows(conn, [leg.outcome_id for leg in legs])
    return price(bet, legs, rows)


async def _accepted(conn: AsyncConnection, bet_id: uuid.UUID, quote_id: str) -> bool:
    """Whether this quote is the one that cashed the bet out (kept in its status history)."""
    return any(
        h.status == "cashed_out" and h.reason == _reason(quote_id)
        for h in await repo.history_of(conn, bet_id)
    )


def _reason(quote_id: str) -> str:
    return f"quote:{quote_id}"


# -- quote store (Redis) ----------------------------------------------------------------------
def _key(quote_id: str) -> str:
    return f"cashout:{quote_id}"


async def _store(redis: aioredis.Redis, offer: Quote) -> None:
    value = {
        "bet_id": str(offer.bet_id),
        "user_id": str(offer.user_id),
        "amount": offer.amount,
        "currency": offer.currency,
        "expires_at": offer.expires_at.isoformat(),
        "odds": [leg.current_odds_milli for leg in offer.legs],
    }
    try:
        await redis.set(_key(offer.quote_id), json.dumps(value), ex=QUOTE_TTL_SECONDS)
    except RedisError:
        raise Unavailable("Cash-out is unavailable right now; retry shortly.") from None


async def load_quote(redis: aioredis.Redis, quote_id: str) -> dict[str, Any] | None:
    """The stored quote, or None once it has expired (or never existed)."""
    try:
        raw = await redis.get(_key(quote_id))
    except RedisError:
        raise Unavailable("Cash-out is unavailable right now; retry shortly.") from None
    if raw is None:
        return None
    value: dict[str, Any] = json.loads(raw)
    return value


async def forget_quote(redis: aioredis.Redis, quote_id: str) -> None:
    """Drop an accepted quote (after the cash-out has committed). Best effort: the money has
    moved, the key expires within seconds anyway and a repeat of the quote moves nothing."""
    try:
        await redis.delete(_key(quote_id))
    except RedisError as exc:
        log.warning("cashout.forget_failed", quote_id=quote_id, error=type(exc).__name__)


def major(amount: int, currency: str) -> str:
    """An amount as the API shows it: a decimal string in major units."""
    return Money(amount, currency).format()
