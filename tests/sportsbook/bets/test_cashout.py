"""Cash-out: quotes priced from the server's odds, accepting within the TTL, re-validation,
early settlement through the ledger, and no second payout when the markets are resulted."""

from __future__ import annotations

import asyncio
import math
import uuid
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from letsbet.ledger.reconcile import check
from letsbet.platform.runtime import Runtime
from letsbet.sportsbook.bets import cashout, settlement
from letsbet.sportsbook.bets.live import process_due
from tests.sportsbook.bets.helpers import balance, bet_body, funded_player, post, settle_from_outbox
from tests.sportsbook.catalogue.helpers import admin_headers, create_event, market_id, outcome_ids

Headers = dict[str, str]


# -- pricing, pure ----------------------------------------------------------------------------
def _bet(**overrides: Any) -> Any:
    values = {"status": "open", "bet_type": "single", "total_stake": 100_00, "max_payout": None}
    return SimpleNamespace(**{**values, **overrides})


def _leg(n: int, odds: int, result: str | None = None, void: str | None = None) -> Any:
    return SimpleNamespace(
        leg_no=n,
        outcome_id=100 + n,
        odds_milli=odds,
        result=result,
        void_factor=None if void is None else Fraction(void),
        dead_heat_factor=None,
    )


def _row(odds: int, market: str = "open", event: str = "scheduled", active: bool = True) -> Any:
    return SimpleNamespace(odds_milli=odds, market_status=market, event_status=event, active=active)


def _reason(call: Any) -> str:
    with pytest.raises(cashout.CashOutUnavailable) as caught:
        call()
    return str(caught.value.details["reason"])


def test_price_is_fair_value_less_the_margin() -> None:
    amount, legs = cashout.price(_bet(), [_leg(0, 2100)], {100: _row(1500)})
    assert amount == math.floor(100_00 * Fraction(2100, 1500) * (1 - cashout.CASH_OUT_MARGIN))
    assert legs == [cashout.QuoteLeg(0, 2100, 1500, settled=False)]


def test_price_of_a_multi_counts_settled_legs_by_their_result() -> None:
    legs = [_leg(0, 2000, "won"), _leg(1, 3000, "lost", void="0.5"), _leg(2, 1800)]
    amount, quoted = cashout.price(_bet(bet_type="multi"), legs, {102: _row(1800)})
    # won leg x2, half-lost leg x0.5, unmoved leg x1, less 5%
    assert amount == 95_00
    assert [leg.settled for leg in quoted] == [True, True, False]


def test_price_refuses_what_cannot_be_cashed_out() -> None:
    single = [_leg(0, 2100)]
    rows = {100: _row(2100)}
    assert _reason(lambda: cashout.price(_bet(status="pending"), single, rows)) == "bet_pending"
    assert _reason(lambda: cashout.price(_bet(status="won"), single, rows)) == "bet_not_open"
    assert _reason(lambda: cashout.price(_bet(bet_type="system"), single, rows)) == "system_bet"
    lost = [_leg(0, 2100, "lost"), _leg(1, 2100)]
    assert _reason(lambda: cashout.price(_bet(bet_type="multi"), lost, {101: _row(2100)})) == (
        "leg_lost"
    )
    for row, reason in [
        (_row(2100, market="suspended"), "market_suspended"),
        (_row(2100, event="suspended"), "market_suspended"),
        (_row(2100, market="settled"), "market_closed"),
        (_row(2100, event="ended"), "market_closed"),
        (_row(2100, active=False), "market_closed"),
    ]:
        assert _reason(lambda row=row: cashout.price(_bet(), single, {100: row})) == reason
    assert _reason(lambda: cashout.price(_bet(), single, {})) == "market_closed"
    assert _reason(lambda: cashout.price(_bet(total_stake=1), single, rows)) == "no_value"


# -- through the API --------------------------------------------------------------------------
async def _single(
    client: httpx.AsyncClient, runtime: Runtime, stake: str = "100.00"
) -> tuple[dict[str, Any], dict[str, Any], uuid.UUID, Headers]:
    event = await create_event(client, runtime)
    user, headers = await funded_player(runtime, 1_000_00)
    response = await post(
        client, bet_body([(outcome_ids(event, "1x2")["home"], "2.10")], stake=stake), headers
    )
    assert response.status_code == 201, response.text
    return event, response.json(), user, headers


async def _move(
    client: httpx.AsyncClient, runtime: Runtime, event: dict[str, Any], key: str, odds: str
) -> None:
    response = await client.patch(
        f"/api/admin/events/{event['id']}/odds",
        json={"outcomes": [{"outcome_id": outcome_ids(event, "1x2")[key], "odds": odds}]},
        headers=admin_headers(runtime),
    )
    assert response.status_code == 200, response.text


