"""Every catalogue query.

Locking rule: every writer locks the event row first (`lock_event`, `lock_event_of_market`) and
only then reads or writes its markets and outcomes, so changes to one event are serialised, the
per-event `seq` grows in commit order and two writers never deadlock on one event's rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from letsbet.sportsbook.catalogue.tables import (
    competitions,
    events,
    markets,
    odds_history,
    outcomes,
    sports,
)

AnyRow = Row[Any]
OPEN_EVENT_STATUSES = ("scheduled", "live", "suspended", "postponed")


def is_live() -> sa.ColumnElement[bool]:
    """Live: in play, or suspended after kick-off (a goal, a VAR check)."""
    return sa.or_(
        events.c.status == "live",
        sa.and_(events.c.status == "suspended", events.c.starts_at <= sa.func.now()),
    )


def _offered_in(country: str) -> sa.ColumnElement[bool]:
    return sa.literal(country, sa.CHAR(2)) == sa.func.any(events.c.countries)


# -- sports and competitions -------------------------------------------------------------------
async def sport(conn: AsyncConnection, sport_id: str) -> AnyRow | None:
    return (await conn.execute(sa.select(sports).where(sports.c.id == sport_id))).first()


async def sports_with_counts(conn: AsyncConnection, country: str | None) -> list[AnyRow]:
    """Every sport with its live and upcoming event counts (events not ended or cancelled)."""
    join_on = sa.and_(events.c.sport_id == sports.c.id, events.c.status.in_(OPEN_EVENT_STATUSES))
    if country is not None:
        join_on = sa.and_(join_on, _offered_in(country))
    live = is_live()
    query = (
        sa.select(
            sports,
            sa.func.count(events.c.id).filter(live).label("live_count"),
            sa.func.count(events.c.id).filter(sa.not_(live)).label("upcoming_count"),
        )
        .select_from(sports.outerjoin(events, join_on))
        .group_by(sports.c.id)
        .order_by(sports.c.sort_order, sports.c.id)
    )
    return list((await conn.execute(query)).all())


async def ensure_competition(conn: AsyncConnection, sport_id: str, name: str, region: str) -> int:
    """The competition's id, created if missing (race-free: the unique key decides)."""
    inserted = await conn.scalar(
        insert(competitions)
        .values(sport_id=sport_id, name=name, region=region)
        .on_conflict_do_nothing(index_elements=["sport_id", "region", "name"])
        .returning(competitions.c.id)
    )
    if inserted is not None:
        return int(inserted)
    existing = await conn.scalar(
        sa.select(competitions.c.id).where(
            competitions.c.sport_id == sport_id,
            competitions.c.region == region,
            competitions.c.name == name,
        )
    )
    assert existing is not None
    return int(existing)


# -- writes --------------------------------------------------------------------------------------
async def insert_event(conn: AsyncConnection, values: Mapping[str, Any]) -> int | None:
    """The new event's id; None when an event with this external_id exists."""
    event_id = await conn.scalar(
        insert(events)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["external_id"])
        .returning(events.c.id)
    )
    return None if event_id is None else int(event_id)


async def event_by_external_id(conn: AsyncConnection, external_id: str) -> int | None:
    found = await conn.scalar(sa.select(events.c.id).where(events.c.external_id == external_id))
    return None if found is None else int(found)


@dataclass(frozen=True, slots=True)
class NewOutcome:
    key: str
    name: str
    odds_milli: int


async def insert_market(
    conn: AsyncConnection,
    event_id: int,
    market_type: str,
    line_hundredths: int | None,
    new_outcomes: Sequence[NewOutcome],
    *,
    source: str,
) -> int:
    """A market with its outcomes and their opening prices in the odds history."""
    market_id = int(
        await conn.scalar(
            sa.insert(markets)
            .values(event_id=event_id, type=market_type, line_hundredths=line_hundredths)
            .returning(markets.c.id)
        )
    )
    ids = (
        await conn.scalars(
            sa.insert(outcomes).returning(outcomes.c.id, sort_by_parameter_order=True),
            [
                {"market_id": market_id, "key": o.key, "name": o.name, "odds_milli": o.odds_milli}
                for o in new_outcomes
            ],
        )
    ).all()
    await insert_history(
        conn, [(int(i), o.odds_milli) for i, o in zip(ids, new_outcomes, strict=True)], source
    )
    return market_id


