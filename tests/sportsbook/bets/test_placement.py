"""POST /api/bets through the ASGI app on real servers: prices from the server, every
rejection code, idempotency, systems, concurrency against one wallet and one liability cap,
and placement's one read and one write."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from letsbet.accounts.domain import Role
from letsbet.accounts.tables import users
from letsbet.ledger import service as ledger
from letsbet.ledger.reconcile import check
from letsbet.ledger.tables import ledger_accounts
from letsbet.platform.bus.tables import outbox
from letsbet.platform.db import driver
from letsbet.platform.runtime import Runtime
from letsbet.sportsbook.bets import placement
from letsbet.sportsbook.bets.domain import BetType, OddsChangePolicy
from letsbet.sportsbook.bets.tables import bets, event_liability
from letsbet.tenants import get_tenant
from tests.sportsbook.bets.helpers import balance, bet_body, funded_player, post
from tests.sportsbook.catalogue.helpers import admin_headers, create_event, market_id, outcome_ids
from tests.support import create_players


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


async def test_many_bets_against_one_wallet_leave_the_exact_balance(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    events = [await _event(client, runtime) for _ in range(3)]
    legs = [(outcome_ids(e, "1x2")["home"], "2.10") for e in events]
    user, headers = await funded_player(runtime, 500_00)
    # 37.00 singles and 2-leg multis alike: 13 fit in 500.00, the rest must be refused.
    slips = [
        bet_body([legs[i % 3]] if i % 2 else [legs[i % 3], legs[(i + 1) % 3]], stake="37.00")
        for i in range(20)
    ]
    responses = await asyncio.gather(*(post(client, slip, headers) for slip in slips))
    codes = [r.status_code for r in responses]
    assert codes.count(201) == 13 and codes.count(409) == 7
    assert {r.json()["error"]["code"] for r in responses if r.status_code == 409} == {
        "insufficient_funds"
    }
    assert (await balance(runtime, user)).balance == 500_00 - 13 * 37_00
    async with runtime.db.connect() as conn:
        stakes = await conn.scalar(
            sa.select(sa.func.sum(bets.c.total_stake)).where(bets.c.user_id == user)
        )
    assert stakes == 13 * 37_00
    assert (await check(runtime.db)).sound


async def test_the_liability_cap_holds_under_concurrent_bets(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    event = await _event(client, runtime, limits={"liability_cap": "1000.00"})
    home = outcome_ids(event, "1x2")["home"]  # 100.00 at 2.10: 210.00 of exposure each
    players = [await funded_player(runtime, 1_000_00) for _ in range(12)]
    responses = await asyncio.gather(
        *(post(client, bet_body([(home, "2.10")], stake="100.00"), h) for _, h in players)
    )
    codes = [r.status_code for r in responses]
    assert codes.count(201) == 4 and codes.count(409) == 8  # 4 x 210.00 <= 1000.00 < 5 x 210.00
    assert {r.json()["error"]["code"] for r in responses if r.status_code == 409} == {
        "liability_cap_reached"
    }
    async with runtime.db.connect() as conn:
        exposure = await conn.scalar(
            sa.select(event_liability.c.exposure).where(
                event_liability.c.event_id == event["id"], event_liability.c.currency == "KES"
            )
        )
    assert exposure == 4 * 210_00
    balances = sorted([(await balance(runtime, user)).balance for user, _ in players])
    assert balances == [900_00] * 4 + [1_000_00] * 8  # refused bets took nothing
    assert (await check(runtime.db)).sound


async def test_the_same_key_at_once_places_one_bet(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    event = await _event(client, runtime)
    home = outcome_ids(event, "1x2")["home"]
    user, headers = await funded_player(runtime)
    body = bet_body([(home, "2.10")])
    responses = await asyncio.gather(*(post(client, body, headers) for _ in range(6)))
    assert sorted(r.status_code for r in responses) == [200] * 5 + [201]
    assert len({r.json()["id"] for r in responses}) == 1
    assert (await balance(runtime, user)).balance == 10_000_00 - 100_00


async def test_placement_is_one_read_and_one_write(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    event = await _event(client, runtime)
    home = outcome_ids(event, "1x2")["home"]
    user, _ = await funded_player(runtime)
    request = placement.BetRequest(
        user_id=user,
        tenant=get_tenant("KE"),
        bet_type=BetType.SINGLE,
        selections=(placement.Selection(home, 2100),),
        stake_per_line=100_00,
        system=None,
        odds_change=OddsChangePolicy.NONE,
        idempotency_key="one-read-one-write",
    )
    queries: list[str] = []

    def log(logged: Any) -> None:
        queries.append(logged.query)

    async with runtime.db.transaction() as conn:
        raw = await driver(conn)  # BEGIN
        raw.add_query_logger(log)
        try:
            placed = await placement.place_bet(conn, request, allowed_countries=["KE"])
        finally:
            raw.remove_query_logger(log)
    assert placed.fresh is not None and placed.fresh.status == "open"
    assert len(queries) == 2, queries
    assert "FOR UPDATE" in queries[0] and "INSERT INTO bets" in queries[1]


async def test_a_placement_records_the_ledger_event_then_the_bet_event(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    event = await _event(client, runtime)
    home = outcome_ids(event, "1x2")["home"]
    user, headers = await funded_player(runtime)
    placed = (await post(client, bet_body([(home, "2.10")]), headers)).json()
    async with runtime.db.connect() as conn:
        rows = (
            await conn.execute(
                sa.select(outbox.c.subject, outbox.c.payload)
                .where(outbox.c.payload["data"]["reference"].as_string() == placed["id"])
                .union_all(
                    sa.select(outbox.c.subject, outbox.c.payload).where(
                        outbox.c.payload["data"]["bet_id"].as_string() == placed["id"]
                    )
                )
            )
        ).all()
        seqs = (
            await conn.execute(
                sa.select(outbox.c.seq, outbox.c.subject)
                .where(outbox.c.event_id.in_([uuid.UUID(r.payload["id"]) for r in rows]))
                .order_by(outbox.c.seq)
            )
        ).all()
    assert [s.subject for s in seqs] == ["ledger.transfer.posted", "sportsbook.bet.placed"]
    data = {r.subject: r.payload["data"] for r in rows}
    assert data["sportsbook.bet.placed"] == {
        "bet_id": placed["id"],
        "user_id": str(user),
        "country": "KE",
        "currency": "KES",
        "bet_type": "single",
        "status": "open",
        "total_stake": 100_00,
        "potential_return": 210_00,
        "event_ids": [event["id"]],
    }
    entries = data["ledger.transfer.posted"]["entries"]
    assert [(e["user_id"], e["house"], e["amount"]) for e in entries] == [
        (str(user), None, -100_00),
        (None, "stakes_in_play", 100_00),
    ]


async def test_a_player_without_a_wallet_is_refused_and_gets_none(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    event = await _event(client, runtime)
    home = outcome_ids(event, "1x2")["home"]
    async with runtime.db.transaction() as conn:
        (user,) = await create_players(conn, 1)
    token = runtime.signer.access_token(
        user_id=user, role=Role.PLAYER, country="KE", now=datetime.now(UTC)
    )
    response = await post(client, bet_body([(home, "2.10")]), {"Authorization": f"Bearer {token}"})
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "insufficient_funds"
    async with runtime.db.connect() as conn:
        assert await ledger.wallet(conn, user, "KES") == ledger.Wallet("KES", 0, 0)
        assert (
            await conn.scalar(sa.select(sa.func.count()).where(ledger_accounts.c.owner_id == user))
            == 0
        )


async def test_ineligible_players_are_refused(client: httpx.AsyncClient, runtime: Runtime) -> None:
    event = await _event(client, runtime)
    home = outcome_ids(event, "1x2")["home"]
    user, headers = await funded_player(runtime)
    settings = runtime.settings
    runtime.settings = settings.model_copy(update={"allowed_countries": ["NG", "GH"]})
    try:
        closed = await post(client, bet_body([(home, "2.10")]), headers)
    finally:
        runtime.settings = settings
    assert closed.status_code == 403
    assert closed.json()["error"]["code"] == "player_not_eligible"
    async with runtime.db.transaction() as conn:
        await conn.execute(sa.update(users).where(users.c.id == user).values(status="suspended"))
    suspended = await post(client, bet_body([(home, "2.10")]), headers)
    assert suspended.status_code == 403
    assert suspended.json()["error"]["details"]["reason"] == "account_inactive"
    assert (await balance(runtime, user)).balance == 10_000_00