async def _result_1x2(
    client: httpx.AsyncClient, runtime: Runtime, event: dict[str, Any], winner: str
) -> None:
    ids = outcome_ids(event, "1x2")
    outcomes = [
        {"outcome_id": ids[key], "result": "won" if key == winner else "lost"} for key in ids
    ]
    response = await client.post(
        f"/api/admin/events/{event['id']}/result",
        json={"markets": [{"market_id": market_id(event, "1x2"), "outcomes": outcomes}]},
        headers=admin_headers(runtime),
    )
    assert response.status_code == 200, response.text
    await settle_from_outbox(runtime, event["id"])


async def _quote(client: httpx.AsyncClient, bet: dict[str, Any], headers: Headers) -> Any:
    return await client.get(f"/api/bets/{bet['id']}/cash-out", headers=headers)


async def _accept(
    client: httpx.AsyncClient, bet: dict[str, Any], quote_id: str, headers: Headers
) -> httpx.Response:
    return await client.post(
        f"/api/bets/{bet['id']}/cash-out", json={"quote_id": quote_id}, headers=headers
    )


def _error(response: httpx.Response, status: int = 409) -> dict[str, Any]:
    assert response.status_code == status, response.text
    return dict(response.json()["error"])


async def test_quote_follows_the_odds(client: httpx.AsyncClient, runtime: Runtime) -> None:
    event, bet, _, headers = await _single(client, runtime)
    response = await _quote(client, bet, headers)
    assert response.status_code == 200, response.text
    quote = response.json()
    assert (quote["amount"], quote["currency"]) == ("95.00", "KES")  # 100 x 2.10/2.10 x 0.95
    assert quote["legs"] == [
        {"leg_no": 0, "placed_odds": "2.10", "current_odds": "2.10", "settled": False}
    ]
    expires_at = datetime.fromisoformat(quote["expires_at"])
    assert 0 < (expires_at - datetime.now(UTC)).total_seconds() <= cashout.QUOTE_TTL_SECONDS
    assert await runtime.redis.ttl(f"cashout:{quote['quote_id']}") > 0

    await _move(client, runtime, event, "home", "1.50")  # the home side is now likelier to win
    moved = (await _quote(client, bet, headers)).json()
    assert moved["amount"] == "133.00"  # floor(100 x 2.10 / 1.50 x 0.95)
    assert moved["legs"][0]["current_odds"] == "1.50" and moved["quote_id"] != quote["quote_id"]


async def test_accepting_pays_the_quote_once(client: httpx.AsyncClient, runtime: Runtime) -> None:
    event, bet, user, headers = await _single(client, runtime)
    await _move(client, runtime, event, "home", "1.50")
    quote = (await _quote(client, bet, headers)).json()
    before = (await balance(runtime, user)).balance

    response = await _accept(client, bet, quote["quote_id"], headers)
    assert response.status_code == 200, response.text
    done = response.json()
    assert (done["status"], done["returned"], done["winnings_tax"], done["payout"]) == (
        "cashed_out",
        "133.00",
        "0.00",  # Kenya taxes withdrawals, not winnings, since the Finance Act 2025
        "133.00",
    )
    assert done["settled_at"] is not None and not done["replayed"]
    assert [h["status"] for h in done["history"]] == ["open", "cashed_out"]
    assert (await balance(runtime, user)).balance == before + 133_00
    assert await runtime.redis.exists(f"cashout:{quote['quote_id']}") == 0

    again = await _accept(client, bet, quote["quote_id"], headers)  # a retry after a lost reply
    assert again.status_code == 200, again.text
    assert again.json()["replayed"] and again.json()["payout"] == "133.00"
    assert (await balance(runtime, user)).balance == before + 133_00
    assert _error(await _quote(client, bet, headers))["details"]["reason"] == "bet_not_open"
    assert (await check(runtime.db)).sound


async def test_concurrent_accepts_pay_once(client: httpx.AsyncClient, runtime: Runtime) -> None:
    _, bet, user, headers = await _single(client, runtime)
    quote = (await _quote(client, bet, headers)).json()
    responses = await asyncio.gather(
        *(_accept(client, bet, quote["quote_id"], headers) for _ in range(5))
    )
    assert [r.status_code for r in responses] == [200] * 5
    assert sorted(r.json()["replayed"] for r in responses) == [False] + [True] * 4
    assert (await balance(runtime, user)).balance == 1_000_00 - 100_00 + 95_00
    assert (await check(runtime.db)).sound


async def test_unknown_and_expired_quotes(client: httpx.AsyncClient, runtime: Runtime) -> None:
    _, bet, user, headers = await _single(client, runtime)
    assert _error(await _accept(client, bet, uuid.uuid4().hex, headers))["code"] == (
        "cash_out_quote_expired"
    )
    quote = (await _quote(client, bet, headers)).json()
    await runtime.redis.pexpire(f"cashout:{quote['quote_id']}", 1)  # as if TTL seconds passed
    await asyncio.sleep(0.05)
    assert _error(await _accept(client, bet, quote["quote_id"], headers))["code"] == (
        "cash_out_quote_expired"
    )
    # A quote is good only for the bet it was given for.
    _, other, _, other_headers = await _single(client, runtime)
    foreign = (await _quote(client, other, other_headers)).json()
    assert _error(await _accept(client, bet, foreign["quote_id"], headers))["code"] == (
        "cash_out_quote_expired"
    )
    assert (await balance(runtime, user)).balance == 900_00
    detail = await client.get(f"/api/bets/{bet['id']}", headers=headers)
    assert detail.json()["status"] == "open"


