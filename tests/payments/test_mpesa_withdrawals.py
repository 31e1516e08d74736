"""M-Pesa B2C withdrawals end to end: hold, B2C to the simulator, Result callback, post or void."""

from __future__ import annotations

import asyncio

import sqlalchemy as sa

from letsbet.ledger.tables import ledger_holds
from tests.payments.conftest import Stack
from tests.payments.helpers import (
    Player,
    assert_ledger_sound,
    fund,
    get_payment,
    player,
    settled,
    verify_kyc,
    wallet,
    withdraw,
)


async def _funded(payments: Stack, minor: int, *, ending: str | None = None) -> Player:
    user = await player(payments.http, ending=ending)
    await verify_kyc(payments.http, payments.runtime, user)
    await fund(payments.runtime, user, "KE", "KES", minor)
    return user


async def test_withdrawal_requires_kyc(payments: Stack) -> None:
    user = await player(payments.http)
    await fund(payments.runtime, user, "KE", "KES", 1000_00)
    response = await withdraw(payments.http, user, "500")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "kyc_required"


async def test_successful_withdrawal_pays_net_of_withholding(payments: Stack) -> None:
    user = await _funded(payments, 1000_00)
    response = await withdraw(payments.http, user, "1000")
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["amount"], body["tax"], body["net"]) == ("1000.00", "50.00", "950.00")
    assert body["status"] == "pending"
    assert (await wallet(payments.http, user))["available"] == "0.00"  # held at once

    done = await settled(payments.http, user, body["id"])
    assert (done["status"], done["reason"]) == ("succeeded", "ok")
    assert done["receipt"]
    sent = payments.mpesa_state.b2c[body["provider_reference"]]
    assert (sent["amount"], sent["code"]) == (950, 0)  # whole shillings, credential valid
    money = await wallet(payments.http, user)
    assert (money["balance"], money["held"]) == ("0.00", "0.00")
    await assert_ledger_sound(payments.runtime)


async def test_withholding_never_sends_cents_to_mpesa(payments: Stack) -> None:
    user = await _funded(payments, 1010_00)
    body = (await withdraw(payments.http, user, "1010")).json()
    # 5% of 1010 leaves 959.50 to send; M-Pesa sends whole shillings, so 959 goes out and the
    # tax is on what actually leaves the wallet (1009.47); the 0.53 stays with the player.
    assert (body["amount"], body["tax"], body["net"]) == ("1009.47", "50.47", "959.00")
    await settled(payments.http, user, body["id"])
    assert (await wallet(payments.http, user))["balance"] == "0.53"


async def test_failed_and_timed_out_withdrawals_return_the_money(payments: Stack) -> None:
    for ending, status, reason in (
        ("2040", "failed", "recipient_not_supported"),
        ("0503", "timed_out", "queue_timeout"),
    ):
        user = await _funded(payments, 500_00, ending=ending)
        body = (await withdraw(payments.http, user, "500")).json()
        done = await settled(payments.http, user, body["id"])
        assert (done["status"], done["reason"]) == (status, reason)
        money = await wallet(payments.http, user)
        assert (money["balance"], money["held"], money["available"]) == (
            "500.00",
            "0.00",
            "500.00",
        )
    await assert_ledger_sound(payments.runtime)


async def test_duplicate_results_post_the_hold_once(payments: Stack) -> None:
    payments.mpesa_state.switches.duplicates = 5
    user = await _funded(payments, 800_00)
    body = (await withdraw(payments.http, user, "800")).json()
    await settled(payments.http, user, body["id"])
    await payments.mpesa_state.deliverer.idle()
    assert (await wallet(payments.http, user))["balance"] == "0.00"
    async with payments.runtime.db.connect() as conn:
        statuses = (
            (
                await conn.execute(
                    sa.select(ledger_holds.c.status).where(
                        ledger_holds.c.reference == body["provider_reference"]
                    )
                )
            )
            .scalars()
            .all()
        )
    assert statuses == ["posted"]
    await assert_ledger_sound(payments.runtime)


async def test_a_forged_result_is_rejected(payments: Stack) -> None:
    user = await _funded(payments, 300_00, ending="0500")  # no real result will come
    body = (await withdraw(payments.http, user, "300")).json()
    forged = {"Result": {"ResultCode": 0, "OriginatorConversationID": body["provider_reference"]}}
    for kind in ("result", "timeout"):
        response = await payments.http.post(
            f"/api/payments/mpesa/b2c/{body['id']}/guessed-token/{kind}", json=forged
        )
        assert response.status_code == 403
    assert (await get_payment(payments.http, user, body["id"]))["status"] == "pending"
    assert (await wallet(payments.http, user))["held"] == "300.00"


async def test_insufficient_balance_is_refused_without_a_payment(payments: Stack) -> None:
    user = await _funded(payments, 100_00)
    response = await withdraw(payments.http, user, "200")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "insufficient_funds"
    history = await payments.http.get("/api/payments", headers=user.headers)
    assert history.json()["items"] == []


async def test_concurrent_withdrawals_never_exceed_the_balance(payments: Stack) -> None:
    user = await _funded(payments, 1000_00)
    responses = await asyncio.gather(*(withdraw(payments.http, user, "300") for _ in range(6)))
    codes = sorted(r.status_code for r in responses)
    assert codes == [201, 201, 201, 409, 409, 409], [r.text for r in responses]
    for r in responses:
        if r.status_code == 201:
            await settled(payments.http, user, r.json()["id"])
    money = await wallet(payments.http, user)
    assert (money["balance"], money["held"]) == ("100.00", "0.00")
    await assert_ledger_sound(payments.runtime)
