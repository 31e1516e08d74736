"""Corrected results resettle settled bets with one net transfer each; a rollback reopens them.
Results go through the trading API, settlement through the consumer the settlement role runs."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from letsbet.ledger.reconcile import check
from letsbet.platform.observability import LEDGER_OVERDRAFTS
from letsbet.platform.runtime import Runtime
from letsbet.sportsbook.bets import consumers
from letsbet.sportsbook.bets.resettlement import SettlementMismatch
from letsbet.sportsbook.bets.tables import bets, event_liability
from tests.sportsbook.bets.helpers import (
    balance,
    bet_body,
    bet_events,
    bet_money,
    bet_transfers,
    funded_player,
    move,
    post,
    post_result,
    result_events,
    rollback_result,
    settle_from_outbox,
    settlement_consumer,
)
from tests.sportsbook.catalogue.helpers import create_event, market_id, outcome_ids

HOME = {"home": "won", "draw": "lost", "away": "lost"}
DRAW = {"home": "lost", "draw": "won", "away": "lost"}
AWAY = {"home": "lost", "draw": "lost", "away": "won"}
VOID = {key: ("lost", {"void_factor": "1"}) for key in ("home", "draw", "away")}
Headers = dict[str, str]


async def _single(
    client: httpx.AsyncClient, runtime: Runtime, key: str = "home", funds: int = 1_000_00
) -> tuple[dict[str, Any], dict[str, Any], Any, Headers]:
    """An event and a KES 100 single on its 1X2 `key` (home 2.10, draw 3.40, away 3.25)."""
    event = await create_event(client, runtime)
    user, headers = await funded_player(runtime, funds)
    odds = {"home": "2.10", "draw": "3.40", "away": "3.25"}[key]
    response = await post(client, bet_body([(outcome_ids(event, "1x2")[key], odds)]), headers)
    assert response.status_code == 201, response.text
    return event, response.json(), user, headers


async def _result(
    client: httpx.AsyncClient, runtime: Runtime, event: dict[str, Any], results: dict[str, Any]
) -> int:
    await post_result(client, runtime, event, "1x2", **results)
    return await settle_from_outbox(runtime, event["id"])


async def _bet(client: httpx.AsyncClient, bet: dict[str, Any], headers: Headers) -> Any:
    response = await client.get(f"/api/bets/{bet['id']}", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def _history(body: dict[str, Any]) -> list[tuple[str, str | None]]:
    return [(h["status"], h["reason"]) for h in body["history"]]


async def test_win_to_lose_claws_back_exactly(client: httpx.AsyncClient, runtime: Runtime) -> None:
    event, bet, user, headers = await _single(client, runtime)
    await _result(client, runtime, event, HOME)
    assert (await balance(runtime, user)).balance == 900_00 + 210_00

    assert await _result(client, runtime, event, DRAW) == 1  # only the correction is new
    body = await _bet(client, bet, headers)
    assert (body["status"], body["returned"], body["payout"]) == ("lost", "0.00", "0.00")
    assert body["lines"][0]["returned"] == "0.00"
    assert _history(body) == [("open", None), ("won", None), ("lost", "resettled")]
    assert (await balance(runtime, user)).balance == 900_00
    seq = (await result_events(runtime, event["id"]))[-1].data["seq"]
    mid = market_id(event, "1x2")
    assert await bet_transfers(runtime, bet["id"]) == [
        ("bet.stake", f"bet:{bet['id']}:stake"),
        ("bet.settle", f"bet:{bet['id']}:settle"),
        ("bet.resettle", f"bet:{bet['id']}:resettle:{mid}:{seq}"),
    ]
    # All told the bet took the stake and kept it, as a single settlement as lost would.
    assert await bet_money(runtime, bet["id"]) == {"player": -100_00, "sportsbook_revenue": 100_00}
    (resettled,) = await bet_events(runtime, "sportsbook.bet.resettled", bet["id"])
    assert {k: resettled[k] for k in ("old_status", "status", "old_payout", "payout")} == {
        "old_status": "won",
        "status": "lost",
        "old_payout": 210_00,
        "payout": 0,
    }
    assert resettled["payout_change"] == -210_00 and resettled["market_id"] == mid
    assert (await check(runtime.db)).sound


async def test_lose_to_win_pays(client: httpx.AsyncClient, runtime: Runtime) -> None:
    event, bet, user, headers = await _single(client, runtime, "draw")
    await _result(client, runtime, event, HOME)
    assert (await _bet(client, bet, headers))["status"] == "lost"
    await _result(client, runtime, event, DRAW)
    body = await _bet(client, bet, headers)
    assert (body["status"], body["returned"], body["payout"]) == ("won", "340.00", "340.00")
    assert (await balance(runtime, user)).balance == 900_00 + 340_00
    assert await bet_money(runtime, bet["id"]) == {"player": 240_00, "sportsbook_revenue": -240_00}
    assert (await check(runtime.db)).sound


async def test_won_to_void_refunds_the_stake(client: httpx.AsyncClient, runtime: Runtime) -> None:
    event, bet, user, headers = await _single(client, runtime)
    await _result(client, runtime, event, HOME)
    await _result(client, runtime, event, VOID)
    body = await _bet(client, bet, headers)
    assert (body["status"], body["returned"], body["payout"]) == ("void", "100.00", "100.00")
    assert _history(body)[-1] == ("void", "resettled")
    assert (await balance(runtime, user)).balance == 1_000_00
    assert await bet_money(runtime, bet["id"]) == {}  # the stake came back, nothing else moved
    assert (await check(runtime.db)).sound


async def test_a_redelivered_correction_changes_nothing(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    event, bet, user, _ = await _single(client, runtime)
    await _result(client, runtime, event, HOME)
    await post_result(client, runtime, event, "1x2", **DRAW)
    correction = (await result_events(runtime, event["id"]))[-1]
    assert correction.data["correction"] is True
    consumer = settlement_consumer(runtime)
    assert await consumer.handle(correction) is True
    assert await consumer.handle(correction) is False  # the inbox knows it
    # Even past the inbox (a second consumer, a replayed stream) nothing moves twice.
    async with runtime.db.transaction() as conn:
        await consumers.on_market_results(conn, correction)
        await consumers.on_market_results(conn, (await result_events(runtime, event["id"]))[0])
    types = [t for t, _ in await bet_transfers(runtime, bet["id"])]
    assert types == ["bet.stake", "bet.settle", "bet.resettle"]
    assert (await balance(runtime, user)).balance == 900_00
    assert (await check(runtime.db)).sound


async def test_successive_corrections_each_apply_once(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    event, bet, user, headers = await _single(client, runtime, "away")
    await _result(client, runtime, event, HOME)  # lost
    await _result(client, runtime, event, AWAY)  # won 325
    await _result(client, runtime, event, DRAW)  # lost again
    await _result(client, runtime, event, AWAY)  # won again
    assert await settle_from_outbox(runtime, event["id"]) == 0
    body = await _bet(client, bet, headers)
    assert (body["status"], body["payout"]) == ("won", "325.00")
    assert [s for s, _ in _history(body)] == ["open", "lost", "won", "lost", "won"]
    keys = [k for t, k in await bet_transfers(runtime, bet["id"]) if t == "bet.resettle"]
    assert len(keys) == len(set(keys)) == 3
    assert (await balance(runtime, user)).balance == 900_00 + 325_00
    assert await bet_money(runtime, bet["id"]) == {"player": 225_00, "sportsbook_revenue": -225_00}
    assert (await check(runtime.db)).sound


async def test_a_multi_is_resettled_when_one_legs_market_changes(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    first, second = await create_event(client, runtime), await create_event(client, runtime)
    user, headers = await funded_player(runtime, 1_000_00)
    legs = [
        (outcome_ids(first, "1x2")["home"], "2.10"),
        (outcome_ids(second, "1x2")["home"], "2.10"),
    ]
    multi = (await post(client, bet_body(legs), headers)).json()
    single = (await post(client, bet_body([legs[1]]), headers)).json()  # only on the second
    await _result(client, runtime, first, HOME)
    await _result(client, runtime, second, HOME)
    assert (await _bet(client, multi, headers))["payout"] == "441.00"

    # A correction on another market of the first event touches no bet.
    await post_result(client, runtime, first, "btts", yes="won", no="lost")
    await post_result(client, runtime, first, "btts", yes="lost", no="won")
    await settle_from_outbox(runtime, first["id"])
    assert len(await bet_transfers(runtime, multi["id"])) == 2

    await _result(client, runtime, first, DRAW)
    body = await _bet(client, multi, headers)
    assert (body["status"], body["payout"]) == ("lost", "0.00")
    assert [leg["result"] for leg in body["legs"]] == ["lost", "won"]
    assert (await _bet(client, single, headers))["status"] == "won"  # its market never changed
    assert (await balance(runtime, user)).balance == 800_00 + 210_00
    assert (await check(runtime.db)).sound


async def test_a_cash_out_is_final(client: httpx.AsyncClient, runtime: Runtime) -> None:
    event, bet, user, headers = await _single(client, runtime)
    quote = (await client.get(f"/api/bets/{bet['id']}/cash-out", headers=headers)).json()
    accepted = await client.post(
        f"/api/bets/{bet['id']}/cash-out", json={"quote_id": quote["quote_id"]}, headers=headers
    )
    assert accepted.status_code == 200, accepted.text
    after_cash_out = (await balance(runtime, user)).balance
    await _result(client, runtime, event, HOME)
    await _result(client, runtime, event, DRAW)
    response = await rollback_result(client, runtime, event, "1x2")
    assert response.status_code == 200, response.text
    await settle_from_outbox(runtime, event["id"])
    body = await _bet(client, bet, headers)
    assert (body["status"], body["payout"]) == ("cashed_out", "95.00")
    assert _history(body)[-1][0] == "cashed_out"
    assert [t for t, _ in await bet_transfers(runtime, bet["id"])] == ["bet.stake", "bet.cash_out"]
    assert (await balance(runtime, user)).balance == after_cash_out
    assert (await check(runtime.db)).sound


async def _exposure(runtime: Runtime, event_id: int) -> int:
    async with runtime.db.connect() as conn:
        value = await conn.scalar(
            sa.select(event_liability.c.exposure).where(
                event_liability.c.event_id == event_id, event_liability.c.currency == "KES"
            )
        )
    return int(value or 0)


async def test_rollback_reopens_then_a_new_result_settles_again(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    event, bet, user, headers = await _single(client, runtime)
    await _result(client, runtime, event, HOME)
    assert await _exposure(runtime, event["id"]) == 0

    response = await rollback_result(client, runtime, event, "1x2")
    assert response.status_code == 200, response.text
    market = next(m for m in response.json()["markets"] if m["type"] == "1x2")
    assert market["status"] == "suspended"  # the event has not ended: the trader may reopen
    assert {o["result"] for o in market["outcomes"]} == {None}
    assert await settle_from_outbox(runtime, event["id"]) == 1
    body = await _bet(client, bet, headers)
    assert (body["status"], body["returned"], body["payout"], body["settled_at"]) == (
        "open",
        None,
        None,
        None,
    )
    assert _history(body) == [("open", None), ("won", None), ("open", "settlement_rolled_back")]
    assert [leg["result"] for leg in body["legs"]] == [None]
    assert (await balance(runtime, user)).balance == 900_00
    assert await _exposure(runtime, event["id"]) == 210_00  # back in the event's liability
    assert await bet_money(runtime, bet["id"]) == {"player": -100_00, "stakes_in_play": 100_00}
    (rolled,) = await bet_events(runtime, "sportsbook.bet.settlement_rolled_back", bet["id"])
    assert (rolled["old_payout"], rolled["payout_change"]) == (210_00, -210_00)

    # A rollback of a market without results is refused; the bet is untouched.
    again = await rollback_result(client, runtime, event, "1x2")
    assert again.status_code == 409 and again.json()["error"]["code"] == "market_not_resulted"

    await _result(client, runtime, event, DRAW)  # a first result again, not a correction
    assert (await _bet(client, bet, headers))["status"] == "lost"
    assert (await balance(runtime, user)).balance == 900_00
    assert await _exposure(runtime, event["id"]) == 0
    assert (await rollback_result(client, runtime, event, "1x2")).status_code == 200
    await settle_from_outbox(runtime, event["id"])
    await _result(client, runtime, event, HOME)
    body = await _bet(client, bet, headers)
    assert (body["status"], body["payout"]) == ("won", "210.00")
    assert (await balance(runtime, user)).balance == 900_00 + 210_00
    # Each settlement between rollbacks has its own key; each rollback reverses one.
    keys = [k.removeprefix(f"bet:{bet['id']}:") for _, k in await bet_transfers(runtime, bet["id"])]
    assert sorted(k for k in keys if k.startswith("settle")) == ["settle", "settle:1", "settle:2"]
    assert len([k for k in keys if k.startswith("rollback:")]) == 2

    # A lagging consumer that sees the rollback only after the next result: the bet goes
    # straight to the newest result, with one correcting transfer.
    assert (await rollback_result(client, runtime, event, "1x2")).status_code == 200
    await post_result(client, runtime, event, "1x2", **VOID)
    assert await settle_from_outbox(runtime, event["id"]) == 2
    body = await _bet(client, bet, headers)
    assert (body["status"], body["payout"]) == ("void", "100.00")
    assert _history(body)[-1] == ("void", "resettled")
    assert (await balance(runtime, user)).balance == 1_000_00
    assert await bet_money(runtime, bet["id"]) == {}
    assert (await check(runtime.db)).sound


async def test_clawing_back_spent_winnings_overdraws_until_a_deposit(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    event, _, user, headers = await _single(client, runtime, funds=100_00)
    await _result(client, runtime, event, HOME)
    async with runtime.db.transaction() as conn:
        await move(conn, user, -210_00)  # withdrawn to M-Pesa the same evening
    overdrafts = LEDGER_OVERDRAFTS.labels("KES")._value.get()

    await _result(client, runtime, event, DRAW)
    wallet = (await client.get("/api/wallet", headers=headers)).json()
    assert (wallet["balance"], wallet["available"]) == ("-210.00", "-210.00")
    assert LEDGER_OVERDRAFTS.labels("KES")._value.get() == overdrafts + 1
    report = await check(runtime.db)
    assert report.sound, report.lines()

    # In debt the player can neither bet nor withdraw; a deposit repays the debt first.
    other = await create_event(client, runtime)
    refused = await post(client, bet_body([(outcome_ids(other, "1x2")["home"], "2.10")]), headers)
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "insufficient_funds"
    async with runtime.db.transaction() as conn:
        await move(conn, user, 300_00)
    assert (await balance(runtime, user)).balance == 90_00
    placed = await post(
        client, bet_body([(outcome_ids(other, "1x2")["home"], "2.10")], stake="50.00"), headers
    )
    assert placed.status_code == 201, placed.text
    assert (await check(runtime.db)).sound


async def test_tax_follows_the_regime_of_the_original_settlement(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    """Settled under Kenya's seed regime (20% on net winnings, until 2025-06-30), corrected
    under the Finance Act 2025 (none at payout): the correction is taxed like the payout."""
    event, bet, user, headers = await _single(client, runtime)
    await post_result(client, runtime, event, "1x2", **HOME)
    mid = market_id(event, "1x2")
    first = (await result_events(runtime, event["id"]))[-1]
    async with runtime.db.transaction() as conn:
        await consumers.sync_market(
            conn, mid, seq=first.data["seq"], now=datetime(2025, 6, 15, 12, tzinfo=UTC)
        )
    body = await _bet(client, bet, headers)
    assert (body["winnings_tax"], body["payout"]) == ("22.00", "188.00")  # 20% of 110

    # A dead heat halves the win: 100 x 2.10 x 0.5 = 105, 5 of it winnings, 1.00 tax.
    home = ("won", {"dead_heat_factor": "0.5"})
    await post_result(client, runtime, event, "1x2", home=home, draw="lost", away="lost")
    await settle_from_outbox(runtime, event["id"])
    body = await _bet(client, bet, headers)
    assert (body["returned"], body["winnings_tax"], body["payout"]) == ("105.00", "1.00", "104.00")
    assert (await balance(runtime, user)).balance == 900_00 + 104_00
    assert await bet_money(runtime, bet["id"]) == {
        "player": 4_00,
        "withholding_tax_payable": 1_00,
        "sportsbook_revenue": -5_00,
    }
    assert (await check(runtime.db)).sound


async def test_end_to_end_place_result_correct_over_http(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    """What a player sees: the corrected payout, the bet's history and the wallet."""
    event = await create_event(client, runtime)
    _, headers = await funded_player(runtime, 500_00)
    ids = outcome_ids(event, "1x2")
    placed = await post(client, bet_body([(ids["away"], "3.25")], stake="40.00"), headers)
    assert placed.status_code == 201, placed.text
    bet = placed.json()

    await post_result(client, runtime, event, "1x2", **HOME)
    await settle_from_outbox(runtime, event["id"])
    assert (await client.get("/api/wallet", headers=headers)).json()["balance"] == "460.00"

    # The trader finds the result was wrong: away won, with a dead heat (half the win).
    away = ("won", {"dead_heat_factor": "0.5"})
    await post_result(client, runtime, event, "1x2", home="lost", draw="lost", away=away)
    await settle_from_outbox(runtime, event["id"])

    body = (await client.get(f"/api/bets/{bet['id']}", headers=headers)).json()
    assert (body["status"], body["returned"], body["payout"]) == ("won", "65.00", "65.00")
    assert body["legs"][0]["result"] == "won" and body["legs"][0]["dead_heat_factor"] == "0.5000"
    assert _history(body) == [("open", None), ("lost", None), ("won", "resettled")]
    listed = (await client.get("/api/bets", headers=headers)).json()["items"]
    assert [(b["id"], b["status"], b["payout"]) for b in listed] == [(bet["id"], "won", "65.00")]
    wallet = (await client.get("/api/wallet", headers=headers)).json()
    assert (wallet["balance"], wallet["available"]) == ("525.00", "525.00")
    statement = (await client.get("/api/wallet/transactions", headers=headers)).json()["items"]
    assert [(t["type"], t["amount"]) for t in statement[:2]] == [
        ("bet.resettle", "65.00"),
        ("bet.stake", "-40.00"),
    ]
    assert (await check(runtime.db)).sound


async def test_a_bet_whose_payout_does_not_add_up_is_not_resettled(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    """Money moves only from a settlement the books can reproduce; otherwise the consumer fails
    (and retries, logged) instead of guessing."""
    event, bet, user, _ = await _single(client, runtime)
    await _result(client, runtime, event, HOME)
    async with runtime.db.transaction() as conn:
        await conn.execute(sa.update(bets).where(bets.c.id == bet["id"]).values(payout=209_00))
    await post_result(client, runtime, event, "1x2", **DRAW)
    with pytest.raises(SettlementMismatch):
        await settlement_consumer(runtime).handle((await result_events(runtime, event["id"]))[-1])
    assert [t for t, _ in await bet_transfers(runtime, bet["id"])] == ["bet.stake", "bet.settle"]
    assert (await balance(runtime, user)).balance == 900_00 + 210_00
    async with runtime.db.transaction() as conn:  # put it back for the books' sake
        await conn.execute(sa.update(bets).where(bets.c.id == bet["id"]).values(payout=210_00))
    await settle_from_outbox(runtime, event["id"])
    assert (await balance(runtime, user)).balance == 900_00
