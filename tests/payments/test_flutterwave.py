"""Flutterwave end to end: hosted and Ghana mobile money deposits, webhooks, transfers."""

from __future__ import annotations

import orjson

from letsbet.payments.flutterwave.wire import signature
from letsbet.payments.simulators import SIM_FLW_SECRET_HASH
from tests.payments.conftest import Stack
from tests.payments.helpers import (
    Player,
    assert_ledger_sound,
    deposit,
    fund,
    get_payment,
    player,
    reconciled,
    settled,
    verify_kyc,
    wallet,
    withdraw,
)

WEBHOOK = "/api/payments/flutterwave/webhook"


async def test_nigeria_hosted_payment_credits_after_verification(payments: Stack) -> None:
    user = await player(payments.http, "NG")
    response = await deposit(payments.http, user, "5000")
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["provider"] == "flutterwave" and body["status"] == "pending"
    assert body["checkout_url"].startswith(payments.flutterwave.url + "/pay/")
    assert body["provider_reference"] == f"lb-{body['id'].replace('-', '')}"
    done = await settled(payments.http, user, body["id"])
    assert (done["status"], done["tax"]) == ("succeeded", "0.00")
    assert done["receipt"].startswith("FLW-MOCK-")
    assert (await wallet(payments.http, user))["balance"] == "5000.00"
    await assert_ledger_sound(payments.runtime)


async def test_ghana_mobile_money_with_the_flat_sandbox_webhook(payments: Stack) -> None:
    payments.flw_state.switches.flat_webhooks = True
    payments.flw_state.switches.duplicates = 3
    user = await player(payments.http, "GH")
    missing = await deposit(payments.http, user, "50")
    assert missing.status_code == 422
    assert missing.json()["error"]["code"] == "invalid_payment_destination"
    response = await deposit(payments.http, user, "50", network="MTN")
    assert response.status_code == 201, response.text
    done = await settled(payments.http, user, response.json()["id"])
    assert done["status"] == "succeeded"
    await payments.flw_state.deliverer.idle()
    assert (await wallet(payments.http, user))["balance"] == "50.00"


async def test_a_failed_charge_credits_nothing(payments: Stack) -> None:
    user = await player(payments.http, "NG", ending="0001")
    response = await deposit(payments.http, user, "1000")
    done = await settled(payments.http, user, response.json()["id"])
    assert (done["status"], done["reason"]) == ("failed", "provider_failed")
    assert (await wallet(payments.http, user))["balance"] == "0.00"


async def test_a_missing_webhook_is_settled_by_verify_by_reference(payments: Stack) -> None:
    user = await player(payments.http, "NG", ending="0500")
    body = (await deposit(payments.http, user, "1000")).json()
    assert (await get_payment(payments.http, user, body["id"]))["status"] == "pending"
    done = await reconciled(payments, user, body["id"])
    assert done["status"] == "succeeded"
    assert (await wallet(payments.http, user))["balance"] == "1000.00"


def _hook(tx_id: int, tx_ref: str) -> bytes:
    data = {
        "id": tx_id,
        "tx_ref": tx_ref,
        "status": "successful",
        "amount": 1000,
        "currency": "NGN",
    }
    return orjson.dumps({"event": "charge.completed", "data": data})


async def test_forged_webhooks_are_rejected_and_payloads_never_trusted(payments: Stack) -> None:
    user = await player(payments.http, "NG", ending="0501")  # the charge stays pending
    body = (await deposit(payments.http, user, "1000")).json()
    tx_id = next(
        t["id"]
        for t in payments.flw_state.transactions.values()
        if t["tx_ref"] == body["provider_reference"]
    )
    raw = _hook(tx_id, body["provider_reference"])
    wrong_hash = await payments.http.post(WEBHOOK, content=raw, headers={"verif-hash": "guess"})
    assert wrong_hash.status_code == 401
    assert wrong_hash.json()["error"]["code"] == "invalid_signature"
    no_hash = await payments.http.post(WEBHOOK, content=raw)
    assert no_hash.status_code == 401
    bad_signature = await payments.http.post(
        WEBHOOK,
        content=raw,
        headers={"verif-hash": SIM_FLW_SECRET_HASH, "flutterwave-signature": "AAAA"},
    )
    assert bad_signature.status_code == 401
    # Correctly signed, but the payload lies: Flutterwave's own record says pending.
    lie = await payments.http.post(
        WEBHOOK,
        content=raw,
        headers={
            "verif-hash": SIM_FLW_SECRET_HASH,
            "flutterwave-signature": signature(raw, SIM_FLW_SECRET_HASH),
        },
    )
    assert lie.status_code == 200 and lie.json()["outcome"] == "ignored"
    assert (await get_payment(payments.http, user, body["id"]))["status"] == "pending"
    assert (await wallet(payments.http, user))["balance"] == "0.00"


async def _funded(payments: Stack, country: str, currency: str, minor: int) -> Player:
    user = await player(payments.http, country)
    await verify_kyc(payments.http, payments.runtime, user)
    await fund(payments.runtime, user, country, currency, minor)
    return user


async def test_nigeria_transfer_succeeds(payments: Stack) -> None:
    user = await _funded(payments, "NG", "NGN", 20_000_00)
    missing = await withdraw(payments.http, user, "10000")
    assert missing.status_code == 422
    response = await withdraw(
        payments.http, user, "10000", account_bank="044", account_number="0690000040"
    )
    assert response.status_code == 201, response.text
    done = await settled(payments.http, user, response.json()["id"])
    assert (done["status"], done["net"]) == ("succeeded", "10000.00")
    money = await wallet(payments.http, user)
    assert (money["balance"], money["held"]) == ("10000.00", "0.00")
    await assert_ledger_sound(payments.runtime)


async def test_failed_transfer_returns_the_money(payments: Stack) -> None:
    user = await _funded(payments, "GH", "GHS", 500_00)
    response = await withdraw(
        payments.http, user, "200", account_bank="MTN", account_number="233240000001"
    )
    done = await settled(payments.http, user, response.json()["id"])
    assert done["status"] == "failed"
    assert (await wallet(payments.http, user))["available"] == "500.00"


async def test_transfer_timeout_is_resolved_by_reference_not_resent(payments: Stack) -> None:
    for account in ("0690000504", "0690000500"):  # the answer stalls / is a 500
        user = await _funded(payments, "NG", "NGN", 5_000_00)
        response = await withdraw(
            payments.http, user, "2000", account_bank="058", account_number=account
        )
        assert response.status_code == 201, response.text
        body = response.json()
        # Found by its reference after the failed create (and maybe settled by its webhook).
        assert body["status"] in ("pending", "succeeded")
        done = await settled(payments.http, user, body["id"])
        assert done["status"] == "succeeded"
        same = [
            t
            for t in payments.flw_state.transfers.values()
            if t["reference"] == body["provider_reference"]
        ]
        assert len(same) == 1
        assert (await wallet(payments.http, user))["balance"] == "3000.00"
    await assert_ledger_sound(payments.runtime)