async def insert_history(
    conn: AsyncConnection, prices: Sequence[tuple[int, int]], source: str
) -> None:
    if prices:
        await conn.execute(
            sa.insert(odds_history),
            [{"outcome_id": o, "odds_milli": odds, "source": source} for o, odds in prices],
        )


async def lock_event(conn: AsyncConnection, event_id: int) -> AnyRow | None:
    return (
        await conn.execute(sa.select(events).where(events.c.id == event_id).with_for_update())
    ).first()


async def lock_event_of_market(conn: AsyncConnection, market_id: int) -> AnyRow | None:
    owner = sa.select(markets.c.event_id).where(markets.c.id == market_id).scalar_subquery()
    return (
        await conn.execute(sa.select(events).where(events.c.id == owner).with_for_update())
    ).first()


async def bump_seq(conn: AsyncConnection, event_id: int, **values: Any) -> int:
    """Add one to the event's sequence (and set `values`); the new sequence number."""
    seq = await conn.scalar(
        sa.update(events)
        .where(events.c.id == event_id)
        .values(seq=events.c.seq + 1, updated_at=sa.func.now(), **values)
        .returning(events.c.seq)
    )
    return int(seq)


async def update_event(conn: AsyncConnection, event_id: int, **values: Any) -> None:
    await conn.execute(
        sa.update(events).where(events.c.id == event_id).values(updated_at=sa.func.now(), **values)
    )


async def set_market_status(conn: AsyncConnection, market_ids: Iterable[int], status: str) -> None:
    await conn.execute(
        sa.update(markets)
        .where(markets.c.id.in_(list(market_ids)))
        .values(status=status, updated_at=sa.func.now())
    )


async def set_odds(conn: AsyncConnection, prices: Sequence[tuple[int, int]]) -> None:
    await conn.execute(
        sa.update(outcomes)
        .where(outcomes.c.id == sa.bindparam("outcome_id"))
        .values(odds_milli=sa.bindparam("new_odds")),
        [{"outcome_id": o, "new_odds": odds} for o, odds in prices],
    )


async def set_results(conn: AsyncConnection, results: Sequence[Mapping[str, Any]]) -> None:
    """results: {outcome_id, result, void_factor, dead_heat_factor} each."""
    await conn.execute(
        sa.update(outcomes)
        .where(outcomes.c.id == sa.bindparam("outcome_id"))
        .values(
            result=sa.bindparam("new_result"),
            void_factor=sa.bindparam("new_void_factor"),
            dead_heat_factor=sa.bindparam("new_dead_heat_factor"),
            settled_at=sa.func.now(),
        ),
        [
            {
                "outcome_id": r["outcome_id"],
                "new_result": r["result"],
                "new_void_factor": r["void_factor"],
                "new_dead_heat_factor": r["dead_heat_factor"],
            }
            for r in results
        ],
    )


async def clear_results(conn: AsyncConnection, market_ids: Sequence[int]) -> None:
    """Withdraw the results of the markets' outcomes (a rollback of their settlement)."""
    await conn.execute(
        sa.update(outcomes)
        .where(outcomes.c.market_id.in_(list(market_ids)))
        .values(result=None, void_factor=None, dead_heat_factor=None, settled_at=None)
    )


# -- reads ---------------------------------------------------------------------------------------
def _event_view() -> sa.Select[Any]:
    return sa.select(
        events,
        competitions.c.name.label("competition_name"),
        competitions.c.region.label("competition_region"),
    ).join(competitions, competitions.c.id == events.c.competition_id)


