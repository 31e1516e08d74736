"""The odds feed adapter interface and how its messages change the catalogue.

Messages are shaped after Sportradar's Unified Odds Feed (UOF): odds_change, bet_stop,
bet_settlement (with void_factor and dead_heat_factor), bet_cancel, rollback_bet_settlement,
rollback_bet_cancel and fixture_change. Events are keyed by the feed's id (`events.external_id`),
markets by (type, line in hundredths), outcomes by key ("home", "over", ...).

Recovery (UOF "recovery after a reconnect"): an adapter that lost its connection is asked to
`recover(since)`, replaying every message produced after `since`; `consume` does that on each
reconnect. Replays and re-deliveries are safe because `apply_message` is idempotent: a message
that matches the stored state changes nothing (no seq bump, no outbox event).

`apply_message` runs in the caller's transaction and goes through the catalogue service only, so
every change bumps the event's seq and reaches NATS and /ws/odds through the outbox.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from functools import partial
from typing import Literal, Protocol

from sqlalchemy.ext.asyncio import AsyncConnection

from letsbet.errors import NotFound
from letsbet.platform.aio import wait_or_stop
from letsbet.platform.db import Database, run_in_transaction
from letsbet.platform.observability import get_logger
from letsbet.sportsbook.catalogue import repository as repo
from letsbet.sportsbook.catalogue import service
from letsbet.sportsbook.catalogue.repository import AnyRow

log = get_logger(__name__)

ACTOR = "feed"
RECONNECT_SECONDS = 5.0
MarketKey = tuple[str, int | None]  # (type, line_hundredths): "over_under", 250
MarketStatus = Literal["active", "suspended"]  # UOF market status 1 / -1
_FINAL_MARKETS = ("closed", "settled", "cancelled")
_FINAL_EVENTS = ("ended", "cancelled")


class UnknownFixture(NotFound):
    code = "unknown_fixture"
    message = "The feed sent a message for an event it never announced."


# -- messages ------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Fixture:
    external_id: str
    competition: str
    region: str
    home: str
    away: str
    starts_at: datetime
    sport_id: str = "football"
    countries: Sequence[str] | None = None


@dataclass(frozen=True, slots=True)
class MarketOdds:
    type: str
    line: int | None
    prices: Mapping[str, int]  # outcome key → odds_milli
    status: MarketStatus | None = None  # None: leave the market's status as it is

    @property
    def key(self) -> MarketKey:
        return self.type, self.line


@dataclass(frozen=True, slots=True)
class OddsChange:
    """New prices; UOF also carries the match status and score here (sport_event_status)."""

    event: str
    markets: Sequence[MarketOdds] = ()
    status: str | None = None  # "live", "ended", ...
    score: tuple[int, int] | None = None


@dataclass(frozen=True, slots=True)
class BetStop:
    """Suspend markets at once (a goal, a penalty); the next odds_change reopens them."""

    event: str
    markets: Sequence[MarketKey] | None = None  # None: every market of the event


@dataclass(frozen=True, slots=True)
class OutcomeSettled:
    key: str
    result: Literal["won", "lost"]
    void_factor: Decimal | None = None
    dead_heat_factor: Decimal | None = None


@dataclass(frozen=True, slots=True)
class MarketSettled:
    market: MarketKey
    outcomes: Sequence[OutcomeSettled]


@dataclass(frozen=True, slots=True)
class BetSettlement:
    event: str
    markets: Sequence[MarketSettled]


@dataclass(frozen=True, slots=True)
class BetCancel:
    """Void every bet on the markets (UOF bet_cancel): stakes are returned."""

    event: str
    markets: Sequence[MarketKey] | None = None  # None: every market of the event
    reason: str = ""


@dataclass(frozen=True, slots=True)
class RollbackBetSettlement:
    """Withdraw the markets' results: their settled bets reopen until a new bet_settlement."""

    event: str
    markets: Sequence[MarketKey]


@dataclass(frozen=True, slots=True)
class RollbackBetCancel:
    """Undo a bet_cancel: the markets' void results are withdrawn and their bets reopen."""

    event: str
    markets: Sequence[MarketKey] | None = None  # None: every market of the event


