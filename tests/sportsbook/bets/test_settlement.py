"""Results → settlement → payout through the ledger; live bets accepted or rejected after the
delay. Settlement runs the same consumer handler the settlement role runs on NATS."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from letsbet.ledger.reconcile import check
from letsbet.platform.runtime import Runtime
from letsbet.sportsbook.bets import settlement
from letsbet.sportsbook.bets.live import process_due
from tests.sportsbook.bets.helpers import balance, bet_body, funded_player, post, settle_from_outbox
from tests.sportsbook.catalogue.helpers import admin_headers, create_event, market_id, outcome_ids


async def _result(
    client: httpx.AsyncClient,
    runtime: Runtime,
    event: dict[str, Any],
    market_type: str,
    **results: Any,
) -> None:
    ids = outcome_ids(event, market_type)
    outcomes = []
    for key, value in results.items():
        result, extra = (value, {}) if isinstance(value, str) else value
        outcomes.append({"outcome_id": ids[key], "result": result, **extra})
    response = await client.post(
        f"/api/admin/events/{event['id']}/result",
        json={"markets": [{"market_id": market_id(event, market_type), "outcomes": outcomes}]},
        headers=admin_headers(runtime),
    )
    assert response.status_code == 200, response.text


async def test_multi_wins_pays_once_and_books_stay_sound(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    first, second = await create_event(client, runtime), await create_event(client, runtime)
    user, headers = await funded_player(runtime, 1_000_00)
    body = bet_body(
        [(outcome_ids(first, "1x2")["home"], "2.10"), (outcome_ids(second, "1x2")["home"], "2.10")],
        stake="100.00",
    )
    bet = (await post(client, body, headers)).json()
    assert bet["potential_return"] == "441.00"

    await _result(client, runtime, first, "1x2", home="won", draw="lost", away="lost")
    assert await settle_from_outbox(runtime, first["id"]) == 1
    assert (await client.get(f"/api/bets/{bet['id']}", headers=headers)).json()["status"] == "open"
    await _result(client, runtime, second, "1x2", home="won", draw="lost", away="lost")
    await settle_from_outbox(runtime, second["id"])

    settled = (await client.get(f"/api/bets/{bet['id']}", headers=headers)).json()
    assert (settled["status"], settled["returned"], settled["payout"]) == (
        "won",
        "441.00",
        "441.00",
    )
    assert [h["status"] for h in settled["history"]] == ["open", "won"]
    assert (await balance(runtime, user)).balance == 1_000_00 - 100_00 + 441_00
    # Redelivered results change nothing.
    assert await settle_from_outbox(runtime, first["id"]) == 0
    async with runtime.db.transaction() as conn:
        assert await settlement.settle_bet(conn, settled["id"]) is False
    assert (await balance(runtime, user)).balance == 1_341_00
    assert (await check(runtime.db)).sound


async def test_asian_half_win_lost_and_void(client: httpx.AsyncClient, runtime: Runtime) -> None:
    event = await create_event(client, runtime)
    user, headers = await funded_player(runtime, 1_000_00)
    asian = outcome_ids(event, "asian_handicap")  # home 2.05
    btts = outcome_ids(event, "btts")  # yes 1.80
    dc = outcome_ids(event, "double_chance")  # X2 1.65
    half = (await post(client, bet_body([(asian["home"], "2.05")]), headers)).json()
    lost = (await post(client, bet_body([(btts["yes"], "1.80")]), headers)).json()
    void = (await post(client, bet_body([(dc["X2"], "1.65")]), headers)).json()

    await _result(
        client,
        runtime,
        event,
        "asian_handicap",
        home=("won", {"void_factor": "0.5"}),
        away=("lost", {"void_factor": "0.5"}),
    )
    await _result(client, runtime, event, "btts", yes="lost", no="won")
    await _result(
        client,
        runtime,
        event,
        "double_chance",
        **{
            "1X": ("lost", {"void_factor": "1"}),
            "12": ("lost", {"void_factor": "1"}),
            "X2": ("lost", {"void_factor": "1"}),
        },
    )
    await settle_from_outbox(runtime, event["id"])

    async def show(bet: dict[str, Any]) -> tuple[str, str]:
        body = (await client.get(f"/api/bets/{bet['id']}", headers=headers)).json()
        return body["status"], body["returned"]

    assert await show(half) == ("won", "152.50")  # 50 back + 50 at 2.05
    assert await show(lost) == ("lost", "0.00")
    assert await show(void) == ("void", "100.00")
    assert (await balance(runtime, user)).balance == 1_000_00 - 300_00 + 152_50 + 100_00
    assert (await check(runtime.db)).sound


async def test_live_bet_waits_on_a_hold_then_is_accepted_or_rejected(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    admin = admin_headers(runtime)
    event = await create_event(client, runtime)
    live = await client.patch(
        f"/api/admin/events/{event['id']}", json={"status": "live"}, headers=admin
    )
    assert live.status_code == 200, live.text
    ids = outcome_ids(event, "1x2")
    user, headers = await funded_player(runtime, 1_000_00)

    accepted = (await post(client, bet_body([(ids["home"], "2.10")]), headers)).json()
    rejected = (await post(client, bet_body([(ids["away"], "3.25")]), headers)).json()
    assert accepted["status"] == rejected["status"] == "pending" and accepted["live"]
    wallet = await balance(runtime, user)
    assert (wallet.balance, wallet.held) == (1_000_00, 200_00)  # held, not spent

    # A goal: the away price moves before the delay is over.
    moved = await client.patch(
        f"/api/admin/events/{event['id']}/odds",
        json={"outcomes": [{"outcome_id": ids["away"], "odds": "5.00"}]},
        headers=admin,
    )
    assert moved.status_code == 200, moved.text
    assert await process_due(runtime.db, now=datetime.now(UTC)) == 0  # delay not over
    assert await process_due(runtime.db, now=datetime.now(UTC) + timedelta(seconds=6)) >= 2

    a = (await client.get(f"/api/bets/{accepted['id']}", headers=headers)).json()
    r = (await client.get(f"/api/bets/{rejected['id']}", headers=headers)).json()
    assert (
        a["status"] == "open" and r["status"] == "rejected" and r["reject_code"] == "odds_changed"
    )
    wallet = await balance(runtime, user)
    assert (wallet.balance, wallet.held) == (900_00, 0)
    assert (await check(runtime.db)).sound
