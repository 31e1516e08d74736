"""Catalogue service and schema on real PostgreSQL: constraints, locking, sequence order."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from letsbet.platform.bus.tables import outbox
from letsbet.platform.runtime import Runtime
from letsbet.schema import metadata
from letsbet.sportsbook.catalogue import service
from letsbet.sportsbook.catalogue.tables import markets, outcomes


def _new_event(**overrides: object) -> service.NewEvent:
    tag = uuid.uuid4().hex[:8]
    values: dict[str, object] = {
        "sport_id": "football",
        "competition": f"Service league {tag}",
        "region": "Nigeria",
        "home": f"Home {tag}",
        "away": f"Away {tag}",
        "starts_at": datetime.now(UTC) + timedelta(days=1),
        "markets": [
            service.NewMarket("1x2", None, {"home": 2100, "draw": 3300, "away": 3500}),
        ],
    }
    values.update(overrides)
    return service.NewEvent(**values)  # type: ignore[arg-type]


async def test_every_check_constraint_is_in_the_migrated_schema(runtime: Runtime) -> None:
    """Autogenerate drops column CHECKs; the migration adds them by hand. Nothing forgotten."""
    tables = ("sports", "competitions", "events", "markets", "outcomes", "odds_history")
    declared = {
        str(constraint.name)
        for name in tables
        for constraint in metadata.tables[name].constraints
        | {c for column in metadata.tables[name].columns for c in column.constraints}
        if isinstance(constraint, sa.CheckConstraint)
    }
    async with runtime.db.connect() as conn:
        rows = await conn.execute(
            sa.text(
                "SELECT conname FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid "
                "WHERE c.contype = 'c' AND t.relname = ANY(:tables)"
            ),
            {"tables": list(tables)},
        )
        present = {r.conname for r in rows}
    assert declared == present and len(declared) >= 17


async def test_an_event_has_one_market_per_type_and_line(runtime: Runtime) -> None:
    async def add(event_id: int, market_type: str, line: int | None) -> None:
        async with runtime.db.transaction() as conn:
            await conn.execute(
                sa.insert(markets).values(event_id=event_id, type=market_type, line_hundredths=line)
            )

    async with runtime.db.transaction() as conn:
        event_id = await service.create_event(conn, _new_event())  # has a 1X2 market
    with pytest.raises(IntegrityError):  # NULLS NOT DISTINCT: NULL lines collide too
        await add(event_id, "1x2", None)
    await add(event_id, "over_under", 250)
    with pytest.raises(IntegrityError):
        await add(event_id, "over_under", 250)
    await add(event_id, "over_under", 275)
    with pytest.raises(IntegrityError):  # not a quarter line
        await add(event_id, "over_under", 260)


@pytest.mark.parametrize(
    "values",
    [{"odds_milli": 1000}, {"odds_milli": 1_000_001}, {"result": "void"}, {"void_factor": 0}],
)
async def test_outcome_constraints(runtime: Runtime, values: dict[str, object]) -> None:
    async with runtime.db.transaction() as conn:
        event_id = await service.create_event(conn, _new_event())
        market_id = await conn.scalar(sa.select(markets.c.id).where(markets.c.event_id == event_id))
    with pytest.raises(IntegrityError):
        async with runtime.db.transaction() as conn:
            row = {"market_id": market_id, "key": "x", "name": "x", "odds_milli": 2000}
            await conn.execute(sa.insert(outcomes).values(**(row | values)))


async def test_concurrent_repricing_gets_one_seq_each_in_commit_order(runtime: Runtime) -> None:
    async with runtime.db.transaction() as conn:
        event_id = await service.create_event(conn, _new_event())
        view = await service.event_view(conn, event_id, country=None)
    home = view.outcomes[view.markets[0].id][0].id

    async def reprice(odds: int) -> int | None:
        async with runtime.db.transaction() as conn:
            return await service.update_odds(conn, event_id, {home: odds}, source="feed")

    seqs = await asyncio.gather(*(reprice(2000 + n) for n in range(1, 9)))
    assert sorted(s for s in seqs if s is not None) == list(range(1, 9))
    async with runtime.db.connect() as conn:
        rows = await conn.execute(
            sa.select(outbox.c.payload)
            .where(
                outbox.c.subject == "sportsbook.odds.changed",
                outbox.c.payload["data"]["event_id"].as_integer() == event_id,
            )
            .order_by(outbox.c.seq)
        )
        published = [row.payload["data"] for row in rows]
        final = await conn.scalar(sa.select(outcomes.c.odds_milli).where(outcomes.c.id == home))
    # The outbox order is the seq order, and the last seq carries the price that stuck.
    assert [p["seq"] for p in published] == list(range(1, 9))
    assert published[-1]["outcomes"][0]["odds_milli"] == final


async def test_competition_created_once_under_concurrency(runtime: Runtime) -> None:
    name = f"Race cup {uuid.uuid4().hex[:8]}"

    async def create() -> int:
        async with runtime.db.transaction() as conn:
            event_id = await service.create_event(conn, _new_event(competition=name))
            view = await service.event_view(conn, event_id, country=None)
            return int(view.event.competition_id)

    competitions = await asyncio.gather(*(create() for _ in range(5)))
    assert len(set(competitions)) == 1
