"""M-Pesa deposits end to end: STK Push to the simulator, its callback over HTTP, the ledger."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from letsbet.ledger.tables import ledger_transfers
from letsbet.payments.reconcile import reconcile_loop, reconcile_once
from letsbet.payments.simulators.common import random_code
from letsbet.payments.simulators.mpesa import StkRecord, stk_callback
from letsbet.platform.bus.tables import outbox
from tests.payments.conftest import Stack
from tests.payments.helpers import (
    Player,
    assert_ledger_sound,
    deposit,
    get_payment,
    player,
    reconciled,
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
    assert await _events_of(payments, body["id"]) == [
        "payments.deposit.requested",
        "payments.deposit.pending",
        "payments.deposit.succeeded",
    ]
    await assert_ledger_sound(payments.runtime)


async def _events_of(payments: Stack, payment_id: str) -> list[str]:
    async with payments.runtime.db.connect() as conn:
        rows = await conn.execute(
            sa.select(outbox.c.subject)
            .where(outbox.c.payload["data"]["payment_id"].astext == payment_id)
            .order_by(outbox.c.seq)
        )
    return [row.subject for row in rows]


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


async def _credits_of(payments: Stack, payment_id: str) -> int:
    async with payments.runtime.db.connect() as conn:
        count = await conn.scalar(
            sa.select(sa.func.count())
            .select_from(ledger_transfers)
            .where(ledger_transfers.c.idempotency_key == f"payment:{payment_id}:credit")
        )
    return int(count or 0)


async def test_the_same_callback_five_times_credits_once(payments: Stack) -> None:
    payments.mpesa_state.switches.duplicates = 5
    user = await player(payments.http)
    response = await deposit(payments.http, user, "500")
    done = await settled(payments.http, user, response.json()["id"])
    assert done["status"] == "succeeded"
    await payments.mpesa_state.deliverer.idle()
    url = payments.mpesa_state.stk[done["provider_reference"]].callback_url
    answers = [
        status for target, status in payments.mpesa_state.deliverer.delivered if target == url
    ]
    assert answers == [200] * 5  # duplicates are acknowledged, not refused
    assert (await wallet(payments.http, user))["balance"] == "475.00"
    assert await _credits_of(payments, done["id"]) == 1
    await assert_ledger_sound(payments.runtime)


async def test_callback_before_the_push_answer_is_credited_once(payments: Stack) -> None:
    payments.mpesa_state.switches.callback_first = True
    user = await player(payments.http)
    response = await deposit(payments.http, user, "300")
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "succeeded"  # settled while the push was still being answered
    assert body["provider_reference"].startswith("ws_CO_")
    assert (await wallet(payments.http, user))["balance"] == "285.00"


async def test_lost_callback_is_settled_by_reconciliation(payments: Stack) -> None:
    payments.mpesa_state.switches.pending_queries = 2
    user = await player(payments.http, ending="0500")
    response = await deposit(payments.http, user, "400")
    payment_id = response.json()["id"]

    done = await reconciled(payments, user, payment_id)  # two "still processing" first
    assert payments.mpesa_state.stk[done["provider_reference"]].pending_queries == 0
    assert (done["status"], done["reason"]) == ("succeeded", "ok")
    assert (await wallet(payments.http, user))["balance"] == "380.00"
    await assert_ledger_sound(payments.runtime)


async def test_the_payments_role_loop_reconciles(payments: Stack) -> None:
    user = await player(payments.http, ending="0500")
    payment_id = (await deposit(payments.http, user, "600")).json()["id"]
    stop = asyncio.Event()
    loop = asyncio.create_task(reconcile_loop(payments.runtime.db, payments.gateway, stop))
    try:
        done = await settled(payments.http, user, payment_id)
    finally:
        stop.set()
        await asyncio.wait_for(loop, timeout=5)
    assert done["status"] == "succeeded"
    assert (await wallet(payments.http, user))["balance"] == "570.00"


async def test_a_deposit_that_never_completes_times_out(payments: Stack) -> None:
    user = await player(payments.http, ending="0501")
    response = await deposit(payments.http, user, "400")
    payment_id = response.json()["id"]
    await reconcile_once(payments.runtime.db, payments.gateway)
    assert (await get_payment(payments.http, user, payment_id))["status"] == "pending"
    later = datetime.now(UTC) + timedelta(hours=2)
    await reconcile_once(payments.runtime.db, payments.gateway, now=later)
    done = await get_payment(payments.http, user, payment_id)
    assert (done["status"], done["reason"]) == ("timed_out", "no_result")
    assert (await wallet(payments.http, user))["balance"] == "0.00"


async def test_an_expired_access_token_is_refreshed_once(payments: Stack) -> None:
    user = await player(payments.http)
    await deposit(payments.http, user, "100")  # a token is cached now
    payments.mpesa_state.switches.expire_tokens = True
    response = await deposit(payments.http, user, "100")
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "pending"


# -- forged callbacks -----------------------------------------------------------------------------
async def _pending_deposit(payments: Stack) -> tuple[Player, dict[str, Any], str]:
    """A deposit whose real callback never comes (phone ...0501), and its real callback URL."""
    user = await player(payments.http, ending="0501")
    response = await deposit(payments.http, user, "250")
    body = response.json()
    url = payments.mpesa_state.stk[body["provider_reference"]].callback_url
    return user, body, url.removeprefix(payments.api.url)


def _success(
    body: dict[str, Any], phone: str, *, receipt: str | None = None, **changes: Any
) -> dict[str, Any]:
    record = StkRecord(
        merchant_id="29115-34620561-1",
        checkout_id=body["provider_reference"],
        phone=phone.removeprefix("+"),
        amount=250,
        result_code=0,
        receipt=random_code(10),
        callback_url="",
        lost_callback=False,
    )
    changes.setdefault("receipt", receipt or random_code(10))
    for key, value in changes.items():
        setattr(record, key, value)
    return stk_callback(record)


async def test_forged_stk_callbacks_are_rejected_without_credit(payments: Stack) -> None:
    user, body, path = await _pending_deposit(payments)
    payment_id = body["id"]
    forged = [
        (f"/api/payments/mpesa/stk/{payment_id}/not-the-token", _success(body, user.phone)),
        (f"/api/payments/mpesa/stk/{uuid.uuid4()}/not-the-token", _success(body, user.phone)),
        (path, _success(body, user.phone, checkout_id="ws_CO_000000000000000000")),
        (path, _success(body, user.phone, amount=2500)),
        (path, _success(body, "254700000000")),
    ]
    for url, callback in forged:
        response = await payments.http.post(url, json=callback)
        assert response.status_code == 403, (url, response.text)
        assert response.json()["error"]["code"] == "callback_rejected"
    garbage = await payments.http.post(path, content=b"{not json")
    assert garbage.status_code == 400
    assert garbage.json()["error"]["code"] == "invalid_callback"
    assert (await get_payment(payments.http, user, payment_id))["status"] == "pending"
    assert (await wallet(payments.http, user))["balance"] == "0.00"

    # The genuine callback still works afterwards, once.
    genuine_body = _success(body, user.phone)
    for _ in range(2):
        genuine = await payments.http.post(path, json=genuine_body)
        assert genuine.status_code == 200
        assert genuine.json() == {"ResultCode": 0, "ResultDesc": "Accepted"}
    assert (await wallet(payments.http, user))["balance"] == "237.50"


async def test_a_receipt_cannot_credit_two_deposits(payments: Stack) -> None:
    first_user, first, first_path = await _pending_deposit(payments)
    second_user, second, second_path = await _pending_deposit(payments)
    receipt = random_code(10)
    ok = await payments.http.post(
        first_path, json=_success(first, first_user.phone, receipt=receipt)
    )
    assert ok.status_code == 200
    replayed = await payments.http.post(
        second_path, json=_success(second, second_user.phone, receipt=receipt)
    )
    assert replayed.status_code == 409
    assert (await wallet(payments.http, second_user))["balance"] == "0.00"


async def test_callbacks_from_outside_the_allowlist_are_refused(payments: Stack) -> None:
    user, body, path = await _pending_deposit(payments)
    settings = payments.runtime.settings
    payments.runtime.settings = settings.model_copy(
        update={"mpesa_callback_allowed_ips": ["196.201.214.0/24"]}
    )
    try:
        response = await payments.http.post(path, json=_success(body, user.phone))
    finally:
        payments.runtime.settings = settings
    assert response.status_code == 403
    assert (await wallet(payments.http, user))["balance"] == "0.00"


# -- requests -----------------------------------------------------------------------------------
async def test_a_repeated_key_replays_and_a_changed_request_conflicts(payments: Stack) -> None:
    user = await player(payments.http)
    first = await deposit(payments.http, user, "150", key="dep-1")
    again = await deposit(payments.http, user, "150", key="dep-1")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"] and again.json()["replayed"] is True
    changed = await deposit(payments.http, user, "160", key="dep-1")
    assert changed.status_code == 409
    assert changed.json()["error"]["code"] == "idempotency_conflict"
    assert len(payments.mpesa_state.stk) >= 1
    pushes = [r for r in payments.mpesa_state.stk.values() if r.phone == user.phone[1:]]
    assert len(pushes) == 1  # the replay did not prompt the phone again


@pytest.mark.parametrize(
    ("amount", "code"),
    [
        ("5", "amount_below_minimum"),
        ("100.50", "amount_not_whole"),
        ("250001", "amount_above_maximum"),
        ("5001", "deposit_cap_before_kyc"),
        ("-10", "invalid_amount"),
        (1.5, "validation_error"),
    ],
)
async def test_bad_deposit_amounts_get_stable_codes(
    payments: Stack, amount: Any, code: str
) -> None:
    user = await player(payments.http)
    response = await deposit(payments.http, user, amount)
    assert 400 <= response.status_code < 500, response.text
    assert response.json()["error"]["code"] == code


async def test_history_lists_payments_newest_first(payments: Stack) -> None:
    user = await player(payments.http)
    ids = [(await deposit(payments.http, user, str(100 + i))).json()["id"] for i in range(3)]
    page = await payments.http.get("/api/payments", params={"limit": 2}, headers=user.headers)
    assert page.status_code == 200
    body = page.json()
    assert [item["id"] for item in body["items"]] == ids[::-1][:2]
    rest = await payments.http.get(
        "/api/payments", params={"limit": 2, "cursor": body["next_cursor"]}, headers=user.headers
    )
    assert [item["id"] for item in rest.json()["items"]] == ids[:1]
    assert rest.json()["next_cursor"] is None
    assert body["items"][0]["phone"].count("*") >= 5
    bad = await payments.http.get("/api/payments", params={"cursor": "!!"}, headers=user.headers)
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_cursor"
    other = await player(payments.http)
    hidden = await payments.http.get(f"/api/payments/{ids[0]}", headers=other.headers)
    assert hidden.status_code == 404 and hidden.json()["error"]["code"] == "payment_not_found"
