"""GET /api/sports, /api/events and /api/events/{id}: filters, keyset pages, availability."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from letsbet.accounts.domain import Role
from letsbet.platform.runtime import Runtime
from letsbet.sportsbook.catalogue.tables import sports
from tests.sportsbook.catalogue.helpers import (
    admin_headers,
    create_event,
    headers_for,
    market,
    market_id,
)

SOON = datetime.now(UTC).replace(microsecond=0) + timedelta(days=2)


async def _competition(
    client: httpx.AsyncClient, runtime: Runtime, count: int, **overrides: Any
) -> tuple[int, list[dict[str, Any]]]:
    """`count` events in one fresh competition, an hour apart unless starts_at is given."""
    competition = {"name": f"Cup {uuid.uuid4().hex[:8]}", "region": "Ghana"}
    created = []
    for n in range(count):
        starts_at = overrides.get("starts_at", (SOON + timedelta(hours=n)).isoformat())
        created.append(
            await create_event(
                client, runtime, competition=competition, **{**overrides, "starts_at": starts_at}
            )
        )
    return created[0]["competition"]["id"], created


def _same_competition(event: dict[str, Any]) -> dict[str, str]:
    return {"name": event["competition"]["name"], "region": event["competition"]["region"]}


async def _ids(client: httpx.AsyncClient, **params: Any) -> list[int]:
    response = await client.get("/api/events", params=params)
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


async def test_list_item_shape(client: httpx.AsyncClient, runtime: Runtime) -> None:
    competition, (event,) = await _competition(client, runtime, 1)
    response = await client.get("/api/events", params={"competition": competition})
    assert response.status_code == 200, response.text
    (item,) = response.json()["items"]
    one_x_two = event["markets"][0]
    assert item == {
        "id": event["id"],
        "sport": "football",
        "competition": event["competition"],
        "home": event["home"],
        "away": event["away"],
        "starts_at": event["starts_at"],
        "status": "scheduled",
        "score": None,
        "market_count": 6,
        "main_market": {
            "id": one_x_two["id"],
            "type": "1x2",
            "status": "open",
            "outcomes": [
                {k: o[k] for k in ("id", "key", "name", "odds", "odds_milli", "active")}
                for o in one_x_two["outcomes"]
            ],
        },
    }
    assert response.json()["next_cursor"] is None


async def test_pages_follow_kick_off_order_without_duplicates(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    competition, created = await _competition(client, runtime, 4)
    same_time = SOON + timedelta(hours=1)  # ties are broken by id
    for _ in range(2):
        created.append(
            await create_event(
                client,
                runtime,
                competition=_same_competition(created[0]),
                starts_at=same_time.isoformat(),
                markets=[market("btts", {"yes": "1.8", "no": "2"})],
            )
        )
    expected = [
        e["id"]
        for e in sorted(created, key=lambda e: (datetime.fromisoformat(e["starts_at"]), e["id"]))
    ]
    items: list[dict[str, Any]] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"competition": competition, "limit": 4}
        if cursor:
            params["cursor"] = cursor
        body = (await client.get("/api/events", params=params)).json()
        items += body["items"]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert [item["id"] for item in items] == expected and pages == 2
    no_1x2 = [item for item in items if item["market_count"] == 1]
    assert len(no_1x2) == 2 and all(item["main_market"] is None for item in no_1x2)

    one_by_one = []
    cursor = None
    for _ in range(len(expected) + 1):
        params = {"competition": competition, "limit": 1} | ({"cursor": cursor} if cursor else {})
        body = (await client.get("/api/events", params=params)).json()
        one_by_one += [item["id"] for item in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert one_by_one == expected


async def test_filters(client: httpx.AsyncClient, runtime: Runtime) -> None:
    staff = admin_headers(runtime)
    competition, (first, second, third) = await _competition(client, runtime, 3)
    await client.patch(f"/api/admin/events/{first['id']}", json={"status": "live"}, headers=staff)
    await client.post(f"/api/admin/events/{second['id']}/suspend", headers=staff)  # not started
    await client.patch(
        f"/api/admin/events/{third['id']}", json={"status": "cancelled"}, headers=staff
    )
    every = [first["id"], second["id"]]
    assert await _ids(client, competition=competition) == every  # cancelled left out
    assert await _ids(client, competition=competition, live="true") == [first["id"]]
    assert await _ids(client, competition=competition, live="false") == [second["id"]]
    assert await _ids(client, competition=competition, status="cancelled") == [third["id"]]
    assert await _ids(client, competition=competition, sport="football") == every
    assert await _ids(client, competition=competition, sport="tennis") == []
    window = {"from": second["starts_at"], "to": third["starts_at"]}
    assert await _ids(client, competition=competition, **window) == [second["id"]]
    assert await _ids(client, competition=competition, to=second["starts_at"]) == [first["id"]]

    # Suspended after kick-off counts as live.
    started = await create_event(
        client,
        runtime,
        competition=_same_competition(first),
        starts_at=(datetime.now(UTC) - timedelta(minutes=5)).isoformat(),
    )
    await client.post(f"/api/admin/events/{started['id']}/suspend", headers=staff)
    assert await _ids(client, competition=competition, live="true") == [started["id"], first["id"]]


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"cursor": "!!!"}, "invalid_cursor"),
        ({"cursor": "MTIz"}, "invalid_cursor"),
        ({"from": "2026-01-02T00:00:00Z", "to": "2026-01-01T00:00:00Z"}, "invalid_date_range"),
        ({"from": "2026-01-02T00:00:00"}, "validation_error"),
        ({"from": "0001-01-01T00:00:00+05:00"}, "validation_error"),
        ({"to": "9999-12-31T23:59:59-05:00"}, "validation_error"),
        ({"limit": 0}, "validation_error"),
        ({"limit": 101}, "validation_error"),
        ({"live": "maybe"}, "validation_error"),
        ({"status": "over"}, "validation_error"),
        ({"country": "UG"}, "validation_error"),
        ({"sport": "foot\u0000ball"}, "validation_error"),
        ({"competition": "0"}, "validation_error"),
        ({"competition": str(2**63)}, "validation_error"),
    ],
)
async def test_bad_list_queries_are_422(
    client: httpx.AsyncClient, params: dict[str, Any], code: str
) -> None:
    response = await client.get("/api/events", params=params)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == code


async def test_country_availability(client: httpx.AsyncClient, runtime: Runtime) -> None:
    competition, (nigeria_only,) = await _competition(client, runtime, 1, countries=["NG"])
    path = f"/api/events/{nigeria_only['id']}"
    kenyan = headers_for(runtime, Role.PLAYER, "KE")
    nigerian = headers_for(runtime, Role.PLAYER, "NG")

    assert await _ids(client, competition=competition) == [nigeria_only["id"]]
    assert await _ids(client, competition=competition, country="KE") == []
    assert await _ids(client, competition=competition, country="NG") == [nigeria_only["id"]]

    async def listed(headers: dict[str, str], **params: Any) -> list[int]:
        response = await client.get(
            "/api/events", params={"competition": competition, **params}, headers=headers
        )
        return [item["id"] for item in response.json()["items"]]

    assert await listed(kenyan) == []
    assert await listed(kenyan, country="NG") == []  # a player's own country wins
    assert await listed(nigerian) == [nigeria_only["id"]]
    assert await listed(admin_headers(runtime)) == [nigeria_only["id"]]  # staff see all

    hidden = await client.get(path, headers=kenyan)
    assert hidden.status_code == 404 and hidden.json()["error"]["code"] == "event_not_found"
    assert (await client.get(path, headers=nigerian)).status_code == 200
    assert (await client.get(path)).status_code == 200
    # A bad token is ignored on public reads: the caller is anonymous.
    assert (await client.get(path, headers={"Authorization": "Bearer nope"})).status_code == 200


async def test_sports_with_live_and_upcoming_counts(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    sport_id = f"t{uuid.uuid4().hex[:12]}"
    async with runtime.db.transaction() as conn:
        await conn.execute(
            sa.insert(sports).values(
                id=sport_id, name="Test ball", live_delay_seconds=8, sort_order=1000
            )
        )
    staff = admin_headers(runtime)
    created = [
        await create_event(client, runtime, sport_id=sport_id, countries=countries)
        for countries in (["KE"], ["KE", "NG"], ["NG"], ["GH"])
    ]
    live = f"/api/admin/events/{created[0]['id']}"
    await client.patch(live, json={"status": "live"}, headers=staff)
    ended = f"/api/admin/events/{created[3]['id']}"
    await client.patch(ended, json={"status": "ended"}, headers=staff)

    async def counts(**kwargs: Any) -> dict[str, Any]:
        response = await client.get("/api/sports", **kwargs)
        assert response.status_code == 200, response.text
        return dict(next(s for s in response.json() if s["id"] == sport_id))

    assert await counts() == {
        "id": sport_id,
        "name": "Test ball",
        "live_delay_seconds": 8,
        "live_count": 1,
        "upcoming_count": 2,
    }
    kenya = await counts(params={"country": "KE"})
    assert (kenya["live_count"], kenya["upcoming_count"]) == (1, 1)
    nigeria = await counts(headers=headers_for(runtime, Role.PLAYER, "NG"))
    assert (nigeria["live_count"], nigeria["upcoming_count"]) == (0, 2)
    ghana = await counts(params={"country": "GH"})
    assert (ghana["live_count"], ghana["upcoming_count"]) == (0, 0)
    football_first = [s["id"] for s in (await client.get("/api/sports")).json()][:3]
    assert football_first == ["football", "basketball", "tennis"]


async def test_market_count_counts_open_markets(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    competition, (event,) = await _competition(client, runtime, 1)
    staff = admin_headers(runtime)
    await client.post(f"/api/admin/markets/{market_id(event, 'btts')}/suspend", headers=staff)
    response = await client.get("/api/events", params={"competition": competition})
    assert response.json()["items"][0]["market_count"] == 5


async def test_unknown_event_is_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/events/999999999999")
    assert response.status_code == 404
    assert response.json()["error"] == {
        "code": "event_not_found",
        "message": "No event 999999999999.",
        "request_id": response.json()["error"]["request_id"],
    }
    assert (await client.get("/api/events/0")).status_code == 422
    assert (await client.get("/api/events/abc")).status_code == 422


async def test_event_lists_show_the_two_way_winner_where_there_is_no_1x2(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    competition = {"name": f"Hoops {uuid.uuid4().hex[:8]}", "region": "Kenya"}
    moneyline = market("moneyline", {"home": "1.65", "away": "2.25"})
    basketball = await create_event(
        client,
        runtime,
        sport_id="basketball",
        competition=competition,
        starts_at=SOON.isoformat(),
        markets=[market("over_under", {"over": "1.90", "under": "1.90"}, line="160.5"), moneyline],
    )
    both = await create_event(
        client,
        runtime,
        sport_id="basketball",
        competition=competition,
        starts_at=(SOON + timedelta(hours=1)).isoformat(),
        markets=[moneyline, market("1x2", {"home": "2.10", "draw": "9.00", "away": "2.60"})],
    )
    body = (
        await client.get("/api/events", params={"competition": basketball["competition"]["id"]})
    ).json()
    shown = {item["id"]: item["main_market"] for item in body["items"]}
    assert shown[basketball["id"]]["type"] == "moneyline"
    assert [o["key"] for o in shown[basketball["id"]]["outcomes"]] == ["home", "away"]
    assert shown[both["id"]]["type"] == "1x2"
    assert [o["key"] for o in shown[both["id"]]["outcomes"]] == ["home", "draw", "away"]
