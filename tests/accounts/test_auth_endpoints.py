"""Auth flows through the ASGI app on real PostgreSQL and Redis."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import httpx
import jwt
import pytest
import sqlalchemy as sa

from letsbet.accounts.tables import refresh_tokens
from letsbet.accounts.tokens import TokenSigner
from letsbet.platform.runtime import Runtime
from tests.support import random_phone

PASSWORD = "correct horse battery"


async def register(client: httpx.AsyncClient, country: str = "KE", **extra: object) -> str:
    phone = random_phone(country)
    body = {
        "phone": phone,
        "password": PASSWORD,
        "country": country,
        "date_of_birth": "1995-05-17",
        **extra,
    }
    response = await client.post("/api/auth/register", json=body)
    assert response.status_code == 201, response.text
    return phone


async def login(client: httpx.AsyncClient, phone: str) -> dict[str, object]:
    response = await client.post("/api/auth/login", json={"phone": phone, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return dict(response.json())


async def test_register_stores_e164_and_returns_profile(client: httpx.AsyncClient) -> None:
    local = "07" + str(uuid.uuid4().int % 10**8).zfill(8)
    response = await client.post(
        "/api/auth/register",
        json={
            "phone": local,
            "password": PASSWORD,
            "country": "KE",
            "date_of_birth": "1990-02-03",
            "first_name": "Wanjiru",
        },
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["phone"] == "+254" + local[1:]
    assert body["country"] == "KE" and body["currency"] == "KES" and body["role"] == "player"
    assert "password" not in response.text and "password_hash" not in response.text


@pytest.mark.parametrize("country", ["KE", "NG", "GH"])
async def test_each_country_registers_and_logs_in(client: httpx.AsyncClient, country: str) -> None:
    phone = await register(client, country)
    tokens = await login(client, phone)
    me = await client.get("/api/me", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert me.status_code == 200
    assert me.json()["country"] == country and me.json()["phone"] == phone


async def test_duplicate_phone_is_409(client: httpx.AsyncClient) -> None:
    phone = await register(client)
    again = await client.post(
        "/api/auth/register",
        json={"phone": phone, "password": PASSWORD, "country": "KE", "date_of_birth": "1990-01-01"},
    )
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "phone_taken"


@pytest.mark.parametrize(
    ("phone", "country"),
    [
        ("+234803123456", "KE"),  # Nigerian number for Kenya
        ("12345", "KE"),  # too short to be any number
        ("+254201234567", "KE"),  # Nairobi landline: payments need a mobile
        ("not a phone", "GH"),
    ],
)
async def test_bad_phone_is_422(client: httpx.AsyncClient, phone: str, country: str) -> None:
    response = await client.post(
        "/api/auth/register",
        json={
            "phone": phone,
            "password": PASSWORD,
            "country": country,
            "date_of_birth": "1990-01-01",
        },
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] in ("invalid_phone", "validation_error")


async def test_under_18_is_refused(client: httpx.AsyncClient) -> None:
    born = date.today() - timedelta(days=17 * 365)
    response = await client.post(
        "/api/auth/register",
        json={
            "phone": random_phone(),
            "password": PASSWORD,
            "country": "KE",
            "date_of_birth": born.isoformat(),
        },
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "underage"


async def test_wrong_password_and_unknown_phone_look_the_same(client: httpx.AsyncClient) -> None:
    phone = await register(client)
    wrong = await client.post("/api/auth/login", json={"phone": phone, "password": "nope-nope"})
    unknown = await client.post(
        "/api/auth/login", json={"phone": random_phone(), "password": PASSWORD}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["error"]["code"] == unknown.json()["error"]["code"] == "invalid_credentials"


async def test_login_locks_after_repeated_failures(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    phone = await register(client)
    limit = runtime.settings.login_max_failures
    for _ in range(limit):
        bad = await client.post("/api/auth/login", json={"phone": phone, "password": "wrong-pass"})
        assert bad.status_code == 401
    locked = await client.post("/api/auth/login", json={"phone": phone, "password": PASSWORD})
    assert locked.status_code == 429
    assert locked.json()["error"]["code"] == "login_locked"
    assert 0 < int(locked.headers["Retry-After"]) <= runtime.settings.login_lockout_seconds


async def test_refresh_rotates_and_reuse_revokes_the_family(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    phone = await register(client)
    first = await login(client, phone)
    second = await client.post("/api/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert second.status_code == 200
    rotated = second.json()
    assert rotated["refresh_token"] != first["refresh_token"]

    # The old token again: theft detected, the whole family (including the new token) dies.
    reuse = await client.post("/api/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert reuse.status_code == 401
    assert reuse.json()["error"]["code"] == "token_reused"
    after = await client.post("/api/auth/refresh", json={"refresh_token": rotated["refresh_token"]})
    assert after.status_code == 401

    claims = runtime.signer.verify_refresh(str(first["refresh_token"]))
    async with runtime.db.connect() as conn:
        revoked = await conn.scalar(
            sa.select(sa.func.count())
            .select_from(refresh_tokens)
            .where(
                refresh_tokens.c.family_id == claims.family_id,
                refresh_tokens.c.revoked_at.is_not(None),
            )
        )
    assert revoked == 2


async def test_access_token_is_not_a_refresh_token(client: httpx.AsyncClient) -> None:
    tokens = await login(client, await register(client))
    response = await client.post(
        "/api/auth/refresh", json={"refresh_token": tokens["access_token"]}
    )
    assert response.status_code == 401
    me = await client.get("/api/me", headers={"Authorization": f"Bearer {tokens['refresh_token']}"})
    assert me.status_code == 401 and me.json()["error"]["code"] == "invalid_token"


async def test_expired_and_forged_tokens_are_rejected(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    signer = runtime.signer
    user_id = uuid.uuid4()
    from letsbet.accounts.domain import Role

    expired = signer.access_token(
        user_id=user_id, role=Role.PLAYER, country="KE", now=datetime.now(UTC) - timedelta(hours=2)
    )
    response = await client.get("/api/me", headers={"Authorization": f"Bearer {expired}"})
    assert response.status_code == 401 and response.json()["error"]["code"] == "token_expired"

    forger = TokenSigner(
        secret="attacker-secret-" + "y" * 32,
        issuer=signer.issuer,
        audience=signer.audience,
        access_ttl=signer.access_ttl,
        refresh_ttl=signer.refresh_ttl,
    )
    forged = forger.access_token(
        user_id=user_id, role=Role.ADMIN, country="KE", now=datetime.now(UTC)
    )
    response = await client.get("/api/me", headers={"Authorization": f"Bearer {forged}"})
    assert response.status_code == 401 and response.json()["error"]["code"] == "invalid_token"

    wrong_audience = jwt.encode(
        {
            "typ": "access",
            "sub": str(user_id),
            "role": "player",
            "cty": "KE",
            "iss": signer.issuer,
            "aud": "someone-else",
            "jti": str(uuid.uuid4()),
            "iat": int(datetime.now(UTC).timestamp()),
            "exp": int(datetime.now(UTC).timestamp()) + 600,
        },
        signer.secret,
        algorithm="HS256",
    )
    response = await client.get("/api/me", headers={"Authorization": f"Bearer {wrong_audience}"})
    assert response.status_code == 401

    none_alg = jwt.encode({"sub": str(user_id)}, key=None, algorithm="none")  # type: ignore[arg-type]
    response = await client.get("/api/me", headers={"Authorization": f"Bearer {none_alg}"})
    assert response.status_code == 401


async def test_missing_token_is_401_with_bearer_challenge(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/me")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.json()["error"]["code"] == "unauthorized"


async def test_logout_revokes_access_and_refresh(client: httpx.AsyncClient) -> None:
    tokens = await login(client, await register(client))
    auth = {"Authorization": f"Bearer {tokens['access_token']}"}
    out = await client.post(
        "/api/auth/logout", json={"refresh_token": tokens["refresh_token"]}, headers=auth
    )
    assert out.status_code == 204
    assert (await client.get("/api/me", headers=auth)).status_code == 401
    refreshed = await client.post(
        "/api/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    assert refreshed.status_code == 401


async def test_staff_endpoint_needs_a_staff_role(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    from letsbet.accounts import service
    from letsbet.accounts.domain import Role

    player_phone = await register(client)
    player = await login(client, player_phone)
    me = (
        await client.get("/api/me", headers={"Authorization": f"Bearer {player['access_token']}"})
    ).json()
    path = f"/api/admin/users/{me['id']}"
    denied = await client.get(path, headers={"Authorization": f"Bearer {player['access_token']}"})
    assert denied.status_code == 403 and denied.json()["error"]["code"] == "forbidden"

    admin_phone = random_phone()
    async with runtime.db.transaction() as conn:
        await service.register(
            conn,
            phone=admin_phone,
            password=PASSWORD,
            country="KE",
            date_of_birth=date(1980, 1, 1),
            role=Role.ADMIN,
        )
    admin = await login(client, admin_phone)
    allowed = await client.get(path, headers={"Authorization": f"Bearer {admin['access_token']}"})
    assert allowed.status_code == 200 and allowed.json()["id"] == me["id"]
