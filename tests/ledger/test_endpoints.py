"""The wallet API through the ASGI app on real PostgreSQL and Redis."""

from __future__ import annotations

import base64
import csv
import io
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from letsbet.accounts import service as accounts_service
from letsbet.accounts.domain import Role
from letsbet.ledger import endpoints
from letsbet.ledger import service as ledger_service
from letsbet.ledger.domain import Entry, House, HouseAccount, PlayerCash, TransferSpec
from letsbet.ledger.tables import ledger_transfers
from letsbet.platform.runtime import Runtime
from tests.support import create_players, random_phone

PASSWORD = "correct horse battery"
Headers = dict[str, str]


async def _login(client: httpx.AsyncClient, phone: str) -> Headers:
    response = await client.post("/api/auth/login", json={"phone": phone, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def _me(client: httpx.AsyncClient, headers: Headers) -> uuid.UUID:
    response = await client.get("/api/me", headers=headers)
    assert response.status_code == 200, response.text
    return uuid.UUID(response.json()["id"])


async def player(client: httpx.AsyncClient, country: str = "KE") -> tuple[uuid.UUID, Headers]:
    phone = random_phone(country)
    response = await client.post(
        "/api/auth/register",
        json={
            "phone": phone,
            "password": PASSWORD,
            "country": country,
            "date_of_birth": "1995-05-17",
        },
    )
    assert response.status_code == 201, response.text
    headers = await _login(client, phone)
    return await _me(client, headers), headers


async def admin(client: httpx.AsyncClient, runtime: Runtime) -> tuple[uuid.UUID, Headers]:
    phone = random_phone()
    async with runtime.db.transaction() as conn:
        admin_id = await accounts_service.register(
            conn,
            phone=phone,
            password=PASSWORD,
            country="KE",
            date_of_birth=date(1980, 1, 1),
            role=Role.ADMIN,
        )
    return admin_id, await _login(client, phone)


async def adjust(
    client: httpx.AsyncClient,
    headers: Headers,
    user_id: uuid.UUID,
    amount: Any,
    *,
    key: str | None = None,
    reason: str = "goodwill credit",
) -> httpx.Response:
    return await client.post(
        f"/api/admin/wallets/{user_id}/adjustments",
        json={"amount": amount, "reason": reason, "idempotency_key": key or uuid.uuid4().hex},
        headers=headers,
    )


async def credit(
    client: httpx.AsyncClient, headers: Headers, user_id: uuid.UUID, amount: str
) -> dict[str, Any]:
    response = await adjust(client, headers, user_id, amount)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def wallet(client: httpx.AsyncClient, headers: Headers) -> dict[str, Any]:
    response = await client.get("/api/wallet", headers=headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def transactions(
    client: httpx.AsyncClient, headers: Headers, **params: Any
) -> httpx.Response:
    return await client.get("/api/wallet/transactions", params=params, headers=headers)


async def db_now(runtime: Runtime) -> datetime:
    """The database's clock, which stamps postings (no skew with the test process)."""
    async with runtime.db.connect() as conn:
        now = await conn.scalar(sa.select(sa.func.clock_timestamp()))
    assert isinstance(now, datetime)
    return now


def cursor_of(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode()


# -- GET /api/wallet ---------------------------------------------------------------------------
@pytest.mark.parametrize(("country", "currency"), [("KE", "KES"), ("NG", "NGN")])
async def test_new_player_has_an_empty_wallet(
    client: httpx.AsyncClient, country: str, currency: str
) -> None:
    _, headers = await player(client, country)
    assert await wallet(client, headers) == {
        "currency": currency,
        "balance": "0.00",
        "held": "0.00",
        "available": "0.00",
    }


async def test_player_without_a_ledger_account_sees_zeros(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    async with runtime.db.transaction() as conn:
        (user_id,) = await create_players(conn, 1)  # a user row only, no wallet opened
    token = runtime.signer.access_token(
        user_id=user_id, role=Role.PLAYER, country="KE", now=datetime.now(UTC)
    )
    headers = {"Authorization": f"Bearer {token}"}
    assert (await wallet(client, headers))["balance"] == "0.00"
    page = await transactions(client, headers)
    assert page.json() == {"items": [], "next_cursor": None}
    statement = await client.get("/api/wallet/statement.csv", headers=headers)
    assert statement.status_code == 200 and statement.text.count("\r\n") == 1


async def test_wallet_needs_a_token(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/wallet")
    assert response.status_code == 401 and response.json()["error"]["code"] == "unauthorized"


# -- POST /api/admin/wallets/{user_id}/adjustments ---------------------------------------------
async def test_admin_credits_then_debits_exactly(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    admin_id, staff = await admin(client, runtime)
    user_id, headers = await player(client)

    credited = await adjust(client, staff, user_id, "100.50", reason="promo fix")
    assert credited.status_code == 201, credited.text
    body = credited.json()
    assert body == {
        "transfer_id": body["transfer_id"],
        "type": "adjustment",
        "amount": "100.50",
        "currency": "KES",
        "balance_after": "100.50",
        "reason": "promo fix",
        "replayed": False,
    }
    debited = await adjust(client, staff, user_id, "-25.25")
    assert debited.status_code == 201, debited.text
    assert (debited.json()["amount"], debited.json()["balance_after"]) == ("-25.25", "75.25")
    assert await wallet(client, headers) == {
        "currency": "KES",
        "balance": "75.25",
        "held": "0.00",
        "available": "75.25",
    }

    async with runtime.db.connect() as conn:
        stored = (
            await conn.execute(
                sa.select(ledger_transfers).where(
                    ledger_transfers.c.id == uuid.UUID(body["transfer_id"])
                )
            )
        ).one()
    assert stored.initiated_by == admin_id
    assert stored.metadata == {"reason": "promo fix", "admin_id": str(admin_id)}
    assert stored.type == "adjustment" and stored.reference.startswith("adj-")


async def test_integer_amount_and_other_tenant_currency(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    _, staff = await admin(client, runtime)
    user_id, headers = await player(client, "GH")
    response = await adjust(client, staff, user_id, 12)
    assert response.status_code == 201, response.text
    assert response.json()["currency"] == "GHS" and response.json()["amount"] == "12.00"
    assert (await wallet(client, headers))["balance"] == "12.00"


async def test_replay_answers_200_and_a_changed_body_conflicts(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    _, staff = await admin(client, runtime)
    user_id, headers = await player(client)
    key = f"ticket-{uuid.uuid4().hex}"
    first = await adjust(client, staff, user_id, "40.00", key=key)
    assert first.status_code == 201, first.text
    await credit(client, staff, user_id, "1.00")  # the balance moves on in between

    again = await adjust(client, staff, user_id, "40.00", key=key)
    assert again.status_code == 200, again.text
    assert again.json() == {**first.json(), "replayed": True}
    assert (await wallet(client, headers))["balance"] == "41.00"  # credited once

    changed = await adjust(client, staff, user_id, "41.00", key=key)
    assert changed.status_code == 409
    assert changed.json()["error"]["code"] == "idempotency_conflict"
    reworded = await adjust(client, staff, user_id, "40.00", key=key, reason="another reason")
    assert reworded.status_code == 409


async def test_longest_idempotency_key_is_accepted(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    _, staff = await admin(client, runtime)
    user_id, _ = await player(client)
    key = "k" * 100 + uuid.uuid4().hex[:28]
    assert len(key) == 128
    first = await adjust(client, staff, user_id, "5.00", key=key)
    assert first.status_code == 201, first.text
    again = await adjust(client, staff, user_id, "5.00", key=key)
    assert again.status_code == 200 and again.json()["replayed"] is True


async def test_debit_beyond_the_balance_is_insufficient_funds(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    _, staff = await admin(client, runtime)
    user_id, headers = await player(client)
    await credit(client, staff, user_id, "10.00")
    key = uuid.uuid4().hex
    refused = await adjust(client, staff, user_id, "-10.01", key=key)
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "insufficient_funds"
    assert (await wallet(client, headers))["balance"] == "10.00"
    # Nothing was kept under the key: the same request succeeds once the money is there.
    await credit(client, staff, user_id, "0.01")
    retried = await adjust(client, staff, user_id, "-10.01", key=key)
    assert retried.status_code == 201 and retried.json()["balance_after"] == "0.00"


async def test_a_player_cannot_adjust(client: httpx.AsyncClient) -> None:
    user_id, headers = await player(client)
    response = await adjust(client, headers, user_id, "1000.00")
    assert response.status_code == 403 and response.json()["error"]["code"] == "forbidden"
    assert (await wallet(client, headers))["balance"] == "0.00"


async def test_unknown_user_is_404(client: httpx.AsyncClient, runtime: Runtime) -> None:
    _, staff = await admin(client, runtime)
    response = await adjust(client, staff, uuid.uuid4(), "1.00")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "user_not_found"
    malformed = await client.post(
        "/api/admin/wallets/not-a-uuid/adjustments",
        json={"amount": "1.00", "reason": "test", "idempotency_key": "k"},
        headers=staff,
    )
    assert malformed.status_code == 422


@pytest.mark.parametrize(
    ("amount", "code"),
    [
        ("1.005", "validation_error"),  # more decimals than any currency has
        (1.5, "validation_error"),  # a JSON float has already lost exactness
        ("0", "invalid_amount"),
        ("-0.00", "invalid_amount"),
        ("abc", "validation_error"),
        ("1e3", "validation_error"),
        (True, "validation_error"),
        ("10000000000000.01", "invalid_amount"),  # beyond the largest amount
    ],
)
async def test_bad_amounts_are_422(
    client: httpx.AsyncClient, runtime: Runtime, amount: Any, code: str
) -> None:
    _, staff = await admin(client, runtime)
    user_id, _ = await player(client)
    response = await adjust(client, staff, user_id, amount)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == code


@pytest.mark.parametrize(
    "body",
    [
        {"amount": "1.00", "reason": "ok", "idempotency_key": "k"},  # reason too short
        {"amount": "1.00", "reason": "x" * 501, "idempotency_key": "k"},
        {"amount": "1.00", "reason": "fine", "idempotency_key": ""},
        {"amount": "1.00", "reason": "fine", "idempotency_key": "has space"},
        {"amount": "1.00", "reason": "fine", "idempotency_key": "k" * 129},
        {"amount": "1.00", "reason": "fine", "idempotency_key": "k", "admin_id": "x"},
        {"amount": "1.00", "reason": "fine"},
    ],
)
async def test_bad_bodies_are_422(
    client: httpx.AsyncClient, runtime: Runtime, body: dict[str, Any]
) -> None:
    _, staff = await admin(client, runtime)
    user_id, _ = await player(client)
    response = await client.post(
        f"/api/admin/wallets/{user_id}/adjustments", json=body, headers=staff
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "validation_error"


# -- GET /api/wallet/transactions --------------------------------------------------------------
async def test_transactions_paginate_newest_first(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    _, staff = await admin(client, runtime)
    user_id, headers = await player(client)
    for n in range(1, 8):
        await credit(client, staff, user_id, f"{n}.00")

    pages: list[list[dict[str, Any]]] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        response = await transactions(client, headers, **params)
        assert response.status_code == 200, response.text
        pages.append(response.json()["items"])
        cursor = response.json()["next_cursor"]
        if cursor is None:
            break
    assert [len(page) for page in pages] == [3, 3, 1]
    items = [item for page in pages for item in page]
    ids = [int(item["id"]) for item in items]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == 7
    assert [item["amount"] for item in items] == [f"{n}.00" for n in range(7, 0, -1)]
    newest = items[0]
    assert newest["balance_before"] == "21.00" and newest["balance_after"] == "28.00"
    assert newest["type"] == "adjustment" and newest["currency"] == "KES"
    assert newest["reference"].startswith("adj-")
    assert datetime.fromisoformat(newest["created_at"]).tzinfo is not None

    exact = await transactions(client, headers, limit=7)
    assert len(exact.json()["items"]) == 7 and exact.json()["next_cursor"] is None


async def test_transactions_show_only_the_callers_postings(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    _, staff = await admin(client, runtime)
    alice, alice_headers = await player(client)
    bob, bob_headers = await player(client)
    await credit(client, staff, alice, "3.00")
    await credit(client, staff, bob, "4.00")
    alice_items = (await transactions(client, alice_headers)).json()["items"]
    assert [item["amount"] for item in alice_items] == ["3.00"]
    bob_items = (await transactions(client, bob_headers)).json()["items"]
    assert [item["amount"] for item in bob_items] == ["4.00"]
    _, fresh_headers = await player(client)
    assert (await transactions(client, fresh_headers)).json() == {
        "items": [],
        "next_cursor": None,
    }


async def test_transactions_filter_by_type(client: httpx.AsyncClient, runtime: Runtime) -> None:
    _, staff = await admin(client, runtime)
    user_id, headers = await player(client)
    await credit(client, staff, user_id, "50.00")
    async with runtime.db.transaction() as conn:
        await ledger_service.post_transfer(
            conn,
            TransferSpec(
                idempotency_key=f"test-{uuid.uuid4().hex}",
                type="bet.stake",
                country="KE",
                currency="KES",
                entries=(
                    Entry(PlayerCash(user_id), -20_00),
                    Entry(House(HouseAccount.STAKES_IN_PLAY), 20_00),
                ),
                reference="bet-1",
            ),
        )

    stakes = (await transactions(client, headers, type="bet.stake")).json()["items"]
    assert [(i["type"], i["amount"], i["balance_after"]) for i in stakes] == [
        ("bet.stake", "-20.00", "30.00")
    ]
    both = await client.get(
        "/api/wallet/transactions?type=adjustment&type=bet.stake", headers=headers
    )
    assert [i["type"] for i in both.json()["items"]] == ["bet.stake", "adjustment"]
    none = await transactions(client, headers, type="payout")
    assert none.json()["items"] == []


async def test_transactions_filter_by_date_range(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    _, staff = await admin(client, runtime)
    user_id, headers = await player(client)
    await credit(client, staff, user_id, "1.00")
    between = await db_now(runtime)
    await credit(client, staff, user_id, "2.00")
    after = await db_now(runtime)

    def amounts(response: httpx.Response) -> list[str]:
        assert response.status_code == 200, response.text
        return [item["amount"] for item in response.json()["items"]]

    iso = datetime.isoformat
    assert amounts(await transactions(client, headers, to=iso(between))) == ["1.00"]
    assert amounts(await transactions(client, headers, **{"from": iso(between)})) == ["2.00"]
    window = {"from": iso(between - timedelta(hours=1)), "to": iso(after)}
    assert amounts(await transactions(client, headers, **window)) == ["2.00", "1.00"]
    assert amounts(await transactions(client, headers, **{"from": iso(after)})) == []
    # Any timezone is accepted and compared as an instant.
    nairobi = between.astimezone(datetime.now(UTC).astimezone().tzinfo)
    assert amounts(await transactions(client, headers, to=nairobi.isoformat())) == ["1.00"]


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"cursor": "!!!"}, "invalid_cursor"),
        ({"cursor": cursor_of("abc")}, "invalid_cursor"),
        ({"cursor": cursor_of("0")}, "invalid_cursor"),
        ({"cursor": cursor_of("-5")}, "invalid_cursor"),
        ({"cursor": cursor_of("99999999999999999999")}, "invalid_cursor"),
        ({"cursor": "a"}, "invalid_cursor"),
        ({"limit": 0}, "validation_error"),
        ({"limit": 201}, "validation_error"),
        ({"limit": "ten"}, "validation_error"),
        ({"from": "2026-01-02T00:00:00"}, "validation_error"),  # no timezone
        ({"from": "yesterday"}, "validation_error"),
        ({"from": "2026-01-02T00:00:00Z", "to": "2026-01-01T00:00:00Z"}, "invalid_date_range"),
        ({"type": "x" * 65}, "validation_error"),
    ],
)
async def test_bad_transaction_queries_are_422(
    client: httpx.AsyncClient, params: dict[str, Any], code: str
) -> None:
    _, headers = await player(client)
    response = await transactions(client, headers, **params)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == code


async def test_too_many_type_filters_are_422(client: httpx.AsyncClient) -> None:
    _, headers = await player(client)
    query = "&".join(f"type=t{n}" for n in range(endpoints.MAX_TYPE_FILTERS + 1))
    response = await client.get(f"/api/wallet/transactions?{query}", headers=headers)
    assert response.status_code == 422


async def test_a_cursor_from_a_page_is_accepted(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    _, staff = await admin(client, runtime)
    user_id, headers = await player(client)
    await credit(client, staff, user_id, "1.00")
    await credit(client, staff, user_id, "2.00")
    first = (await transactions(client, headers, limit=1)).json()
    assert first["next_cursor"] == cursor_of(first["items"][0]["id"])
    second = (await transactions(client, headers, limit=1, cursor=first["next_cursor"])).json()
    assert [i["amount"] for i in second["items"]] == ["1.00"]
    assert second["next_cursor"] is None


# -- GET /api/wallet/statement.csv -------------------------------------------------------------
def parse_csv(response: httpx.Response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.text, newline="")))


async def test_statement_is_a_csv_attachment_oldest_first(
    client: httpx.AsyncClient, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(endpoints, "STATEMENT_BATCH", 2)  # exercise several batches
    _, staff = await admin(client, runtime)
    user_id, headers = await player(client)
    await credit(client, staff, user_id, "100.00")
    await credit(client, staff, user_id, "0.50")
    hostile = '=HYPERLINK("http://evil.example","click"), then more'
    async with runtime.db.transaction() as conn:
        transfer = await ledger_service.post_transfer(
            conn,
            TransferSpec(
                idempotency_key=f"test-{uuid.uuid4().hex}",
                type="bet.stake",
                country="KE",
                currency="KES",
                entries=(
                    Entry(PlayerCash(user_id), -25_00),
                    Entry(House(HouseAccount.STAKES_IN_PLAY), 25_00),
                ),
                reference=hostile,
            ),
        )
    debit = await adjust(client, staff, user_id, "-0.25")
    assert debit.status_code == 201

    response = await client.get("/api/wallet/statement.csv", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    today = datetime.now(UTC).date()
    start = today - timedelta(days=90)
    assert response.headers["content-disposition"] == (
        f'attachment; filename="letsbet-statement-{start.isoformat()}-{today.isoformat()}.csv"'
    )
    rows = parse_csv(response)
    assert rows[0] == [
        "date",
        "type",
        "reference",
        "amount",
        "balance_before",
        "balance_after",
        "currency",
        "transfer_id",
    ]
    body = rows[1:]
    assert [(r[1], r[3], r[4], r[5], r[6]) for r in body] == [
        ("adjustment", "100.00", "0.00", "100.00", "KES"),
        ("adjustment", "0.50", "100.00", "100.50", "KES"),
        ("bet.stake", "-25.00", "100.50", "75.50", "KES"),
        ("adjustment", "-0.25", "75.50", "75.25", "KES"),
    ]
    assert body[2][2] == "'" + hostile  # a spreadsheet shows it as text, never runs it
    assert body[2][7] == str(transfer.id)
    assert body[3][7] == debit.json()["transfer_id"]
    assert all(r[2].startswith("adj-") for r in (body[0], body[1], body[3]))
    assert all(datetime.fromisoformat(r[0]).tzinfo is not None for r in body)


async def test_statement_honours_the_range(client: httpx.AsyncClient, runtime: Runtime) -> None:
    _, staff = await admin(client, runtime)
    user_id, headers = await player(client)
    await credit(client, staff, user_id, "1.00")
    between = await db_now(runtime)
    await credit(client, staff, user_id, "2.00")

    later = await client.get(
        "/api/wallet/statement.csv",
        params={"from": between.isoformat(), "to": (between + timedelta(days=2)).isoformat()},
        headers=headers,
    )
    assert later.status_code == 200
    assert [r[3] for r in parse_csv(later)[1:]] == ["2.00"]
    first, last = between.date(), (between + timedelta(days=2)).date()
    assert (
        f'filename="letsbet-statement-{first}-{last}.csv"' in later.headers["content-disposition"]
    )

    empty = await client.get(
        "/api/wallet/statement.csv",
        params={"to": "2020-01-01T00:00:00Z"},
        headers=headers,
    )
    assert empty.status_code == 200 and len(parse_csv(empty)) == 1  # the header alone

    backwards = await client.get(
        "/api/wallet/statement.csv",
        params={"from": "2026-01-02T00:00:00Z", "to": "2026-01-01T00:00:00Z"},
        headers=headers,
    )
    assert backwards.status_code == 422
    assert backwards.json()["error"]["code"] == "invalid_date_range"


async def test_statement_needs_a_token(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/wallet/statement.csv")
    assert response.status_code == 401
