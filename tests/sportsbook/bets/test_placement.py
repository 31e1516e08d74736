"""POST /api/bets through the ASGI app on real servers: prices from the server, every
rejection code, idempotency, systems, concurrency against one wallet."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from letsbet.ledger.reconcile import check
from letsbet.platform.runtime import Runtime
from tests.sportsbook.bets.helpers import balance, bet_body, funded_player, post
from tests.sportsbook.catalogue.helpers import admin_headers, create_event, market_id, outcome_ids


async def _event(client: httpx.AsyncClient, runtime: Runtime, **overrides: Any) -> dict[str, Any]:
    return await create_event(client, runtime, **overrides)


async def test_single_takes_the_stake_at_the_server_price(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    event = await _event(client, runtime)
    home = outcome_ids(event, "1x2")["home"]
    user, headers = await funded_player(runtime, 1_000_00)
    response = await post(client, bet_body([(home, "2.10")], stake="100.00"), headers)
    assert response.status_code == 201, response.text
    bet = response.json()
    assert (bet["status"], bet["total_stake"], bet["potential_return"]) == (
        "open",
        "100.00",
        "210.00",
    )
    assert bet["legs"][0]["odds"] == "2.10" and len(bet["lines"]) == 1
    assert (await balance(runtime, user)).balance == 900_00
    detail = await client.get(f"/api/bets/{bet['id']}", headers=headers)
    assert detail.status_code == 200 and detail.json()["history"][0]["status"] == "open"
    listed = await client.get("/api/bets", headers=headers)
    assert [b["id"] for b in listed.json()["items"]] == [bet["id"]]


async def test_replay_and_conflicting_replay(client: httpx.AsyncClient, runtime: Runtime) -> None:
    event = await _event(client, runtime)
    home = outcome_ids(event, "1x2")["home"]
    user, headers = await funded_player(runtime)
    body = bet_body([(home, "2.10")])
    first = await post(client, body, headers)
    again = await post(client, body, headers)
    assert first.status_code == 201 and again.status_code == 200
    assert again.json()["id"] == first.json()["id"] and again.json()["replayed"]
    assert (await balance(runtime, user)).balance == 10_000_00 - 100_00
    different = await post(client, {**body, "stake": "50.00"}, headers)
    assert different.status_code == 409
    assert different.json()["error"]["code"] == "idempotency_conflict"


@pytest.mark.parametrize(
    ("seen", "policy", "accepted"),
    [
        ("2.10", "none", True),
        ("2.00", "none", False),
        ("2.00", "higher", True),
        ("2.20", "higher", False),
        ("2.20", "any", True),
    ],
)
async def test_odds_change_policies(
    client: httpx.AsyncClient, runtime: Runtime, seen: str, policy: str, accepted: bool
) -> None:
    event = await _event(client, runtime)
    home = outcome_ids(event, "1x2")["home"]  # current price 2.10
    _, headers = await funded_player(runtime)
    response = await post(client, bet_body([(home, seen)], odds_change=policy), headers)
    if accepted:
        assert response.status_code == 201, response.text
        assert response.json()["legs"][0]["odds"] == "2.10"  # the server's price, always
    else:
        assert response.status_code == 409
        error = response.json()["error"]
        assert error["code"] == "odds_changed"
        assert error["details"]["current"] == [{"outcome_id": home, "odds_milli": 2100}]


async def test_rejection_codes(client: httpx.AsyncClient, runtime: Runtime) -> None:
    user, headers = await funded_player(runtime, 1_000_00)
    admin = admin_headers(runtime)
    event = await _event(client, runtime, limits={"max_stake": "500.00", "max_payout": "5000.00"})
    ids = outcome_ids(event, "1x2")

    async def code(body: dict[str, Any]) -> tuple[int, str]:
        response = await post(client, body, headers)
        return response.status_code, response.json()["error"]["code"]

    assert await code(bet_body([(ids["home"], "2.10")], stake="0.50")) == (
        422,
        "stake_below_minimum",
    )
    assert await code(bet_body([(ids["home"], "2.10")], stake="600.00")) == (
        422,
        "stake_above_maximum",
    )
    assert await code(bet_body([(999_999_999, "2.10")])) == (404, "outcome_not_found")
    assert await code(bet_body([(ids["home"], "2.10"), (ids["away"], "3.25")])) == (
        422,
        "same_event_legs",
    )
    other = await _event(client, runtime)
    two = [(ids["home"], "2.10"), (outcome_ids(other, "1x2")["home"], "2.10")]
    assert await code(bet_body(two, bet_type="system", system="2/3")) == (422, "invalid_system")
    assert await code(bet_body(two[:1], bet_type="system", system="1/1")) == (
        422,
        "not_enough_legs",
    )

    big = await _event(client, runtime, limits={"max_payout": "100.00"})
    assert await code(bet_body([(outcome_ids(big, "1x2")["home"], "2.10")], stake="50.00")) == (
        422,
        "payout_above_cap",
    )

    poor = await _event(client, runtime)
    assert await code(bet_body([(outcome_ids(poor, "1x2")["away"], "3.25")], stake="1000.01")) == (
        409,
        "insufficient_funds",
    )

    suspended = await _event(client, runtime)
    response = await client.post(
        f"/api/admin/markets/{market_id(suspended, '1x2')}/suspend", headers=admin
    )
    assert response.status_code in (200, 204), response.text
    assert await code(bet_body([(outcome_ids(suspended, "1x2")["home"], "2.10")])) == (
        409,
        "market_suspended",
    )

    started = await _event(
        client, runtime, starts_at=(datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    )
    assert await code(bet_body([(outcome_ids(started, "1x2")["home"], "2.10")])) == (
        409,
        "event_started",
    )

    capped = await _event(client, runtime, limits={"liability_cap": "300.00"})
    home = outcome_ids(capped, "1x2")["home"]
    assert (
        await post(client, bet_body([(home, "2.10")], stake="100.00"), headers)
    ).status_code == 201
    assert await code(bet_body([(home, "2.10")], stake="100.00")) == (409, "liability_cap_reached")
    assert (await balance(runtime, user)).balance == 1_000_00 - 100_00  # only the one bet


async def test_yankee_expands_into_eleven_lines(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    events = [await _event(client, runtime) for _ in range(4)]
    selections = [(outcome_ids(e, "1x2")["home"], "2.10") for e in events]
    user, headers = await funded_player(runtime)
    body = bet_body(selections, stake="10.00", bet_type="system", system="yankee")
    response = await post(client, body, headers)
    assert response.status_code == 201, response.text
    bet = response.json()
    assert bet["line_count"] == 11 and bet["total_stake"] == "110.00"
    assert sorted(len(line["legs"]) for line in bet["lines"]) == [2] * 6 + [3] * 4 + [4]
    assert (await balance(runtime, user)).balance == 10_000_00 - 110_00


async def test_concurrent_bets_never_overdraw(client: httpx.AsyncClient, runtime: Runtime) -> None:
    event = await _event(client, runtime)
    home = outcome_ids(event, "1x2")["home"]
    user, headers = await funded_player(runtime, 1_000_00)
    responses = await asyncio.gather(
        *(post(client, bet_body([(home, "2.10")], stake="100.00"), headers) for _ in range(25))
    )
    codes = sorted(r.status_code for r in responses)
    assert codes.count(201) == 10 and codes.count(409) == 15
    assert (await balance(runtime, user)).balance == 0
    assert (await check(runtime.db)).sound


async def test_same_events_in_opposite_order_do_not_deadlock(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    events = [await _event(client, runtime) for _ in range(3)]
    legs = [(outcome_ids(e, "1x2")["home"], "2.10") for e in events]
    _, headers = await funded_player(runtime)
    slips = [bet_body(legs if i % 2 else legs[::-1], stake="1.00") for i in range(30)]
    responses = await asyncio.gather(*(post(client, slip, headers) for slip in slips))
    assert [r.status_code for r in responses] == [201] * 30


async def test_replay_answers_the_original_even_after_the_odds_moved(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    event = await _event(client, runtime)
    home = outcome_ids(event, "1x2")["home"]
    _, headers = await funded_player(runtime)
    body = bet_body([(home, "2.10")])
    first = await post(client, body, headers)
    moved = await client.patch(
        f"/api/admin/events/{event['id']}/odds",
        json={"outcomes": [{"outcome_id": home, "odds": "1.50"}]},
        headers=admin_headers(runtime),
    )
    assert moved.status_code == 200
    again = await post(client, body, headers)
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    fresh = await post(client, {**body, "idempotency_key": "new-slip"}, headers)
    assert fresh.status_code == 409 and fresh.json()["error"]["code"] == "odds_changed"


async def test_the_placement_answer_equals_the_bet_read_back(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    events = [await _event(client, runtime) for _ in range(3)]
    legs = [(outcome_ids(e, "1x2")["away"], "3.25") for e in events]
    _, headers = await funded_player(runtime)
    placed = await post(
        client, bet_body(legs, stake="2.00", bet_type="system", system="trixie"), headers
    )
    assert placed.status_code == 201, placed.text
    stored = await client.get(f"/api/bets/{placed.json()['id']}", headers=headers)
    assert placed.json() == stored.json()
