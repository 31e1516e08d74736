"""Trading tools through the ASGI app on real PostgreSQL: create, re-price, suspend, limits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from letsbet.accounts.domain import Role
from letsbet.platform.runtime import Runtime
from letsbet.sportsbook.catalogue.tables import events, odds_history, outcomes
from tests.sportsbook.catalogue.helpers import (
    admin_headers,
    create_event,
    event_body,
    headers_for,
    market,
    market_id,
    outcome_ids,
    recorded,
)


async def _history(runtime: Runtime, outcome_id: int) -> list[tuple[int, str]]:
    async with runtime.db.connect() as conn:
        rows = await conn.execute(
            sa.select(odds_history.c.odds_milli, odds_history.c.source)
            .where(odds_history.c.outcome_id == outcome_id)
            .order_by(odds_history.c.id)
        )
        return [(r.odds_milli, r.source) for r in rows]


# -- create --------------------------------------------------------------------------------------
async def test_create_event_with_every_market_type_and_read_it_back(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    body = event_body()
    response = await client.post("/api/admin/events", json=body, headers=admin_headers(runtime))
    assert response.status_code == 201, response.text
    event = response.json()
    assert event["sport"] == "football" and event["status"] == "scheduled"
    assert (event["home"], event["away"]) == (body["home"], body["away"])
    assert event["competition"]["name"] == body["competition"]["name"]
    assert event["competition"]["region"] == "Kenya"
    assert event["countries"] == ["KE", "NG", "GH"] and event["seq"] == 0
    assert event["score"] is None and event["external_id"] is None
    assert event["limits"] == {"max_stake": None, "max_payout": None, "liability_cap": None}
    assert datetime.fromisoformat(event["starts_at"]) == datetime.fromisoformat(body["starts_at"])

    shapes = [(m["type"], m["line"], m["status"]) for m in event["markets"]]
    assert shapes == [
        ("1x2", None, "open"),
        ("double_chance", None, "open"),
        ("btts", None, "open"),
        ("over_under", "2.5", "open"),
        ("handicap", "-1", "open"),
        ("asian_handicap", "-0.75", "open"),
    ]
    one_x_two = event["markets"][0]["outcomes"]
    assert [(o["key"], o["name"], o["odds"], o["odds_milli"]) for o in one_x_two] == [
        ("home", body["home"], "2.10", 2100),
        ("draw", "Draw", "3.40", 3400),
        ("away", body["away"], "3.25", 3250),
    ]
    assert all(o["active"] and o["result"] is None for o in one_x_two)
    over_under = event["markets"][3]["outcomes"]
    assert [(o["name"], o["odds"]) for o in over_under] == [
        ("Over 2.5", "1.90"),
        ("Under 2.5", "1.90"),
    ]
    asian = event["markets"][5]["outcomes"]
    assert [o["name"] for o in asian] == [f"{body['home']} -0.75", f"{body['away']} +0.75"]

    public = await client.get(f"/api/events/{event['id']}")
    assert public.status_code == 200 and public.json() == event
    assert await _history(runtime, one_x_two[0]["id"]) == [(2100, "admin")]
    created = await recorded(runtime, "sportsbook.event.created", event["id"])
    assert len(created) == 1 and created[0]["countries"] == ["KE", "NG", "GH"]
    assert created[0]["actor"].startswith("user:")


async def test_competition_is_reused_and_names_countries_limits_kept(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    first = await create_event(client, runtime)
    competition = {"name": first["competition"]["name"], "region": "Kenya"}
    second = await create_event(
        client,
        runtime,
        competition=competition,
        countries=["NG", "GH"],
        limits={"max_stake": "5000", "max_payout": "1000000.50", "liability_cap": None},
        markets=[
            {
                "type": "btts",
                "outcomes": [
                    {"key": "yes", "name": "Both score", "odds": "1.8"},
                    {"key": "no", "odds": "2"},
                ],
            }
        ],
        external_id="sr:match:123-" + first["home"],
    )
    assert second["competition"] == first["competition"]
    assert second["countries"] == ["NG", "GH"]
    assert second["limits"] == {
        "max_stake": "5000.00",
        "max_payout": "1000000.50",
        "liability_cap": None,
    }
    assert [o["name"] for o in second["markets"][0]["outcomes"]] == ["Both score", "No"]
    async with runtime.db.connect() as conn:
        stored = (await conn.execute(sa.select(events).where(events.c.id == second["id"]))).one()
    assert (stored.max_stake, stored.max_payout) == (500000, 100000050)

    again = await client.post(
        "/api/admin/events",
        json=event_body(external_id=second["external_id"]),
        headers=admin_headers(runtime),
    )
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "event_exists"
    assert again.json()["error"]["details"] == {"event_id": second["id"]}


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"markets": [market("correct_score", {"home": "2.0"})]}, "invalid_market"),
        ({"markets": [market("1x2", {"home": "2.0", "away": "3.0"})]}, "invalid_market"),
        (
            {"markets": [market("btts", {"yes": "2.0", "no": "2.0", "maybe": "9"})]},
            "invalid_market",
        ),
        (
            {"markets": [market("1x2", {"home": "2", "draw": "3", "away": "4"}, "1")]},
            "invalid_market",
        ),
        ({"markets": [market("over_under", {"over": "2", "under": "2"})]}, "invalid_market"),
        ({"markets": [market("over_under", {"over": "2", "under": "2"}, "2.3")]}, "invalid_market"),
        (
            {"markets": [market("handicap", {"home": "2", "draw": "3", "away": "4"}, "-0.5")]},
            "invalid_market",
        ),
        ({"markets": [market("btts", {"yes": "2", "no": "2"})] * 2}, "invalid_market"),
        (
            {
                "markets": [
                    {
                        "type": "btts",
                        "outcomes": [{"key": "yes", "odds": "2"}, {"key": "yes", "odds": "2"}],
                    }
                ]
            },
            "invalid_market",
        ),
        ({"markets": [market("btts", {"yes": "1.000", "no": "2.0"})]}, "invalid_odds"),
        ({"markets": [market("btts", {"yes": "abc", "no": "2.0"})]}, "invalid_odds"),
        ({"markets": [market("btts", {"yes": "1000.001", "no": "2.0"})]}, "invalid_odds"),
        ({"markets": [market("btts", {"yes": "2.5001", "no": "2.0"})]}, "invalid_odds"),
        ({"sport_id": "curling"}, "unknown_sport"),
        ({"home": "Same", "away": "same"}, "validation_error"),
        ({"home": "Nul\u0000FC"}, "validation_error"),  # PostgreSQL text cannot hold NUL
        ({"competition": {"name": "Cup", "region": "Tab\there"}}, "validation_error"),
        ({"sport_id": "Foot ball"}, "validation_error"),
        ({"countries": ["KE", "KE"]}, "validation_error"),
        ({"countries": ["UG"]}, "validation_error"),
        ({"countries": []}, "validation_error"),
        ({"starts_at": "2026-01-01T15:00:00"}, "validation_error"),  # no timezone
        ({"starts_at": "0001-01-01T00:00:00+05:00"}, "validation_error"),
        ({"starts_at": "9999-12-31T23:59:59-05:00"}, "validation_error"),
        ({"limits": {"max_stake": "0"}}, "invalid_limit"),
        ({"limits": {"max_stake": "1.234"}}, "validation_error"),
        ({"limits": {"max_stake": 1.5}}, "validation_error"),  # a float
        (
            {"markets": [{"type": "btts", "outcomes": [{"key": "yes", "odds": 2.5}]}]},
            "validation_error",
        ),
        ({"surprise": True}, "validation_error"),
    ],
)
async def test_create_validation(
    client: httpx.AsyncClient, runtime: Runtime, change: dict[str, Any], code: str
) -> None:
    body = event_body(**change)
    response = await client.post("/api/admin/events", json=body, headers=admin_headers(runtime))
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == code


async def test_add_markets(client: httpx.AsyncClient, runtime: Runtime) -> None:
    event = await create_event(client, runtime)
    staff = admin_headers(runtime)
    url = f"/api/admin/events/{event['id']}/markets"
    more = [market("over_under", {"over": "2.60", "under": "1.45"}, "3.5")]
    added = await client.post(url, json={"markets": more}, headers=staff)
    assert added.status_code == 201, added.text
    assert [m["line"] for m in added.json()["markets"] if m["type"] == "over_under"] == [
        "2.5",
        "3.5",
    ]
    assert added.json()["seq"] == 1
    created = await recorded(runtime, "sportsbook.market.created", event["id"])
    assert [(c["type"], c["line_hundredths"], c["seq"]) for c in created] == [
        ("over_under", 350, 1)
    ]

    twice = await client.post(url, json={"markets": more}, headers=staff)
    assert twice.status_code == 409 and twice.json()["error"]["code"] == "market_exists"
    second_1x2 = [market("1x2", {"home": "2", "draw": "3", "away": "4"})]
    clash = await client.post(url, json={"markets": second_1x2}, headers=staff)
    assert clash.status_code == 409 and clash.json()["error"]["code"] == "market_exists"


# -- odds ----------------------------------------------------------------------------------------
async def test_odds_patch_writes_history_bumps_seq_once_and_records_the_change(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    event = await create_event(client, runtime)
    ids = outcome_ids(event, "1x2")
    url = f"/api/admin/events/{event['id']}/odds"
    changes = {
        "outcomes": [
            {"outcome_id": ids["home"], "odds": "1.95"},
            {"outcome_id": ids["away"], "odds": "3.6"},
            {"outcome_id": ids["draw"], "odds": "3.40"},  # unchanged: no history, not reported
        ]
    }
    response = await client.patch(url, json=changes, headers=admin_headers(runtime))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["seq"] == 1
    prices = {o["key"]: (o["odds"], o["odds_milli"]) for o in body["markets"][0]["outcomes"]}
    assert prices == {"home": ("1.95", 1950), "draw": ("3.40", 3400), "away": ("3.60", 3600)}
    assert await _history(runtime, ids["home"]) == [(2100, "admin"), (1950, "admin")]
    assert await _history(runtime, ids["draw"]) == [(3400, "admin")]

    (changed,) = await recorded(runtime, "sportsbook.odds.changed", event["id"])
    one_x_two = market_id(event, "1x2")
    assert changed["seq"] == 1
    assert changed["outcomes"] == [
        {"outcome_id": ids["home"], "market_id": one_x_two, "odds_milli": 1950},
        {"outcome_id": ids["away"], "market_id": one_x_two, "odds_milli": 3600},
    ]

    same = await client.patch(url, json=changes, headers=admin_headers(runtime))
    assert same.status_code == 200 and same.json()["seq"] == 1  # nothing moved: no step
    assert len(await recorded(runtime, "sportsbook.odds.changed", event["id"])) == 1


@pytest.mark.parametrize(
    ("odds", "status", "code"),
    [
        ("1.000", 422, "invalid_odds"),
        ("abc", 422, "invalid_odds"),
        ("", 422, "validation_error"),
        ("1000000", 422, "invalid_odds"),
    ],
)
async def test_odds_patch_rejects_bad_odds(
    client: httpx.AsyncClient, runtime: Runtime, odds: str, status: int, code: str
) -> None:
    event = await create_event(client, runtime)
    body = {"outcomes": [{"outcome_id": outcome_ids(event, "btts")["yes"], "odds": odds}]}
    response = await client.patch(
        f"/api/admin/events/{event['id']}/odds", json=body, headers=admin_headers(runtime)
    )
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code


async def test_odds_patch_on_foreign_outcomes_unknown_events_and_settled_markets(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    staff = admin_headers(runtime)
    event, other = await create_event(client, runtime), await create_event(client, runtime)
    foreign = outcome_ids(other, "btts")["yes"]
    response = await client.patch(
        f"/api/admin/events/{event['id']}/odds",
        json={"outcomes": [{"outcome_id": foreign, "odds": "2.00"}]},
        headers=staff,
    )
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "outcome_not_found"
    assert response.json()["error"]["details"] == {"outcome_ids": [foreign]}

    missing = await client.patch(
        "/api/admin/events/999999999999/odds",
        json={"outcomes": [{"outcome_id": foreign, "odds": "2.00"}]},
        headers=staff,
    )
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "event_not_found"

    twice = await client.patch(
        f"/api/admin/events/{other['id']}/odds",
        json={
            "outcomes": [{"outcome_id": foreign, "odds": "2"}, {"outcome_id": foreign, "odds": "3"}]
        },
        headers=staff,
    )
    assert twice.status_code == 422 and twice.json()["error"]["code"] == "validation_error"

    ids = outcome_ids(other, "btts")
    results = {
        "markets": [
            {
                "market_id": market_id(other, "btts"),
                "outcomes": [
                    {"outcome_id": ids["yes"], "result": "won"},
                    {"outcome_id": ids["no"], "result": "lost"},
                ],
            }
        ]
    }
    settled = await client.post(
        f"/api/admin/events/{other['id']}/result", json=results, headers=staff
    )
    assert settled.status_code == 200, settled.text
    closed = await client.patch(
        f"/api/admin/events/{other['id']}/odds",
        json={"outcomes": [{"outcome_id": ids["yes"], "odds": "1.50"}]},
        headers=staff,
    )
    assert closed.status_code == 409 and closed.json()["error"]["code"] == "market_closed"


# -- suspend and status --------------------------------------------------------------------------
async def test_suspend_and_unsuspend_an_event(client: httpx.AsyncClient, runtime: Runtime) -> None:
    staff = admin_headers(runtime)
    event = await create_event(client, runtime)
    url = f"/api/admin/events/{event['id']}"

    suspended = await client.post(f"{url}/suspend", headers=staff)
    assert suspended.status_code == 200, suspended.text
    assert (suspended.json()["status"], suspended.json()["seq"]) == ("suspended", 1)
    again = await client.post(f"{url}/suspend", headers=staff)
    assert (again.json()["status"], again.json()["seq"]) == ("suspended", 1)  # a no-op

    resumed = await client.post(f"{url}/unsuspend", headers=staff)
    assert (resumed.json()["status"], resumed.json()["seq"]) == ("scheduled", 2)  # not started
    changes = await recorded(runtime, "sportsbook.event.status_changed", event["id"])
    assert [(c["previous_status"], c["status"], c["seq"]) for c in changes] == [
        ("scheduled", "suspended", 1),
        ("suspended", "scheduled", 2),
    ]
    noop = await client.post(f"{url}/unsuspend", headers=staff)
    assert noop.status_code == 200 and noop.json()["seq"] == 2


async def test_unsuspend_after_kick_off_goes_live(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    staff = admin_headers(runtime)
    started = (datetime.now(UTC) - timedelta(minutes=10)).isoformat()
    event = await create_event(client, runtime, starts_at=started)
    url = f"/api/admin/events/{event['id']}"
    assert (await client.patch(url, json={"status": "live"}, headers=staff)).status_code == 200
    assert (await client.post(f"{url}/suspend", headers=staff)).json()["status"] == "suspended"
    assert (await client.post(f"{url}/unsuspend", headers=staff)).json()["status"] == "live"


async def test_suspend_and_unsuspend_a_market(client: httpx.AsyncClient, runtime: Runtime) -> None:
    staff = admin_headers(runtime)
    event = await create_event(client, runtime)
    btts = market_id(event, "btts")

    suspended = await client.post(f"/api/admin/markets/{btts}/suspend", headers=staff)
    assert suspended.status_code == 200, suspended.text
    statuses = {m["id"]: m["status"] for m in suspended.json()["markets"]}
    assert statuses[btts] == "suspended" and list(statuses.values()).count("open") == 5
    assert suspended.json()["seq"] == 1 and suspended.json()["status"] == "scheduled"
    again = await client.post(f"/api/admin/markets/{btts}/suspend", headers=staff)
    assert again.json()["seq"] == 1

    reopened = await client.post(f"/api/admin/markets/{btts}/unsuspend", headers=staff)
    assert {m["id"]: m["status"] for m in reopened.json()["markets"]}[btts] == "open"
    changes = await recorded(runtime, "sportsbook.market.status_changed", event["id"])
    assert [(c["market_id"], c["previous_status"], c["status"], c["seq"]) for c in changes] == [
        (btts, "open", "suspended", 1),
        (btts, "suspended", "open", 2),
    ]
    unknown = await client.post("/api/admin/markets/999999999999/suspend", headers=staff)
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "market_not_found"


async def test_status_changes_cascade_to_markets(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    staff = admin_headers(runtime)
    event = await create_event(client, runtime)
    url = f"/api/admin/events/{event['id']}"
    btts = market_id(event, "btts")
    await client.post(f"/api/admin/markets/{btts}/suspend", headers=staff)

    live = await client.patch(url, json={"status": "live"}, headers=staff)
    assert live.status_code == 200 and live.json()["status"] == "live"
    ended = await client.patch(url, json={"status": "ended"}, headers=staff)
    assert ended.status_code == 200, ended.text
    assert {m["status"] for m in ended.json()["markets"]} == {"closed"}
    last = (await recorded(runtime, "sportsbook.event.status_changed", event["id"]))[-1]
    assert last["status"] == "ended" and len(last["markets"]) == 6

    back = await client.patch(url, json={"status": "live"}, headers=staff)
    assert back.status_code == 409 and back.json()["error"]["code"] == "invalid_status_change"
    reopen = await client.post(f"/api/admin/markets/{btts}/unsuspend", headers=staff)
    assert reopen.status_code == 409 and reopen.json()["error"]["code"] == "invalid_status_change"
    suspend = await client.post(f"{url}/suspend", headers=staff)
    assert suspend.status_code == 409


async def test_cancelling_cancels_unsettled_markets(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    staff = admin_headers(runtime)
    event = await create_event(client, runtime)
    url = f"/api/admin/events/{event['id']}"
    postponed = await client.patch(url, json={"status": "postponed"}, headers=staff)
    assert postponed.json()["status"] == "postponed"
    live = await client.patch(url, json={"status": "live"}, headers=staff)
    assert live.status_code == 409  # postponed → scheduled (with a new time) or cancelled
    cancelled = await client.patch(url, json={"status": "cancelled"}, headers=staff)
    assert cancelled.status_code == 200
    assert {m["status"] for m in cancelled.json()["markets"]} == {"cancelled"}
    for bad in ({"status": "suspended"}, {"status": "over"}):
        response = await client.patch(url, json=bad, headers=staff)
        assert response.json()["error"]["code"] == "validation_error"


async def test_patch_kick_off_limits_and_score(client: httpx.AsyncClient, runtime: Runtime) -> None:
    staff = admin_headers(runtime)
    event = await create_event(client, runtime, limits={"max_stake": "100", "max_payout": "9000"})
    url = f"/api/admin/events/{event['id']}"
    later = (datetime.now(UTC) + timedelta(days=3)).replace(microsecond=0)
    patched = await client.patch(
        url,
        json={"starts_at": later.isoformat(), "max_stake": "250.50", "max_payout": None},
        headers=staff,
    )
    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert datetime.fromisoformat(body["starts_at"]) == later
    assert body["limits"] == {"max_stake": "250.50", "max_payout": None, "liability_cap": None}
    assert body["seq"] == 0  # neither odds nor status moved
    (update,) = await recorded(runtime, "sportsbook.event.updated", event["id"])
    assert update["changes"] == {
        "starts_at": later.isoformat(),
        "max_stake": 25050,
        "max_payout": None,
    }
    scored = await client.patch(url, json={"home_score": 1, "away_score": 0}, headers=staff)
    assert scored.json()["score"] == {"home": 1, "away": 0}
    half = await client.patch(url, json={"home_score": 1}, headers=staff)
    assert half.status_code == 422
    bad = await client.patch(url, json={"liability_cap": "-5"}, headers=staff)
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_limit"


# -- access --------------------------------------------------------------------------------------
ADMIN_CALLS = [
    ("POST", "/api/admin/events", event_body()),
    ("POST", "/api/admin/events/1/markets", {"markets": []}),
    ("PATCH", "/api/admin/events/1", {}),
    ("PATCH", "/api/admin/events/1/odds", {"outcomes": [{"outcome_id": 1, "odds": "2"}]}),
    ("POST", "/api/admin/events/1/suspend", None),
    ("POST", "/api/admin/events/1/unsuspend", None),
    ("POST", "/api/admin/markets/1/suspend", None),
    ("POST", "/api/admin/markets/1/unsuspend", None),
    ("POST", "/api/admin/events/1/result", {"home_score": 1, "away_score": 0}),
]


@pytest.mark.parametrize(("method", "path", "body"), ADMIN_CALLS)
async def test_trading_needs_the_admin_role(
    client: httpx.AsyncClient, runtime: Runtime, method: str, path: str, body: Any
) -> None:
    anonymous = await client.request(method, path, json=body)
    assert anonymous.status_code == 401
    for role in (Role.PLAYER, Role.COMPLIANCE):
        response = await client.request(method, path, json=body, headers=headers_for(runtime, role))
        assert response.status_code == 403, response.text
        assert response.json()["error"]["code"] == "forbidden"


async def test_unknown_event_is_404_everywhere(client: httpx.AsyncClient, runtime: Runtime) -> None:
    staff = admin_headers(runtime)
    for method, path, body in ADMIN_CALLS[2:]:
        if "/markets/" in path:
            continue
        response = await client.request(
            method, path.replace("/1", "/999999999999", 1), json=body, headers=staff
        )
        assert response.status_code == 404, (path, response.text)
        assert response.json()["error"]["code"] == "event_not_found"
    too_big = await client.get("/api/events/99999999999999999999")
    assert too_big.status_code == 422


async def test_odds_are_stored_exactly(client: httpx.AsyncClient, runtime: Runtime) -> None:
    event = await create_event(
        client, runtime, markets=[market("btts", {"yes": "1.001", "no": "1000"})]
    )
    async with runtime.db.connect() as conn:
        stored = await conn.execute(
            sa.select(outcomes.c.key, outcomes.c.odds_milli)
            .where(outcomes.c.market_id == market_id(event, "btts"))
            .order_by(outcomes.c.id)
        )
        assert [tuple(r) for r in stored] == [("yes", 1001), ("no", 1_000_000)]
    assert [o["odds"] for o in event["markets"][0]["outcomes"]] == ["1.001", "1000.00"]