@dataclass(frozen=True, slots=True)
class FixtureChange:
    """A new fixture (`fixture` set) or a change of kick-off or status of a known one."""

    event: str
    fixture: Fixture | None = None
    starts_at: datetime | None = None
    status: str | None = None  # "postponed", "cancelled", "scheduled"


FeedMessage = (
    OddsChange
    | BetStop
    | BetSettlement
    | BetCancel
    | RollbackBetSettlement
    | RollbackBetCancel
    | FixtureChange
)


class FeedAdapter(Protocol):
    """A connection to a data feed: `connect` streams messages until the connection drops
    (ConnectionError); `recover(since)` replays what was produced after `since`."""

    def connect(self) -> AsyncIterator[FeedMessage]: ...

    def recover(self, since: datetime) -> AsyncIterator[FeedMessage]: ...


# -- applying messages ---------------------------------------------------------------------------
@dataclass(slots=True)
class _Event:
    row: AnyRow
    markets: dict[MarketKey, AnyRow] = field(default_factory=dict)
    outcomes: dict[int, dict[str, AnyRow]] = field(default_factory=dict)  # market id → key → row


async def _load(conn: AsyncConnection, external_id: str) -> _Event:
    event_id = await repo.event_by_external_id(conn, external_id)
    if event_id is None:
        raise UnknownFixture(f"No event with external_id {external_id!r}.")
    view = await service.event_view(conn, event_id, country=None)
    loaded = _Event(view.event)
    for market in view.markets:
        loaded.markets[market.type, market.line_hundredths] = market
        loaded.outcomes[market.id] = {o.key: o for o in view.outcomes[market.id]}
    return loaded


def _market(event: _Event, key: MarketKey) -> AnyRow:
    market = event.markets.get(key)
    if market is None:
        raise service.MarketNotFound(f"Event {event.row.id} has no {key[0]} {key[1]} market.")
    return market


async def apply_message(conn: AsyncConnection, message: FeedMessage) -> None:
    """Apply one feed message to the catalogue in the caller's transaction. Idempotent."""
    match message:
        case FixtureChange():
            await _fixture_change(conn, message)
        case OddsChange():
            await _odds_change(conn, message)
        case BetStop():
            await _bet_stop(conn, message)
        case BetSettlement():
            await _bet_settlement(conn, message)
        case BetCancel():
            await _bet_cancel(conn, message)
        case RollbackBetSettlement():
            await _rollback(conn, message)
        case RollbackBetCancel():
            await _rollback_cancel(conn, message)


async def _fixture_change(conn: AsyncConnection, message: FixtureChange) -> None:
    fixture = message.fixture
    if fixture is not None and await repo.event_by_external_id(conn, message.event) is None:
        new = service.NewEvent(
            sport_id=fixture.sport_id,
            competition=fixture.competition,
            region=fixture.region,
            home=fixture.home,
            away=fixture.away,
            starts_at=fixture.starts_at,
            countries=fixture.countries,
            external_id=message.event,
        )
        await service.create_event(conn, new, source="feed", actor=ACTOR)
        return
    event = await _load(conn, message.event)
    if event.row.status in _FINAL_EVENTS:
        return
    starts_at = message.starts_at or (fixture.starts_at if fixture else None)
    await service.update_event(
        conn, event.row.id, starts_at=starts_at, status=message.status, actor=ACTOR
    )


async def _odds_change(conn: AsyncConnection, message: OddsChange) -> None:
    event = await _load(conn, message.event)
    if event.row.status in _FINAL_EVENTS:
        return  # a late or replayed message: the event's prices are final
    if message.status is not None or message.score is not None:
        await service.update_event(
            conn, event.row.id, status=message.status, score=message.score, actor=ACTOR
        )
        if message.status in _FINAL_EVENTS:
            return
        event = await _load(conn, message.event)
    new = [m for m in message.markets if m.key not in event.markets]
    if new:
        markets = [service.NewMarket(m.type, m.line, m.prices) for m in new]
        await service.add_markets(conn, event.row.id, markets, source="feed", actor=ACTOR)
        event = await _load(conn, message.event)
    known = [m for m in message.markets if event.markets[m.key].status not in _FINAL_MARKETS]
    # Suspend before moving prices and move them before reopening: no bet at a stale price.
    for odds in known:
        if odds.status == "suspended":
            await service.set_market_open(
                conn, event.markets[odds.key].id, open_=False, actor=ACTOR
            )
    prices: dict[int, int] = {}
    for odds in known:
        outcomes = event.outcomes[event.markets[odds.key].id]
        prices.update({outcomes[key].id: milli for key, milli in odds.prices.items()})
    if prices:
        await service.update_odds(conn, event.row.id, prices, source="feed", actor=ACTOR)
    for odds in known:
        if odds.status == "active":
            await service.set_market_open(conn, event.markets[odds.key].id, open_=True, actor=ACTOR)


