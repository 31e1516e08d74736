"""Live liability: what the book would pay per event if every open and pending bet on it won.

`event_liability` (bets/tables.py) holds it per event and currency, kept by placement (under
the event's cap) and released by rejection, settlement and cash-out; a multi counts in full on
each of its events. This module reads it for operators (GET /api/admin/liabilities) and exports
it to Prometheus from the settlement role, bounded so label cardinality stays small: only events
that are live or start within HORIZON, the LARGEST by exposure.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from letsbet.platform.aio import wait_or_stop
from letsbet.platform.db import Database
from letsbet.platform.observability import EVENT_LIABILITY, LIABILITY_TOTAL, get_logger
from letsbet.sportsbook.bets.tables import event_liability
from letsbet.sportsbook.catalogue.tables import events

log = get_logger(__name__)

HORIZON = timedelta(hours=12)  # scheduled events starting sooner than this are exported
LARGEST = 200  # at most this many (event, currency) series
REFRESH_SECONDS = 15.0
_IN_PLAY = ("live", "suspended")


@dataclass(frozen=True, slots=True)
class Liability:
    event_id: int
    currency: str
    exposure: int  # minor units
    home: str
    away: str
    status: str
    starts_at: datetime
    liability_cap: int | None


@dataclass(frozen=True, slots=True)
class After:
    """Where a page ended (keyset: exposure, event id, currency, all descending)."""

    exposure: int
    event_id: int
    currency: str


def _query() -> sa.Select[tuple[int, str, int, str, str, str, datetime, int | None]]:
    return (
        sa.select(
            event_liability.c.event_id,
            event_liability.c.currency,
            event_liability.c.exposure,
            events.c.home,
            events.c.away,
            events.c.status,
            events.c.starts_at,
            events.c.liability_cap,
        )
        .join(events, events.c.id == event_liability.c.event_id)
        .where(event_liability.c.exposure > 0)
        .order_by(
            event_liability.c.exposure.desc(),
            event_liability.c.event_id.desc(),
            event_liability.c.currency.desc(),
        )
    )


async def page(
    conn: AsyncConnection,
    *,
    event_id: int | None = None,
    status: str | None = None,
    currency: str | None = None,
    after: After | None = None,
    limit: int,
) -> list[Liability]:
    """Exposure per event and currency, largest first; `limit` rows after `after`."""
    query = _query()
    if event_id is not None:
        query = query.where(event_liability.c.event_id == event_id)
    if status is not None:
        query = query.where(events.c.status == status)
    if currency is not None:
        query = query.where(event_liability.c.currency == currency)
    if after is not None:
        query = query.where(
            sa.tuple_(
                event_liability.c.exposure, event_liability.c.event_id, event_liability.c.currency
            )
            < sa.tuple_(
                sa.literal(after.exposure, sa.BigInteger),
                sa.literal(after.event_id, sa.BigInteger),
                sa.literal(after.currency, sa.CHAR(3)),
            )
        )
    rows = (await conn.execute(query.limit(limit))).all()
    return [Liability(**row._mapping) for row in rows]


async def exported(
    conn: AsyncConnection, *, now: datetime, horizon: timedelta = HORIZON, largest: int = LARGEST
) -> list[Liability]:
    """The rows the gauge shows: in play or starting within the horizon, largest first."""
    soon = sa.and_(events.c.status == "scheduled", events.c.starts_at <= now + horizon)
    query = _query().where(sa.or_(events.c.status.in_(_IN_PLAY), soon)).limit(largest)
    return [Liability(**row._mapping) for row in (await conn.execute(query)).all()]


async def totals(conn: AsyncConnection) -> dict[str, int]:
    """Per-event exposure summed by currency over every event."""
    rows = await conn.execute(
        sa.select(event_liability.c.currency, sa.func.sum(event_liability.c.exposure)).group_by(
            event_liability.c.currency
        )
    )
    return {currency: int(total or 0) for currency, total in rows.all()}


class LiabilityGauge:
    """Sets the gauges from the table and removes series of events no longer exported."""

    def __init__(self) -> None:
        self._shown: set[tuple[str, str]] = set()

    def show(self, rows: Sequence[Liability], sums: dict[str, int]) -> None:
        shown = {(str(r.event_id), r.currency) for r in rows}
        for labels in self._shown - shown:
            EVENT_LIABILITY.remove(*labels)
        for row in rows:
            EVENT_LIABILITY.labels(str(row.event_id), row.currency).set(row.exposure)
        self._shown = shown
        for currency, total in sums.items():
            LIABILITY_TOTAL.labels(currency).set(total)

    async def refresh(
        self,
        db: Database,
        *,
        now: datetime | None = None,
        horizon: timedelta = HORIZON,
        largest: int = LARGEST,
    ) -> int:
        async with db.connect() as conn:
            rows = await exported(
                conn, now=now or datetime.now(UTC), horizon=horizon, largest=largest
            )
            sums = await totals(conn)
        self.show(rows, sums)
        return len(rows)


async def liability_loop(
    db: Database, stop: asyncio.Event, *, every: float = REFRESH_SECONDS
) -> None:
    """The settlement role's refresher (every replica exports the same values: use max)."""
    gauge = LiabilityGauge()
    while not stop.is_set():
        try:
            await gauge.refresh(db)
        except Exception as exc:
            log.warning("liability.refresh_failed", error=type(exc).__name__)
        await wait_or_stop(stop, every)
