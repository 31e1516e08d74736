"""M-Pesa deposits end to end: STK Push to the simulator, its callback over HTTP, the ledger."""

from __future__ import annotations

import pytest

from tests.payments.conftest import Stack
from tests.payments.helpers import (
    assert_ledger_sound,
    deposit,
    player,
    settled,
    wallet,
)


async def test_successful_deposit_credits_net_of_excise(payments: Stack) -> None:
    user = await player(payments.http)
    response = await deposit(payments.http, user, "1000")
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "pending"
    assert body["provider"] == "mpesa"
    assert (body["amount"], body["tax"], body["net"]) == ("1000.00", "50.00", "950.00")
    assert body["provider_reference"].startswith("ws_CO_")

    done = await settled(payments.http, user, body["id"])
    assert done["status"] == "succeeded"
    assert done["reason"] == "ok"
    assert done["receipt"] and len(done["receipt"]) == 10
    assert (await wallet(payments.http, user))["balance"] == "950.00"
    await assert_ledger_sound(payments.runtime)


@pytest.mark.parametrize(
    ("ending", "status", "reason", "code"),
    [
        ("1032", "failed", "cancelled", "1032"),
        ("0001", "failed", "insufficient_funds", "1"),
        ("2001", "failed", "wrong_pin", "2001"),
        ("1037", "timed_out", "unreachable", "1037"),
        ("1001", "failed", "provider_error", "1001"),
    ],
)
async def test_unsuccessful_deposits_credit_nothing(
    payments: Stack, ending: str, status: str, reason: str, code: str
) -> None:
    user = await player(payments.http, ending=ending)
    response = await deposit(payments.http, user, "200")
    assert response.status_code == 201, response.text
    done = await settled(payments.http, user, response.json()["id"])
    assert (done["status"], done["reason"], done["result_code"]) == (status, reason, code)
    assert done["receipt"] is None
    assert (await wallet(payments.http, user))["balance"] == "0.00"
