"""Feed messages applied to the catalogue on real PostgreSQL: each does its job once, and a
re-delivered message changes nothing (no seq bump, no outbox event)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from letsbet.platform.bus.tables import outbox
from letsbet.platform.runtime import Runtime
from letsbet.sportsbook.catalogue import service
from letsbet.sportsbook.odds.feed import (
    BetCancel,
    BetSettlement,
    BetStop,
    FeedMessage,
    Fixture,
    FixtureChange,
    MarketOdds,
    MarketSettled,
    OddsChange,
    OutcomeSettled,
    RollbackBetCancel,
    RollbackBetSettlement,
    UnknownFixture,
    apply_message,
)

ONE_X_TWO = ("1x2", None)
TOTALS = ("over_under", 250)


def _books(home: int = 2100, over: int = 1900) -> list[MarketOdds]:
    return [
        MarketOdds("1x2", None, {"home": home, "draw": 3300, "away": 3500}),
        MarketOdds("over_under", 250, {"over": over, "under": 1950}),
    ]


@pytest.fixture
async def fixture_id(runtime: Runtime) -> AsyncIterator[str]:
    external_id = f"test:{uuid.uuid4().hex}"
    fixture = Fixture(
        external_id=external_id,
        competition="Feed league",
        region="Kenya",
        home=f"Home {external_id[-6:]}",
        away=f"Away {external_id[-6:]}",
        starts_at=datetime.now(UTC) + timedelta(days=30),
    )
    async with runtime.db.transaction() as conn:
        await apply_message(conn, FixtureChange(external_id, fixture=fixture))
        await apply_message(conn, OddsChange(external_id, _books()))
    yield external_id


async def _state(runtime: Runtime, external_id: str) -> tuple[int, int, service.EventView]:
    """(seq, outbox events about the event, the event with its markets)."""
    async with runtime.db.connect() as conn:
        event_id = await conn.scalar(
            sa.text("SELECT id FROM events WHERE external_id = :x"), {"x": external_id}
        )
        view = await service.event_view(conn, event_id, country=None)
        recorded = await conn.scalar(
            sa.select(sa.func.count()).where(
                outbox.c.payload["data"]["event_id"].as_integer() == event_id
            )
        )
    return int(view.event.seq), int(recorded or 0), view


async def _twice(runtime: Runtime, message: FeedMessage, external_id: str) -> service.EventView:
    """Apply a message twice; assert the first changed the event and the second nothing."""
    _, before, _ = await _state(runtime, external_id)
    async with runtime.db.transaction() as conn:
        await apply_message(conn, message)
    seq, recorded, view = await _state(runtime, external_id)
    assert recorded > before  # (a kick-off change records an event but keeps the seq)
    async with runtime.db.transaction() as conn:
        await apply_message(conn, message)
    assert (await _state(runtime, external_id))[:2] == (seq, recorded)
    return view


def _markets(view: service.EventView) -> dict[tuple[str, int | None], tuple[str, dict[str, int]]]:
    return {
        (m.type, m.line_hundredths): (m.status, {o.key: o.odds_milli for o in view.outcomes[m.id]})
        for m in view.markets
    }


async def test_a_new_fixture_is_created_once_with_its_markets(
    runtime: Runtime, fixture_id: str
) -> None:
    seq, recorded, view = await _state(runtime, fixture_id)
    assert view.event.status == "scheduled"
    assert _markets(view)[TOTALS] == ("open", {"over": 1900, "under": 1950})
    fixture = Fixture(fixture_id, "Feed league", "Kenya", "H", "A", view.event.starts_at)
    async with runtime.db.transaction() as conn:
        await apply_message(conn, FixtureChange(fixture_id, fixture=fixture))
        await apply_message(conn, OddsChange(fixture_id, _books()))
    assert (await _state(runtime, fixture_id))[:2] == (seq, recorded)


async def test_fixture_change_moves_the_kick_off_once(runtime: Runtime, fixture_id: str) -> None:
    later = datetime.now(UTC).replace(microsecond=0) + timedelta(days=31)
    view = await _twice(runtime, FixtureChange(fixture_id, starts_at=later), fixture_id)
    assert view.event.starts_at == later


async def test_odds_change_moves_prices_once(runtime: Runtime, fixture_id: str) -> None:
    view = await _twice(runtime, OddsChange(fixture_id, _books(2200, 1800)), fixture_id)
    assert _markets(view)[ONE_X_TWO][1]["home"] == 2200
    assert _markets(view)[TOTALS][1]["over"] == 1800


async def test_bet_stop_suspends_and_odds_change_reopens(runtime: Runtime, fixture_id: str) -> None:
    view = await _twice(runtime, BetStop(fixture_id), fixture_id)
    assert {status for status, _ in _markets(view).values()} == {"suspended"}
    reopen = OddsChange(
        fixture_id,
        [MarketOdds(m.type, m.line, m.prices, "active") for m in _books(2000, 1850)],
        status="live",
        score=(1, 0),
    )
    view = await _twice(runtime, reopen, fixture_id)
    assert view.event.status == "live"
    assert (view.event.home_score, view.event.away_score) == (1, 0)
    assert _markets(view)[ONE_X_TWO] == ("open", {"home": 2000, "draw": 3300, "away": 3500})


async def test_bet_settlement_results_once(runtime: Runtime, fixture_id: str) -> None:
    settled = BetSettlement(
        fixture_id,
        [
            MarketSettled(
                TOTALS,
                [
                    OutcomeSettled("over", "lost", void_factor=Decimal("0.5")),
                    OutcomeSettled("under", "won", void_factor=Decimal("0.5")),
                ],
            )
        ],
    )
    view = await _twice(runtime, settled, fixture_id)
    totals = next(m for m in view.markets if m.type == "over_under")
    assert totals.status == "settled"
    results = {o.key: (o.result, o.void_factor) for o in view.outcomes[totals.id]}
    assert results == {"over": ("lost", Decimal("0.5")), "under": ("won", Decimal("0.5"))}
    assert _markets(view)[ONE_X_TWO][0] == "open"  # the others are untouched


async def test_bet_cancel_voids_every_market_once(runtime: Runtime, fixture_id: str) -> None:
    view = await _twice(runtime, BetCancel(fixture_id, reason="abandoned"), fixture_id)
    assert {m.status for m in view.markets} == {"settled"}
    assert {(o.result, o.void_factor) for os in view.outcomes.values() for o in os} == {
        ("lost", Decimal(1))
    }
    assert view.event.status == "ended"


async def test_rollback_of_unresulted_markets_changes_nothing_and_unknown_fixtures_are_refused(
    runtime: Runtime, fixture_id: str
) -> None:
    before = await _state(runtime, fixture_id)
    async with runtime.db.transaction() as conn:
        await apply_message(conn, RollbackBetSettlement(fixture_id, [ONE_X_TWO]))
    assert (await _state(runtime, fixture_id))[:2] == before[:2]
    with pytest.raises(UnknownFixture):
        async with runtime.db.transaction() as conn:
            await apply_message(conn, BetStop(f"test:{uuid.uuid4().hex}"))


async def test_late_odds_for_an_ended_event_change_nothing(
    runtime: Runtime, fixture_id: str
) -> None:
    await _twice(runtime, OddsChange(fixture_id, status="ended", score=(0, 0)), fixture_id)
    await _twice(runtime, BetCancel(fixture_id), fixture_id)  # results still land after the end
    before = await _state(runtime, fixture_id)
    async with runtime.db.transaction() as conn:
        await apply_message(conn, OddsChange(fixture_id, _books(5000), status="live"))
    assert (await _state(runtime, fixture_id))[:2] == before[:2]


def _settled_totals(fixture_id: str) -> BetSettlement:
    return BetSettlement(
        fixture_id,
        [MarketSettled(TOTALS, [OutcomeSettled("over", "won"), OutcomeSettled("under", "lost")])],
    )


async def test_rollback_bet_settlement_withdraws_the_results_once(
    runtime: Runtime, fixture_id: str
) -> None:
    async with runtime.db.transaction() as conn:
        await apply_message(conn, _settled_totals(fixture_id))
    view = await _twice(runtime, RollbackBetSettlement(fixture_id, [TOTALS, ONE_X_TWO]), fixture_id)
    totals = next(m for m in view.markets if m.type == "over_under")
    assert totals.status == "suspended"  # not ended: the next odds_change may reopen it
    assert {o.result for o in view.outcomes[totals.id]} == {None}
    assert _markets(view)[ONE_X_TWO][0] == "open"  # never resulted: nothing to roll back
    view = await _twice(runtime, _settled_totals(fixture_id), fixture_id)  # settles again
    assert _markets(view)[TOTALS][0] == "settled"


async def test_rollback_bet_cancel_undoes_only_the_cancel(
    runtime: Runtime, fixture_id: str
) -> None:
    async with runtime.db.transaction() as conn:
        await apply_message(conn, BetCancel(fixture_id, [ONE_X_TWO], reason="wrong fixture"))
        await apply_message(conn, _settled_totals(fixture_id))
    view = await _twice(runtime, RollbackBetCancel(fixture_id), fixture_id)
    assert view.event.status == "ended"
    assert _markets(view)[ONE_X_TWO][0] == "closed"  # the event is over: results only
    totals = next(m for m in view.markets if m.type == "over_under")
    assert totals.status == "settled"  # a real result, not a cancel: kept
    assert {o.key: o.result for o in view.outcomes[totals.id]} == {"over": "won", "under": "lost"}
