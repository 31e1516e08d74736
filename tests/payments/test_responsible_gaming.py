"""Deposits and withdrawals through the eligibility module: self-exclusion and time-outs stop
deposits but never withdrawals; deposit limits bind at once and loosen only after 24 hours."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from letsbet.compliance.responsible_gaming.tables import rg_limits
from tests.payments.conftest import Stack
from tests.payments.helpers import Player, deposit, fund, player, verify_kyc, withdraw

RG = "/api/responsible-gaming"


async def _verified(payments: Stack) -> Player:
    user = await player(payments.http)
    await verify_kyc(payments.http, payments.runtime, user)
    await fund(payments.runtime, user, "KE", "KES", 5_000_00)
    return user


async def test_self_excluded_player_cannot_deposit_but_can_withdraw(payments: Stack) -> None:
    user = await _verified(payments)
    excluded = await payments.http.post(
        f"{RG}/self-exclusion", json={"months": 6}, headers=user.headers
    )
    assert excluded.status_code == 200, excluded.text
    refused = await deposit(payments.http, user, "100")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "self_excluded"
    out = await withdraw(payments.http, user, "1000")
    assert out.status_code == 201, out.text


async def test_timed_out_player_cannot_deposit_but_can_withdraw(payments: Stack) -> None:
    user = await _verified(payments)
    paused = await payments.http.post(f"{RG}/time-out", json={"hours": 24}, headers=user.headers)
    assert paused.status_code == 200, paused.text
    refused = await deposit(payments.http, user, "100")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "timed_out"
    assert (await withdraw(payments.http, user, "1000")).status_code == 201


async def test_a_deposit_limit_binds_at_once_and_a_raise_waits(payments: Stack) -> None:
    user = await _verified(payments)
    limit = await payments.http.put(
        f"{RG}/limits/deposit/day", json={"amount": "500"}, headers=user.headers
    )
    assert limit.status_code == 200, limit.text
    assert (await deposit(payments.http, user, "300")).status_code == 201
    over = await deposit(payments.http, user, "300")
    assert over.status_code == 422
    error = over.json()["error"]
    assert error["code"] == "deposit_limit_reached"
    assert error["details"] == {"period": "day", "limit": "500.00", "used": "300.00"}

    raised = await payments.http.put(
        f"{RG}/limits/deposit/day", json={"amount": "5000"}, headers=user.headers
    )
    body = raised.json()["limits"][0]
    assert (body["amount"], body["pending_amount"]) == ("500.00", "5000.00")
    still = await deposit(payments.http, user, "300")
    assert still.json()["error"]["code"] == "deposit_limit_reached"  # the raise is cooling

    # 24 hours later (moved back in the database rather than waited for) the raise applies.
    async with payments.runtime.db.transaction() as conn:
        await conn.execute(
            sa.update(rg_limits)
            .where(rg_limits.c.user_id == user.id)
            .values(pending_from=datetime.now(UTC) - timedelta(seconds=1))
        )
    assert (await deposit(payments.http, user, "300")).status_code == 201


async def test_the_cap_before_kyc_is_an_eligibility_rule(payments: Stack) -> None:
    user = await player(payments.http)  # not verified: KE caps deposits at 5,000 KES
    assert (await deposit(payments.http, user, "4000")).status_code == 201
    capped = await deposit(payments.http, user, "1001")
    assert capped.status_code == 422
    assert capped.json()["error"]["code"] == "deposit_cap_before_kyc"
    await verify_kyc(payments.http, payments.runtime, user)
    assert (await deposit(payments.http, user, "1001")).status_code == 201