async def event(conn: AsyncConnection, event_id: int) -> AnyRow | None:
    """The event with its competition's name and region."""
    row: AnyRow | None = (await conn.execute(_event_view().where(events.c.id == event_id))).first()
    return row


async def market(conn: AsyncConnection, market_id: int) -> AnyRow | None:
    return (await conn.execute(sa.select(markets).where(markets.c.id == market_id))).first()


async def markets_of(conn: AsyncConnection, event_id: int) -> list[AnyRow]:
    query = sa.select(markets).where(markets.c.event_id == event_id).order_by(markets.c.id)
    return list((await conn.execute(query)).all())


async def outcomes_of(conn: AsyncConnection, market_ids: Sequence[int]) -> list[AnyRow]:
    if not market_ids:
        return []
    query = (
        sa.select(outcomes)
        .where(outcomes.c.market_id.in_(list(market_ids)))
        .order_by(outcomes.c.market_id, outcomes.c.id)
    )
    return list((await conn.execute(query)).all())


async def outcomes_in_event(
    conn: AsyncConnection, event_id: int, outcome_ids: Sequence[int]
) -> list[AnyRow]:
    """The listed outcomes that belong to the event, with their market's status."""
    query = (
        sa.select(outcomes, markets.c.status.label("market_status"))
        .join(markets, markets.c.id == outcomes.c.market_id)
        .where(markets.c.event_id == event_id, outcomes.c.id.in_(list(outcome_ids)))
    )
    return list((await conn.execute(query)).all())


@dataclass(frozen=True, slots=True)
class EventFilter:
    sport: str | None = None
    competition: int | None = None
    live: bool | None = None
    status: str | None = None
    country: str | None = None
    since: datetime | None = None
    until: datetime | None = None


async def events_page(
    conn: AsyncConnection,
    where: EventFilter,
    *,
    limit: int,
    after: tuple[datetime, int] | None = None,
) -> list[AnyRow]:
    """Events in (starts_at, id) order after the keyset `after`, each with its count of open
    markets. Without a status filter, ended and cancelled events are left out."""
    open_markets = (
        sa.select(sa.func.count())
        .where(markets.c.event_id == events.c.id, markets.c.status == "open")
        .scalar_subquery()
    )
    query = (
        _event_view()
        .add_columns(open_markets.label("market_count"))
        .order_by(events.c.starts_at, events.c.id)
        .limit(limit)
    )
    if where.status is not None:
        query = query.where(events.c.status == where.status)
    else:
        query = query.where(events.c.status.in_(OPEN_EVENT_STATUSES))
    if where.live is not None:
        query = query.where(is_live() if where.live else sa.not_(is_live()))
    if where.sport is not None:
        query = query.where(events.c.sport_id == where.sport)
    if where.competition is not None:
        query = query.where(events.c.competition_id == where.competition)
    if where.country is not None:
        query = query.where(_offered_in(where.country))
    if where.since is not None:
        query = query.where(events.c.starts_at >= where.since)
    if where.until is not None:
        query = query.where(events.c.starts_at < where.until)
    if after is not None:
        query = query.where(sa.tuple_(events.c.starts_at, events.c.id) > sa.tuple_(*after))
    return list((await conn.execute(query)).all())


async def main_markets(
    conn: AsyncConnection, event_ids: Sequence[int], market_types: Sequence[str]
) -> list[AnyRow]:
    """The markets of `market_types` (without a line) of each event, one row per outcome."""
    if not event_ids:
        return []
    query = (
        sa.select(
            outcomes,
            markets.c.event_id,
            markets.c.type.label("market_type"),
            markets.c.status.label("market_status"),
        )
        .join(markets, markets.c.id == outcomes.c.market_id)
        .where(
            markets.c.event_id.in_(list(event_ids)),
            markets.c.type.in_(list(market_types)),
            markets.c.line_hundredths.is_(None),
        )
        .order_by(outcomes.c.id)
    )
    return list((await conn.execute(query)).all())
