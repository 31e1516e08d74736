"""Data protection: a player's export holds their data and no secrets; closing an account
anonymises it, keeps the money records, and locks it out of login, betting and sessions."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

import httpx
import sqlalchemy as sa

from letsbet.accounts.domain import Role
from letsbet.accounts.tables import users
from letsbet.compliance.audit.tables import audit_log
from letsbet.platform.runtime import Runtime
from tests.sportsbook.bets.helpers import bet_body, move
from tests.sportsbook.catalogue.helpers import create_event, headers_for, outcome_ids
from tests.support import random_phone

PASSWORD = "correct horse battery"


async def _player(client: httpx.AsyncClient, runtime: Runtime) -> dict[str, Any]:
    phone = random_phone()
    body = {
        "phone": phone,
        "password": PASSWORD,
        "country": "KE",
        "date_of_birth": "1991-04-12",
        "first_name": "Wanjiru",
        "last_name": "Kamau",
    }
    registered = await client.post("/api/auth/register", json=body)
    assert registered.status_code == 201, registered.text
    user_id = uuid.UUID(registered.json()["id"])
    login = await client.post("/api/auth/login", json={"phone": phone, "password": PASSWORD})
    assert login.status_code == 200
    async with runtime.db.transaction() as conn:
        await move(conn, user_id, 1_000_00)
    tokens = login.json()
    return {
        "id": user_id,
        "phone": phone,
        "refresh": tokens["refresh_token"],
        "headers": {"Authorization": f"Bearer {tokens['access_token']}"},
    }


def _token(runtime: Runtime, user_id: uuid.UUID) -> dict[str, str]:
    token = runtime.signer.access_token(
        user_id=user_id, role=Role.PLAYER, country="KE", now=datetime.now(UTC)
    )
    return {"Authorization": f"Bearer {token}"}


async def _audit(runtime: Runtime, user_id: uuid.UUID, action: str) -> list[Any]:
    async with runtime.db.connect() as conn:
        query = sa.select(audit_log).where(
            audit_log.c.target_id == str(user_id), audit_log.c.action == action
        )
        return list((await conn.execute(query)).all())


async def test_export_holds_the_players_data_and_no_secrets(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    player = await _player(client, runtime)
    event = await create_event(client, runtime)
    home = outcome_ids(event, "1x2")["home"]
    placed = await client.post(
        "/api/bets", json=bet_body([(home, "2.10")], stake="100.00"), headers=player["headers"]
    )
    assert placed.status_code == 201, placed.text

    response = await client.get("/api/me/export", headers=player["headers"])
    assert response.status_code == 200
    assert "attachment" in response.headers["content-disposition"]
    data = response.json()
    assert data["format"] == "letsbet.personal-data.v1"
    profile = data["profile"]
    assert (profile["id"], profile["phone"], profile["first_name"], profile["last_name"]) == (
        str(player["id"]),
        player["phone"],
        "Wanjiru",
        "Kamau",
    )
    assert profile["date_of_birth"] == "1991-04-12" and profile["status"] == "active"
    assert len(data["sessions"]) == 1 and data["sessions"][0]["revoked_at"] is None
    wallet = data["wallet"]
    assert wallet["balance"] == "900.00"
    assert [t["type"] for t in wallet["transactions"]] == ["test.fund", "bet.stake"]
    assert [t["amount"] for t in wallet["transactions"]] == ["1000.00", "-100.00"]
    (bet,) = data["bets"]
    assert (bet["id"], bet["status"], bet["total_stake"]) == (placed.json()["id"], "open", "100.00")
    assert bet["legs"] == [
        {
            "event_id": event["id"],
            "market_id": bet["legs"][0]["market_id"],
            "outcome_id": home,
            "odds": "2.1",
            "result": None,
        }
    ]
    assert [h["status"] for h in bet["status_history"]] == ["open"]
    text = response.text
    for secret in ("password", "hash", "idempotency", "token", "argon2"):
        assert secret not in text, secret
    (row,) = await _audit(runtime, player["id"], "accounts.data.export")
    assert row.actor_user_id == player["id"] and row.after == {"bets": 1, "transactions": 2}
    assert (await client.get("/api/me/export")).status_code == 401


async def test_closing_anonymises_and_locks_the_account_out(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    player = await _player(client, runtime)
    user_id = player["id"]
    wrong = await client.post(
        "/api/me/close", json={"password": "not it at all"}, headers=player["headers"]
    )
    assert wrong.status_code == 403 and wrong.json()["error"]["code"] == "password_incorrect"
    bad = await client.post("/api/me/close", json={}, headers=player["headers"])
    assert bad.status_code == 422

    closed = await client.post(
        "/api/me/close",
        json={"password": PASSWORD, "reason": "moving abroad"},
        headers=player["headers"],
    )
    assert closed.status_code == 204

    async with runtime.db.connect() as conn:
        row = (await conn.execute(sa.select(users).where(users.c.id == user_id))).one()
    assert (row.status, row.phone, row.first_name, row.last_name) == (
        "closed",
        f"closed:{user_id}",
        None,
        None,
    )
    assert row.date_of_birth == date(1900, 1, 1) and row.password_hash == "!"

    # No way back in: the phone is gone, the refresh token and this access token are revoked.
    login = await client.post(
        "/api/auth/login", json={"phone": player["phone"], "password": PASSWORD}
    )
    assert login.status_code == 401
    refresh = await client.post("/api/auth/refresh", json={"refresh_token": player["refresh"]})
    assert refresh.status_code == 401
    assert (await client.get("/api/me", headers=player["headers"])).status_code == 401
    # An access token issued before the closure still cannot bet (eligibility).
    event = await create_event(client, runtime)
    home = outcome_ids(event, "1x2")["home"]
    other = _token(runtime, user_id)
    bet = await client.post("/api/bets", json=bet_body([(home, "2.10")]), headers=other)
    assert bet.status_code == 403 and bet.json()["error"]["code"] == "player_not_eligible"
    again = await client.post("/api/me/close", json={"password": PASSWORD}, headers=other)
    assert again.status_code == 403  # the password went with the account

    # The money records stay: the wallet and its history are intact.
    wallet = await client.get("/api/wallet/transactions", headers=other)
    assert [t["type"] for t in wallet.json()["items"]] == ["test.fund"]

    (audit,) = await _audit(runtime, user_id, "accounts.user.close")
    assert (audit.actor_user_id, audit.actor_role) == (user_id, "player")
    assert audit.before == {"status": "active"}
    assert audit.after["status"] == "closed" and audit.after["reason"] == "moving abroad"
    assert audit.after["sessions_revoked"] == 1
    assert player["phone"] not in str(audit.after)

    # The number is free again for a new account.
    reuse = {
        "phone": player["phone"],
        "password": PASSWORD,
        "country": "KE",
        "date_of_birth": "1990-01-01",
    }
    assert (await client.post("/api/auth/register", json=reuse)).status_code == 201


async def test_staff_close_a_player_with_a_reason(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    player = await _player(client, runtime)
    compliance = headers_for(runtime, Role.COMPLIANCE)
    url = f"/api/admin/users/{player['id']}/close"
    assert (await client.post(url, json={"reason": "x"}, headers=compliance)).status_code == 422
    assert (
        await client.post(url, json={"reason": "erasure request"}, headers=player["headers"])
    ).status_code == 403
    done = await client.post(url, json={"reason": "erasure request #123"}, headers=compliance)
    assert done.status_code == 204
    twice = await client.post(url, json={"reason": "erasure request #123"}, headers=compliance)
    assert twice.status_code == 409 and twice.json()["error"]["code"] == "account_closed"
    (audit,) = await _audit(runtime, player["id"], "accounts.user.close")
    assert audit.actor_role == "compliance" and audit.after["reason"] == "erasure request #123"

    missing = f"/api/admin/users/{uuid.uuid4()}/close"
    response = await client.post(missing, json={"reason": "erasure request"}, headers=compliance)
    assert response.status_code == 404 and response.json()["error"]["code"] == "user_not_found"

    staff_phone = random_phone()
    registered = await client.post(
        "/api/auth/register",
        json={
            "phone": staff_phone,
            "password": PASSWORD,
            "country": "KE",
            "date_of_birth": "1990-01-01",
        },
    )
    staff_id = registered.json()["id"]
    async with runtime.db.transaction() as conn:
        await conn.execute(
            sa.update(users).where(users.c.id == uuid.UUID(staff_id)).values(role="admin")
        )
    not_player = await client.post(
        f"/api/admin/users/{staff_id}/close",
        json={"reason": "left the company"},
        headers=compliance,
    )
    assert not_player.status_code == 409 and not_player.json()["error"]["code"] == "not_a_player"
    staff_self = await client.post(
        "/api/me/close", json={"password": PASSWORD}, headers=headers_for(runtime, Role.ADMIN)
    )
    assert staff_self.status_code == 403