async def _bet_stop(conn: AsyncConnection, message: BetStop) -> None:
    event = await _load(conn, message.event)
    keys = event.markets.keys() if message.markets is None else message.markets
    for key in keys:
        market = _market(event, key)
        if market.status == "open":
            await service.set_market_open(conn, market.id, open_=False, actor=ACTOR)


async def _bet_settlement(conn: AsyncConnection, message: BetSettlement) -> None:
    event = await _load(conn, message.event)
    results = []
    for settled in message.markets:
        market = _market(event, settled.market)
        outcomes = event.outcomes[market.id]
        results.append(
            service.MarketResult(
                market.id,
                [
                    service.OutcomeResult(
                        outcomes[o.key].id, o.result, o.void_factor, o.dead_heat_factor
                    )
                    for o in settled.outcomes
                ],
            )
        )
    await service.result_event(conn, event.row.id, results, actor=ACTOR)


async def _bet_cancel(conn: AsyncConnection, message: BetCancel) -> None:
    event = await _load(conn, message.event)
    keys = list(event.markets) if message.markets is None else message.markets
    voided = [
        service.MarketResult(
            market.id,
            [
                service.OutcomeResult(o.id, "lost", void_factor=Decimal(1))
                for o in event.outcomes[market.id].values()
            ],
        )
        for market in (_market(event, key) for key in keys)
        if market.status != "cancelled"
    ]
    if voided:
        log.info("feed.bet_cancel", fixture=message.event, reason=message.reason)
        await service.result_event(conn, event.row.id, voided, actor=ACTOR)


async def _rollback(conn: AsyncConnection, message: RollbackBetSettlement) -> None:
    event = await _load(conn, message.event)
    markets = [_market(event, key).id for key in message.markets]
    rolled_back = await service.rollback_results(
        conn, event.row.id, markets, actor=ACTOR, only_resulted=True
    )
    if rolled_back:
        log.info("feed.rollback_bet_settlement", fixture=message.event, markets=rolled_back)


async def _rollback_cancel(conn: AsyncConnection, message: RollbackBetCancel) -> None:
    """Only markets still voided as bet_cancel left them (every outcome void_factor 1): a
    market resulted properly since then keeps its result."""
    event = await _load(conn, message.event)
    keys = list(event.markets) if message.markets is None else message.markets
    voided = [
        market.id
        for market in (_market(event, key) for key in keys)
        if market.status == "settled"
        and all(o.void_factor == 1 for o in event.outcomes[market.id].values())
    ]
    if voided:
        await service.rollback_results(conn, event.row.id, voided, actor=ACTOR, only_resulted=True)
        log.info("feed.rollback_bet_cancel", fixture=message.event, markets=voided)


# -- consuming a feed ----------------------------------------------------------------------------
async def consume(db: Database, adapter: FeedAdapter, stop: asyncio.Event) -> None:
    """Apply an adapter's messages, one transaction each, until `stop`; after a dropped
    connection, reconnect and recover everything since the last message applied."""
    since: datetime | None = None
    while not stop.is_set():
        mark = since or datetime.now(UTC)  # what to recover from if this connection drops
        stream = adapter.connect() if since is None else adapter.recover(since)
        try:
            async for message in stream:
                await run_in_transaction(db, partial(apply_message, message=message))
                mark = datetime.now(UTC)
                if stop.is_set():
                    return
            return
        except ConnectionError as exc:
            since = mark
            log.warning("feed.disconnected", error=repr(exc), retry_seconds=RECONNECT_SECONDS)
            await wait_or_stop(stop, RECONNECT_SECONDS)
