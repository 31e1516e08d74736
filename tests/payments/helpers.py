"""Players, staff and money for payment flows, through the real API."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any

import httpx

from letsbet.accounts import service as accounts_service
from letsbet.accounts.domain import Role
from letsbet.ledger import service as ledger
from letsbet.ledger.domain import Entry, House, HouseAccount, PlayerCash, TransferSpec
from letsbet.ledger.reconcile import check
from letsbet.platform.runtime import Runtime
from tests.support import poll_until, random_phone

PASSWORD = "correct horse battery"
Headers = dict[str, str]
FINAL = ("succeeded", "failed", "timed_out")


@dataclass(frozen=True)
class Player:
    id: uuid.UUID
    phone: str
    headers: Headers


def phone_ending(country: str, ending: str) -> str:
    """A valid mobile number of the country whose last digits pick a simulator outcome."""
    base = random_phone(country)
    return base[: len(base) - len(ending)] + ending


async def login(http: httpx.AsyncClient, phone: str) -> Headers:
    response = await http.post("/api/auth/login", json={"phone": phone, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def player(
    http: httpx.AsyncClient, country: str = "KE", *, ending: str | None = None
) -> Player:
    for _ in range(5):  # an ending leaves few random digits: retry a taken number
        phone = phone_ending(country, ending) if ending else random_phone(country)
        response = await http.post(
            "/api/auth/register",
            json={
                "phone": phone,
                "password": PASSWORD,
                "country": country,
                "date_of_birth": "1995-05-17",
            },
        )
        if response.status_code != 409:
            break
    assert response.status_code == 201, response.text
    return Player(uuid.UUID(response.json()["id"]), phone, await login(http, phone))


async def admin(http: httpx.AsyncClient, runtime: Runtime) -> Headers:
    phone = random_phone()
    async with runtime.db.transaction() as conn:
        await accounts_service.register(
            conn,
            phone=phone,
            password=PASSWORD,
            country="KE",
            date_of_birth=date(1980, 1, 1),
            role=Role.ADMIN,
        )
    return await login(http, phone)


async def verify_kyc(http: httpx.AsyncClient, runtime: Runtime, user: Player) -> None:
    response = await http.put(
        f"/api/admin/users/{user.id}/kyc",
        json={"verified": True},
        headers=await admin(http, runtime),
    )
    assert response.status_code == 200, response.text
    assert response.json()["kyc_verified"] is True


async def fund(runtime: Runtime, user: Player, country: str, currency: str, minor: int) -> None:
    """Put money in a wallet directly through the ledger (as if won on bets)."""
    async with runtime.db.transaction() as conn:
        await ledger.post_transfer(
            conn,
            TransferSpec(
                idempotency_key=f"test-fund:{uuid.uuid4()}",
                type="adjustment",
                country=country,
                currency=currency,
                entries=(
                    Entry(PlayerCash(user.id), minor),
                    Entry(House(HouseAccount.ADJUSTMENTS), -minor),
                ),
            ),
        )


async def deposit(
    http: httpx.AsyncClient, user: Player, amount: str, *, key: str | None = None, **extra: Any
) -> httpx.Response:
    return await http.post(
        "/api/payments/deposits",
        json={"amount": amount, "idempotency_key": key or secrets.token_hex(8), **extra},
        headers=user.headers,
    )


async def withdraw(
    http: httpx.AsyncClient, user: Player, amount: str, *, key: str | None = None, **extra: Any
) -> httpx.Response:
    return await http.post(
        "/api/payments/withdrawals",
        json={"amount": amount, "idempotency_key": key or secrets.token_hex(8), **extra},
        headers=user.headers,
    )


async def get_payment(http: httpx.AsyncClient, user: Player, payment_id: str) -> dict[str, Any]:
    response = await http.get(f"/api/payments/{payment_id}", headers=user.headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def settled(
    http: httpx.AsyncClient, user: Player, payment_id: str, timeout: float = 10.0
) -> dict[str, Any]:
    """Poll until the payment reaches a final status; return it."""

    async def final() -> dict[str, Any] | None:
        body = await get_payment(http, user, payment_id)
        return body if body["status"] in FINAL else None

    result: dict[str, Any] = await poll_until(final, timeout=timeout)
    return result


async def wallet(http: httpx.AsyncClient, user: Player) -> dict[str, Any]:
    response = await http.get("/api/wallet", headers=user.headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def assert_ledger_sound(runtime: Runtime) -> None:
    report = await check(runtime.db)
    assert report.sound, report.lines()


async def reconciled(stack: Any, user: Player, payment_id: str) -> dict[str, Any]:
    """Run reconciler passes until the payment is final (the provider may still be working)."""
    from letsbet.payments.reconcile import reconcile_once

    async def final() -> dict[str, Any] | None:
        await reconcile_once(stack.runtime.db, stack.gateway)
        body = await get_payment(stack.http, user, payment_id)
        return body if body["status"] in FINAL else None

    result: dict[str, Any] = await poll_until(final, timeout=10)
    return result
