"""Live liability: GET /api/admin/liabilities against the bets themselves, and the bounded
Prometheus gauges the settlement role refreshes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from prometheus_client import REGISTRY

from letsbet.platform.http import cursor as cursors
from letsbet.platform.runtime import Runtime
from letsbet.sportsbook.bets.liability import LiabilityGauge
from letsbet.sportsbook.bets.tables import bet_legs, bets
from tests.sportsbook.bets.helpers import bet_body, funded_player, post
from tests.sportsbook.catalogue.helpers import (
    admin_headers,
    create_event,
    headers_for,
    outcome_ids,
)

URL = "/api/admin/liabilities"


async def _open_returns(runtime: Runtime, event_id: int) -> int:
    """Σ potential return of the open and pending bets with a leg on the event (minor units)."""
    on_event = sa.select(bet_legs.c.bet_id).where(bet_legs.c.event_id == event_id)
    async with runtime.db.connect() as conn:
        total = await conn.scalar(
            sa.select(sa.func.coalesce(sa.func.sum(bets.c.potential_return), 0)).where(
                bets.c.id.in_(on_event), bets.c.status.in_(("open", "pending"))
            )
        )
    return int(total)


def _minor(amount: str) -> int:
    return int(Decimal(amount) * 100)


async def _rows(client: httpx.AsyncClient, runtime: Runtime, **params: Any) -> list[dict[str, Any]]:
    response = await client.get(URL, params=params, headers=admin_headers(runtime))
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


async def _book(client: httpx.AsyncClient, runtime: Runtime) -> tuple[dict[str, Any], ...]:
    """Two events with singles on each and a multi across both, from two players."""
    first, second = await create_event(client, runtime), await create_event(client, runtime)
    home1, home2 = outcome_ids(first, "1x2")["home"], outcome_ids(second, "1x2")["home"]
    _, alice = await funded_player(runtime, 10_000_00)
    _, bob = await funded_player(runtime, 10_000_00)
    for body, who in [
        (bet_body([(home1, "2.10")], stake="100.00"), alice),
        (bet_body([(outcome_ids(first, "1x2")["draw"], "3.40")], stake="50.00"), bob),
        (bet_body([(home2, "2.10")], stake="20.00"), bob),
        (bet_body([(home1, "2.10"), (home2, "2.10")], stake="10.00"), alice),
    ]:
        response = await post(client, body, who)
        assert response.status_code == 201, response.text
    return first, second


async def test_exposure_equals_the_open_bets_potential_returns(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    first, second = await _book(client, runtime)
    for event in (first, second):
        [row] = await _rows(client, runtime, event_id=event["id"])
        assert _minor(row["exposure"]) == await _open_returns(runtime, event["id"])
        assert row["currency"] == "KES"
        assert row["event_name"] == f"{event['home']} v {event['away']}"
        assert row["event_status"] == "scheduled"
        assert row["liability_cap"] is None
    [row] = await _rows(client, runtime, event_id=first["id"])
    assert row["exposure"] == "424.10"  # 210.00 home + 170.00 draw + 44.10 the multi


async def test_status_filter_and_pages_largest_first(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    first, second = await _book(client, runtime)
    live = await client.patch(
        f"/api/admin/events/{second['id']}", json={"status": "live"}, headers=admin_headers(runtime)
    )
    assert live.status_code == 200, live.text
    live_rows = await _rows(client, runtime, status="live")
    assert second["id"] in {r["event_id"] for r in live_rows}
    assert first["id"] not in {r["event_id"] for r in live_rows}
    assert {r["event_status"] for r in live_rows} == {"live"}

    pages, cursor = [], None
    while True:
        params: dict[str, Any] = {"limit": 2, "status": "live"}
        if cursor:
            params["cursor"] = cursor
        response = await client.get(URL, params=params, headers=admin_headers(runtime))
        body = response.json()
        pages += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert pages == live_rows
    exposures = [_minor(r["exposure"]) for r in pages]
    assert exposures == sorted(exposures, reverse=True)


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"status": "playing"}, "validation_error"),
        ({"event_id": "0"}, "validation_error"),
        ({"event_id": "x"}, "validation_error"),
        ({"limit": "0"}, "validation_error"),
        ({"currency": "kes"}, "validation_error"),
        ({"cursor": "!!"}, "invalid_cursor"),
        ({"cursor": cursors.encode_cursor("1|2")}, "invalid_cursor"),
    ],
)
async def test_bad_queries_are_4xx(
    client: httpx.AsyncClient, runtime: Runtime, params: dict[str, str], code: str
) -> None:
    response = await client.get(URL, params=params, headers=admin_headers(runtime))
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == code


async def test_only_admins_see_liabilities(client: httpx.AsyncClient, runtime: Runtime) -> None:
    assert (await client.get(URL)).status_code == 401
    assert (await client.get(URL, headers=headers_for(runtime))).status_code == 403


def _gauge(event_id: int) -> float | None:
    return REGISTRY.get_sample_value(
        "letsbet_event_liability_minor", {"event_id": str(event_id), "currency": "KES"}
    )


async def test_the_gauge_exports_live_and_soon_events_only(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    first, second = await _book(client, runtime)  # both start in a day: not exported yet
    later = await create_event(
        client, runtime, starts_at=(datetime.now(UTC) + timedelta(hours=2)).isoformat()
    )
    _, headers = await funded_player(runtime)
    response = await post(
        client, bet_body([(outcome_ids(later, "1x2")["away"], "3.25")], stake="10.00"), headers
    )
    assert response.status_code == 201, response.text
    live = await client.patch(
        f"/api/admin/events/{first['id']}", json={"status": "live"}, headers=admin_headers(runtime)
    )
    assert live.status_code == 200, live.text

    gauge = LiabilityGauge()
    await gauge.refresh(runtime.db, largest=10_000)
    assert _gauge(first["id"]) == await _open_returns(runtime, first["id"])
    assert _gauge(later["id"]) == 32_50
    assert _gauge(second["id"]) is None
    total = REGISTRY.get_sample_value("letsbet_event_liability_sum_minor", {"currency": "KES"})
    assert total is not None and total >= _gauge(first["id"]) + 32_50  # type: ignore[operator]

    ended = await client.patch(
        f"/api/admin/events/{first['id']}", json={"status": "ended"}, headers=admin_headers(runtime)
    )
    assert ended.status_code == 200, ended.text
    await gauge.refresh(runtime.db, largest=10_000)
    assert _gauge(first["id"]) is None  # its series is removed, not left at its last value
    assert _gauge(later["id"]) == 32_50
