"""/api/sports, /api/events (public) and /api/admin/events, /api/admin/markets (trading).
Thin: parse, call the service, shape the answer."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from sqlalchemy.ext.asyncio import AsyncConnection

from letsbet.accounts.domain import Role
from letsbet.compliance.audit.deps import staff
from letsbet.compliance.audit.domain import Actor
from letsbet.platform.http.deps import Conn, Tx, peek_principal
from letsbet.platform.http.ratelimit import rate_limit
from letsbet.sportsbook.catalogue import service
from letsbet.sportsbook.catalogue.audit import audited
from letsbet.sportsbook.catalogue.repository import AnyRow, EventFilter
from letsbet.sportsbook.catalogue.schemas import (
    MAX_ID,
    CompetitionOut,
    Country,
    EventCreate,
    EventDetail,
    EventPage,
    EventPatch,
    EventStatus,
    EventSummary,
    LimitsIn,
    LimitsOut,
    MainMarketOut,
    MarketIn,
    MarketOut,
    MarketsAdd,
    Moment,
    OddsPatch,
    OutcomeOut,
    PriceOut,
    ResultIn,
    ScoreOut,
    SportOut,
)

router = APIRouter(prefix="/api", tags=["sportsbook"])
# Included by the app itself, not nested in `router`: nested routes report their inner path
# ("/admin/events") as the route template, and metrics must carry the full one.
admin_router = APIRouter(
    prefix="/api/admin", tags=["trading"], dependencies=[Depends(rate_limit("money"))]
)
router_reads = [Depends(rate_limit("read"))]

EventId = Annotated[int, Path(ge=1, le=MAX_ID)]
MarketId = Annotated[int, Path(ge=1, le=MAX_ID)]
Admin = Annotated[Actor, Depends(staff(Role.ADMIN))]
MAX_PAGE = 100


# -- shaping -------------------------------------------------------------------------------------
def _price(row: AnyRow) -> PriceOut:
    return PriceOut(
        id=row.id,
        key=row.key,
        name=row.name,
        odds=service.format_odds(row.odds_milli),
        odds_milli=row.odds_milli,
        active=row.active,
    )


def _outcome(row: AnyRow) -> OutcomeOut:
    return OutcomeOut(
        **_price(row).model_dump(),
        result=row.result,
        void_factor=service.format_factor(row.void_factor),
        dead_heat_factor=service.format_factor(row.dead_heat_factor),
    )


def _score(row: AnyRow) -> ScoreOut | None:
    if row.home_score is None or row.away_score is None:
        return None
    return ScoreOut(home=row.home_score, away=row.away_score)


def _competition(row: AnyRow) -> CompetitionOut:
    return CompetitionOut(
        id=row.competition_id, name=row.competition_name, region=row.competition_region
    )


def _summary(row: AnyRow, main: Sequence[AnyRow]) -> EventSummary:
    main_market = None
    if main:
        first = main[0]
        main_market = MainMarketOut(
            id=first.market_id,
            type=first.market_type,
            status=first.market_status,
            outcomes=[_price(o) for o in main],
        )
    return EventSummary(
        id=row.id,
        sport=row.sport_id,
        competition=_competition(row),
        home=row.home,
        away=row.away,
        starts_at=row.starts_at,
        status=row.status,
        score=_score(row),
        market_count=row.market_count,
        main_market=main_market,
    )


def _detail(view: service.EventView) -> EventDetail:
    row = view.event
    return EventDetail(
        id=row.id,
        sport=row.sport_id,
        competition=_competition(row),
        home=row.home,
        away=row.away,
        starts_at=row.starts_at,
        status=row.status,
        score=_score(row),
        countries=list(row.countries),
        limits=LimitsOut(
            max_stake=service.format_limit(row.max_stake),
            max_payout=service.format_limit(row.max_payout),
            liability_cap=service.format_limit(row.liability_cap),
        ),
        seq=row.seq,
        external_id=row.external_id,
        markets=[
            MarketOut(
                id=m.id,
                type=m.type,
                line=None if m.line_hundredths is None else service.format_line(m.line_hundredths),
                status=m.status,
                outcomes=[_outcome(o) for o in view.outcomes[m.id]],
            )
            for m in view.markets
        ],
        updated_at=row.updated_at,
    )


async def _reply(conn: AsyncConnection, event_id: int) -> EventDetail:
    return _detail(await service.event_view(conn, event_id, country=None))


# -- public --------------------------------------------------------------------------------------
@router.get("/sports", response_model=list[SportOut], dependencies=router_reads)
async def list_sports(
    request: Request, conn: Conn, country: Country | None = None
) -> list[SportOut]:
    """Sports in display order with their live and upcoming event counts."""
    where = service.viewer_country(peek_principal(request), country)
    return [
        SportOut(
            id=row.id,
            name=row.name,
            live_delay_seconds=row.live_delay_seconds,
            live_count=row.live_count,
            upcoming_count=row.upcoming_count,
        )
        for row in await service.list_sports(conn, country=where)
    ]


@router.get("/events", response_model=EventPage, dependencies=router_reads)
async def list_events(
    request: Request,
    conn: Conn,
    sport: Annotated[str | None, Query(pattern=r"^[a-z][a-z0-9_]{0,31}$")] = None,
    competition: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    live: bool | None = None,
    status: EventStatus | None = None,
    since: Annotated[Moment | None, Query(alias="from")] = None,
    until: Annotated[Moment | None, Query(alias="to")] = None,
    country: Country | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
) -> EventPage:
    """Events in kick-off order, `limit` per page: by default those not ended or cancelled.
    A player sees the events offered in their country; others may pass `country`.
    `live=true`: in play; `live=false`: not started; `from` inclusive, `to` exclusive."""
    where = EventFilter(
        sport=sport,
        competition=competition,
        live=live,
        status=status,
        country=service.viewer_country(peek_principal(request), country),
        since=since,
        until=until,
    )
    page = await service.list_events(conn, where, limit=limit, cursor=cursor)
    return EventPage(
        items=[_summary(row, page.main_markets.get(row.id, [])) for row in page.events],
        next_cursor=page.next_cursor,
    )


@router.get(
    "/events/{event_id}",
    response_model=EventDetail,
    dependencies=router_reads,
    responses={404: {"description": "event_not_found"}},
)
async def get_event(event_id: EventId, request: Request, conn: Conn) -> EventDetail:
    """One event with every market and outcome."""
    country = service.viewer_country(peek_principal(request), None)
    return _detail(await service.event_view(conn, event_id, country=country))


# -- trading -------------------------------------------------------------------------------------
def _markets(markets: Sequence[MarketIn]) -> list[service.NewMarket]:
    parsed = []
    for m in markets:
        if len({o.key for o in m.outcomes}) != len(m.outcomes):
            raise service.InvalidMarket(f"An outcome of the {m.type} market appears twice.")
        parsed.append(
            service.NewMarket(
                type=m.type,
                line=None if m.line is None else service.parse_line(m.line),
                prices={o.key: service.parse_odds(o.odds) for o in m.outcomes},
                names={o.key: o.name for o in m.outcomes if o.name},
            )
        )
    return parsed


def _limits(limits: LimitsIn | EventPatch | None) -> dict[str, int | None]:
    if limits is None:
        return {}
    given: dict[str, Any] = {
        name: getattr(limits, name)
        for name in service.LIMIT_FIELDS
        if name in limits.model_fields_set
    }
    return {k: None if v is None else service.limit_minor(v) for k, v in given.items()}


@admin_router.post("/events", status_code=201, response_model=EventDetail)
async def create_event(body: EventCreate, conn: Tx, admin: Admin) -> EventDetail:
    """Create an event with its markets and opening odds; the competition is created if new."""
    async with audited(conn, admin, "sportsbook.event.create") as target:
        target.event_id = await service.create_event(
            conn,
            service.NewEvent(
                sport_id=body.sport_id,
                competition=body.competition.name,
                region=body.competition.region,
                home=body.home,
                away=body.away,
                starts_at=body.starts_at,
                markets=_markets(body.markets),
                countries=body.countries,
                limits=_limits(body.limits),
                external_id=body.external_id,
            ),
            actor=admin.label,
        )
    return await _reply(conn, target.event_id)


@admin_router.post("/events/{event_id}/markets", status_code=201, response_model=EventDetail)
async def add_markets(event_id: EventId, body: MarketsAdd, conn: Tx, admin: Admin) -> EventDetail:
    """Open more markets on an event."""
    async with audited(conn, admin, "sportsbook.markets.add", event_id=event_id):
        await service.add_markets(conn, event_id, _markets(body.markets), actor=admin.label)
    return await _reply(conn, event_id)


@admin_router.patch("/events/{event_id}", response_model=EventDetail)
async def update_event(event_id: EventId, body: EventPatch, conn: Tx, admin: Admin) -> EventDetail:
    """Change status, kick-off, limits (null removes one) or score."""
    async with audited(conn, admin, "sportsbook.event.update", event_id=event_id):
        await service.update_event(
            conn,
            event_id,
            status=body.status,
            starts_at=body.starts_at,
            limits=_limits(body),
            score=body.score(),
            actor=admin.label,
        )
    return await _reply(conn, event_id)


@admin_router.patch("/events/{event_id}/odds", response_model=EventDetail)
async def update_odds(event_id: EventId, body: OddsPatch, conn: Tx, admin: Admin) -> EventDetail:
    """Re-price outcomes of the event (history kept; one seq step for the whole change)."""
    prices = {o.outcome_id: service.parse_odds(o.odds) for o in body.outcomes}
    async with audited(conn, admin, "sportsbook.odds.update", event_id=event_id):
        await service.update_odds(conn, event_id, prices, actor=admin.label)
    return await _reply(conn, event_id)


@admin_router.post("/events/{event_id}/suspend", response_model=EventDetail)
async def suspend_event(event_id: EventId, conn: Tx, admin: Admin) -> EventDetail:
    async with audited(conn, admin, "sportsbook.event.suspend", event_id=event_id):
        await service.suspend_event(conn, event_id, actor=admin.label)
    return await _reply(conn, event_id)


@admin_router.post("/events/{event_id}/unsuspend", response_model=EventDetail)
async def unsuspend_event(event_id: EventId, conn: Tx, admin: Admin) -> EventDetail:
    """Resume betting: live if the event has kicked off, else scheduled."""
    async with audited(conn, admin, "sportsbook.event.unsuspend", event_id=event_id):
        await service.unsuspend_event(conn, event_id, actor=admin.label)
    return await _reply(conn, event_id)


@admin_router.post("/markets/{market_id}/suspend", response_model=EventDetail)
async def suspend_market(market_id: MarketId, conn: Tx, admin: Admin) -> EventDetail:
    """Suspend one market; answers with its event."""
    async with audited(conn, admin, "sportsbook.market.suspend", market_id=market_id):
        event_id = await service.set_market_open(conn, market_id, open_=False, actor=admin.label)
    return await _reply(conn, event_id)


@admin_router.post("/markets/{market_id}/unsuspend", response_model=EventDetail)
async def unsuspend_market(market_id: MarketId, conn: Tx, admin: Admin) -> EventDetail:
    async with audited(conn, admin, "sportsbook.market.unsuspend", market_id=market_id):
        event_id = await service.set_market_open(conn, market_id, open_=True, actor=admin.label)
    return await _reply(conn, event_id)


@admin_router.post("/events/{event_id}/result", response_model=EventDetail)
async def result_event(event_id: EventId, body: ResultIn, conn: Tx, admin: Admin) -> EventDetail:
    """Result markets (every outcome won/lost, with void and dead-heat factors) for settlement.
    An identical re-post changes nothing; different results correct a settled market."""
    results = [
        service.MarketResult(
            market_id=m.market_id,
            outcomes=[
                service.OutcomeResult(
                    outcome_id=o.outcome_id,
                    result=o.result,
                    void_factor=None
                    if o.void_factor is None
                    else service.parse_factor(o.void_factor, "void_factor"),
                    dead_heat_factor=None
                    if o.dead_heat_factor is None
                    else service.parse_factor(o.dead_heat_factor, "dead_heat_factor"),
                )
                for o in m.outcomes
            ],
        )
        for m in body.markets
    ]
    async with audited(conn, admin, "sportsbook.event.result", event_id=event_id):
        await service.result_event(conn, event_id, results, score=body.score(), actor=admin.label)
    return await _reply(conn, event_id)


@admin_router.post(
    "/events/{event_id}/markets/{market_id}/rollback-result",
    response_model=EventDetail,
    responses={
        404: {"description": "event_not_found, market_not_found"},
        409: {"description": "market_not_resulted"},
    },
)
async def rollback_result(
    event_id: EventId, market_id: MarketId, conn: Tx, admin: Admin
) -> EventDetail:
    """Roll back a market's settlement: its results are cleared, it stops taking bets (closed
    if the event has ended, else suspended) and every bet settled on it is reopened, its money
    reversed; post the right result afterwards to settle them again. Cash-outs stay final."""
    async with audited(conn, admin, "sportsbook.market.rollback_result", event_id=event_id):
        await service.rollback_results(conn, event_id, [market_id], actor=admin.label)
    return await _reply(conn, event_id)