async def test_odds_moving_before_accepting_changes_the_quote(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    event, bet, user, headers = await _single(client, runtime)
    quote = (await _quote(client, bet, headers)).json()
    await _move(client, runtime, event, "home", "3.00")
    error = _error(await _accept(client, bet, quote["quote_id"], headers))
    assert error["code"] == "cash_out_quote_changed"
    assert error["details"] == {"amount": "66.50", "quoted": "95.00"}  # 100 x 2.10/3.00 x 0.95
    assert (await balance(runtime, user)).balance == 900_00
    fresh = (await _quote(client, bet, headers)).json()
    assert (await _accept(client, bet, fresh["quote_id"], headers)).status_code == 200
    assert (await balance(runtime, user)).balance == 900_00 + 66_50


async def test_multi_with_a_won_leg_and_with_a_lost_leg(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    events = [await create_event(client, runtime) for _ in range(3)]
    _, headers = await funded_player(runtime, 1_000_00)
    home = [(outcome_ids(e, "1x2")["home"], "2.10") for e in events]
    winning = (await post(client, bet_body(home[:2]), headers)).json()
    losing = (await post(client, bet_body(home[1:]), headers)).json()

    await _result_1x2(client, runtime, events[0], "home")
    quote = (await _quote(client, winning, headers)).json()
    assert quote["amount"] == "199.50"  # 100 x 2.10 (won) x 2.10/2.10 x 0.95
    assert [(leg["current_odds"], leg["settled"]) for leg in quote["legs"]] == [
        (None, True),
        ("2.10", False),
    ]

    await _result_1x2(client, runtime, events[2], "away")  # the other leg is still to play
    error = _error(await _quote(client, losing, headers))
    assert (error["code"], error["details"]["reason"]) == ("cash_out_unavailable", "leg_lost")


async def test_unavailable_for_systems_suspended_markets_and_pending_live_bets(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    admin = admin_headers(runtime)
    events = [await create_event(client, runtime) for _ in range(3)]
    _, headers = await funded_player(runtime, 1_000_00)
    home = [(outcome_ids(e, "1x2")["home"], "2.10") for e in events]

    system = await post(
        client, bet_body(home, stake="10.00", bet_type="system", system="2/3"), headers
    )
    assert system.status_code == 201, system.text
    assert _error(await _quote(client, system.json(), headers))["details"]["reason"] == (
        "system_bet"
    )

    single = (await post(client, bet_body(home[:1]), headers)).json()
    suspend = f"/api/admin/markets/{market_id(events[0], '1x2')}/suspend"
    assert (await client.post(suspend, headers=admin)).status_code in (200, 204)
    assert _error(await _quote(client, single, headers))["details"]["reason"] == (
        "market_suspended"
    )

    live = await client.patch(
        f"/api/admin/events/{events[1]['id']}", json={"status": "live"}, headers=admin
    )
    assert live.status_code == 200, live.text
    pending = (await post(client, bet_body(home[1:2]), headers)).json()
    assert pending["status"] == "pending"
    assert _error(await _quote(client, pending, headers))["details"]["reason"] == "bet_pending"
    # Decide it now: a bet left pending would be picked up by other tests' live-delay runs.
    assert await process_due(runtime.db, now=datetime.now(UTC) + timedelta(minutes=1)) == 1


async def test_another_players_bet_is_not_found(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    _, bet, user, headers = await _single(client, runtime)
    quote = (await _quote(client, bet, headers)).json()
    _, intruder = await funded_player(runtime)
    assert _error(await _quote(client, bet, intruder), 404)["code"] == "bet_not_found"
    assert _error(await _accept(client, bet, quote["quote_id"], intruder), 404)["code"] == (
        "bet_not_found"
    )
    missing = {"id": str(uuid.uuid4())}
    assert _error(await _quote(client, missing, headers), 404)["code"] == "bet_not_found"
    assert (await balance(runtime, user)).balance == 900_00


async def test_resulting_after_cash_out_pays_nothing_more(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    event, bet, user, headers = await _single(client, runtime)
    quote = (await _quote(client, bet, headers)).json()
    assert (await _accept(client, bet, quote["quote_id"], headers)).status_code == 200
    after_cash_out = (await balance(runtime, user)).balance
    assert after_cash_out == 900_00 + 95_00

    await _result_1x2(client, runtime, event, "home")  # the bet would have won 210.00
    async with runtime.db.transaction() as conn:
        assert await settlement.settle_bet(conn, uuid.UUID(bet["id"])) is False
    detail = (await client.get(f"/api/bets/{bet['id']}", headers=headers)).json()
    assert (detail["status"], detail["payout"]) == ("cashed_out", "95.00")
    assert detail["legs"][0]["result"] == "won"
    assert (await balance(runtime, user)).balance == after_cash_out
    assert (await check(runtime.db)).sound
