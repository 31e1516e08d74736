"""Every staff action writes exactly one audit row, in its own transaction, with what
changed; GET /api/admin/audit lists them with filters and pages."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import sqlalchemy as sa

from letsbet.accounts.domain import Role
from letsbet.compliance.audit import service
from letsbet.compliance.audit.tables import audit_log
from letsbet.platform.config import Settings
from letsbet.platform.runtime import Runtime
from tests.sportsbook.bets.helpers import funded_player
from tests.sportsbook.catalogue.helpers import (
    create_event,
    event_body,
    market_id,
    outcome_ids,
)
from tests.support import random_phone


def staff(runtime: Runtime, role: Role = Role.ADMIN) -> tuple[uuid.UUID, dict[str, str]]:
    user_id = uuid.uuid4()
    token = runtime.signer.access_token(
        user_id=user_id, role=role, country="KE", now=datetime.now(UTC)
    )
    return user_id, {"Authorization": f"Bearer {token}", "X-Request-ID": f"req-{user_id.hex}"}


async def head(runtime: Runtime) -> int:
    async with runtime.db.connect() as conn:
        return int(await conn.scalar(sa.text("SELECT seq FROM audit_chain_head")))


async def rows_since(runtime: Runtime, seq: int) -> list[Any]:
    async with runtime.db.connect() as conn:
        query = sa.select(audit_log).where(audit_log.c.seq > seq).order_by(audit_log.c.seq)
        return list((await conn.execute(query)).all())


async def one_row(runtime: Runtime, mark: int) -> Any:
    rows = await rows_since(runtime, mark)
    assert len(rows) == 1, [(r.action, r.target_id) for r in rows]
    return rows[0]


async def test_each_trading_action_writes_one_row_with_what_changed(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    admin_id, headers = staff(runtime)

    mark = await head(runtime)
    response = await client.post("/api/admin/events", json=event_body(), headers=headers)
    assert response.status_code == 201
    event = response.json()
    row = await one_row(runtime, mark)
    assert (row.action, row.target_type, row.target_id) == (
        "sportsbook.event.create",
        "event",
        str(event["id"]),
    )
    assert (row.actor_user_id, row.actor_role, row.country_code) == (admin_id, "admin", "KE")
    assert row.request_id == headers["X-Request-ID"] and row.client_ip
    assert row.before is None and row.after["status"] == "scheduled"
    assert len(row.after["markets"]) == len(event["markets"])

    eid, ids, mid = event["id"], outcome_ids(event, "1x2"), market_id(event, "1x2")
    base = f"/api/admin/events/{eid}"

    mark = await head(runtime)
    odds = {"outcomes": [{"outcome_id": ids["home"], "odds": "2.25"}]}
    assert (await client.patch(f"{base}/odds", json=odds, headers=headers)).status_code == 200
    row = await one_row(runtime, mark)
    path = {"markets": {str(mid): {"outcomes": {str(ids["home"]): {}}}}}
    path["markets"][str(mid)]["outcomes"][str(ids["home"])] = {"odds_milli": 2100}
    assert row.action == "sportsbook.odds.update" and row.before == path
    path["markets"][str(mid)]["outcomes"][str(ids["home"])] = {"odds_milli": 2250}
    assert row.after == path

    mark = await head(runtime)
    assert (await client.post(f"{base}/suspend", headers=headers)).status_code == 200
    row = await one_row(runtime, mark)
    assert (row.action, row.before, row.after) == (
        "sportsbook.event.suspend",
        {"status": "scheduled"},
        {"status": "suspended"},
    )

    mark = await head(runtime)
    assert (await client.post(f"{base}/unsuspend", headers=headers)).status_code == 200
    row = await one_row(runtime, mark)
    assert (row.before, row.after) == ({"status": "suspended"}, {"status": "scheduled"})

    mark = await head(runtime)
    limits = {"max_stake": "5000.00"}
    assert (await client.patch(base, json=limits, headers=headers)).status_code == 200
    row = await one_row(runtime, mark)
    assert row.action == "sportsbook.event.update"
    assert (row.before, row.after) == ({"max_stake": None}, {"max_stake": 500_000})

    mark = await head(runtime)
    url = f"/api/admin/markets/{mid}/suspend"
    assert (await client.post(url, headers=headers)).status_code == 200
    row = await one_row(runtime, mark)
    assert (row.action, row.target_type, row.target_id) == (
        "sportsbook.market.suspend",
        "market",
        str(mid),
    )
    assert row.before == {"markets": {str(mid): {"status": "open"}}}
    assert row.after == {"event_id": eid, "markets": {str(mid): {"status": "suspended"}}}

    mark = await head(runtime)
    url = f"/api/admin/markets/{mid}/unsuspend"
    assert (await client.post(url, headers=headers)).status_code == 200
    assert (await one_row(runtime, mark)).action == "sportsbook.market.unsuspend"

    mark = await head(runtime)
    more = {
        "markets": [
            {
                "type": "over_under",
                "line": "3.5",
                "outcomes": [{"key": "over", "odds": "2.60"}, {"key": "under", "odds": "1.50"}],
            }
        ]
    }
    assert (await client.post(f"{base}/markets", json=more, headers=headers)).status_code == 201
    row = await one_row(runtime, mark)
    assert row.action == "sportsbook.markets.add" and row.before == {"markets": {}}
    (added,) = row.after["markets"].values()
    assert (added["type"], added["line_hundredths"], added["status"]) == ("over_under", 350, "open")

    mark = await head(runtime)
    result = {
        "markets": [
            {
                "market_id": mid,
                "outcomes": [
                    {"outcome_id": ids["home"], "result": "won"},
                    {"outcome_id": ids["draw"], "result": "lost"},
                    {"outcome_id": ids["away"], "result": "lost"},
                ],
            }
        ]
    }
    assert (await client.post(f"{base}/result", json=result, headers=headers)).status_code == 200
    row = await one_row(runtime, mark)
    assert row.action == "sportsbook.event.result"
    assert row.before["markets"][str(mid)]["status"] == "open"
    assert row.after["markets"][str(mid)]["status"] == "settled"
    assert row.after["markets"][str(mid)]["outcomes"][str(ids["home"])] == {"result": "won"}

    mark = await head(runtime)
    url = f"{base}/markets/{mid}/rollback-result"
    assert (await client.post(url, headers=headers)).status_code == 200
    row = await one_row(runtime, mark)
    assert row.action == "sportsbook.market.rollback_result"
    assert row.before["markets"][str(mid)]["outcomes"][str(ids["home"])] == {"result": "won"}
    assert row.after["markets"][str(mid)]["outcomes"][str(ids["home"])] == {"result": None}


async def test_a_refused_action_writes_nothing(client: httpx.AsyncClient, runtime: Runtime) -> None:
    _, headers = staff(runtime)
    mark = await head(runtime)
    assert (
        await client.post("/api/admin/events/999999999/suspend", headers=headers)
    ).status_code == 404
    assert (
        await client.post("/api/admin/markets/999999999/suspend", headers=headers)
    ).status_code == 404
    _, player = staff(runtime, Role.PLAYER)
    assert (
        await client.post("/api/admin/events", json=event_body(), headers=player)
    ).status_code == 403
    assert await rows_since(runtime, mark) == []


async def test_wallet_adjustment_is_audited_once(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    admin_id, headers = staff(runtime)
    user_id, _ = await funded_player(runtime, 50_00)
    body = {"amount": "-20.00", "reason": "goodwill reversal", "idempotency_key": uuid.uuid4().hex}
    mark = await head(runtime)
    url = f"/api/admin/wallets/{user_id}/adjustments"
    first = await client.post(url, json=body, headers=headers)
    assert first.status_code == 201
    assert (await client.post(url, json=body, headers=headers)).status_code == 200  # replay
    row = await one_row(runtime, mark)
    assert (row.action, row.target_type, row.target_id, row.actor_user_id) == (
        "ledger.adjustment",
        "user",
        str(user_id),
        admin_id,
    )
    assert row.before == {"balance": 50_00}
    assert row.after == {
        "balance": 30_00,
        "amount": -20_00,
        "currency": "KES",
        "reason": "goodwill reversal",
        "transfer_id": first.json()["transfer_id"],
    }


async def test_admin_create_is_audited_as_the_system(settings: Settings, runtime: Runtime) -> None:
    mark = await head(runtime)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE", "REDIS", "NATS"))}
    env.update(
        DATABASE_URL=settings.resolved_database_url() or "",
        REDIS_URL="redis://127.0.0.1:1/0",
        NATS_URL="nats://127.0.0.1:1",
    )
    phone = random_phone()
    done = await asyncio.to_thread(
        subprocess.run,
        [
            sys.executable,
            "-m",
            "letsbet",
            "admin",
            "create",
            "--phone",
            phone,
            "--password",
            "long-enough-1",
            "--country",
            "KE",
            "--role",
            "compliance",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    user_id = done.stdout.split()[-1]
    row = await one_row(runtime, mark)
    assert (row.action, row.target_id, row.actor_user_id, row.actor_role) == (
        "accounts.user.create",
        user_id,
        None,
        "system",
    )
    assert row.after == {"role": "compliance", "country": "KE", "status": "active"}
    assert phone not in str(row.after)


async def test_concurrent_staff_actions_keep_one_chain(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    _, headers = staff(runtime)
    events = [await create_event(client, runtime) for _ in range(4)]
    mark = await head(runtime)

    async def churn(event: dict[str, Any]) -> None:
        for verb in ("suspend", "unsuspend", "suspend", "unsuspend"):
            url = f"/api/admin/events/{event['id']}/{verb}"
            assert (await client.post(url, headers=headers)).status_code == 200

    await asyncio.gather(*(churn(e) for e in events))
    rows = await rows_since(runtime, mark)
    assert [r.seq for r in rows] == list(range(mark + 1, mark + 17))
    report = await service.verify(runtime.db)
    assert report.sound, report.summary()


async def test_list_filters_and_pages(client: httpx.AsyncClient, runtime: Runtime) -> None:
    admin_id, headers = staff(runtime)
    event = await create_event(client, runtime)
    for verb in ("suspend", "unsuspend", "suspend"):
        url = f"/api/admin/events/{event['id']}/{verb}"
        assert (await client.post(url, headers=headers)).status_code == 200
    _, compliance = staff(runtime, Role.COMPLIANCE)

    response = await client.get(
        "/api/admin/audit",
        params={"actor": str(admin_id), "limit": 2},
        headers=compliance,
    )
    assert response.status_code == 200
    page = response.json()
    assert [i["action"] for i in page["items"]] == [
        "sportsbook.event.suspend",
        "sportsbook.event.unsuspend",
    ]
    item = page["items"][0]
    assert item["actor"] == {"user_id": str(admin_id), "role": "admin"}
    assert item["target"] == {"type": "event", "id": str(event["id"])}
    assert len(item["hash"]) == 64 and item["request_id"] == headers["X-Request-ID"]
    rest = await client.get(
        "/api/admin/audit",
        params={"actor": str(admin_id), "limit": 2, "cursor": page["next_cursor"]},
        headers=compliance,
    )
    assert [i["action"] for i in rest.json()["items"]] == ["sportsbook.event.suspend"]
    assert rest.json()["next_cursor"] is None

    by_target = await client.get(
        "/api/admin/audit",
        params={
            "target_type": "event",
            "target_id": str(event["id"]),
            "action": ["sportsbook.event.unsuspend", "sportsbook.event.create"],
        },
        headers=headers,
    )
    assert [i["action"] for i in by_target.json()["items"]] == [
        "sportsbook.event.unsuspend",
        "sportsbook.event.create",
    ]
    since = item["occurred_at"]
    window = await client.get(
        "/api/admin/audit", params={"actor": str(admin_id), "from": since}, headers=headers
    )
    assert [i["seq"] for i in window.json()["items"]] == [item["seq"]]
    window = await client.get(
        "/api/admin/audit", params={"actor": str(admin_id), "to": since}, headers=headers
    )
    assert len(window.json()["items"]) == 2


async def test_list_refuses_players_and_bad_parameters(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    _, player = staff(runtime, Role.PLAYER)
    _, admin = staff(runtime)
    assert (await client.get("/api/admin/audit", headers=player)).status_code == 403
    assert (await client.get("/api/admin/audit")).status_code == 401
    for params, code in (
        ({"cursor": "not a cursor!"}, "invalid_cursor"),
        ({"cursor": "LTE"}, "invalid_cursor"),  # "-1"
        ({"limit": 0}, "validation_error"),
        ({"actor": "nobody"}, "validation_error"),
        ({"action": "DROP TABLE"}, "validation_error"),
        ({"from": "2026-01-01"}, "validation_error"),  # no time zone
        (
            {"from": "2026-02-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"},
            "invalid_date_range",
        ),
    ):
        response = await client.get("/api/admin/audit", params=params, headers=admin)
        assert response.status_code == 422, (params, response.text)
        assert response.json()["error"]["code"] == code


async def test_a_staff_lockout_is_audited_a_players_is_not(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    from letsbet.accounts.tables import users

    ids = {}
    for role in ("admin", "player"):
        phone = random_phone()
        body = {
            "phone": phone,
            "password": "long-enough-1",
            "country": "KE",
            "date_of_birth": "1990-01-01",
        }
        registered = await client.post("/api/auth/register", json=body)
        ids[role] = (uuid.UUID(registered.json()["id"]), phone)
    async with runtime.db.transaction() as conn:
        await conn.execute(
            sa.update(users).where(users.c.id == ids["admin"][0]).values(role="admin")
        )
    mark = await head(runtime)
    for role in ("admin", "player"):
        for _ in range(runtime.settings.login_max_failures + 1):
            await client.post(
                "/api/auth/login", json={"phone": ids[role][1], "password": "wrong-pass"}
            )
    row = await one_row(runtime, mark)
    assert (row.action, row.target_id, row.actor_user_id, row.actor_role) == (
        "accounts.staff.locked_out",
        str(ids["admin"][0]),
        None,
        "anonymous",
    )
    assert row.after == {
        "failures": runtime.settings.login_max_failures,
        "locked_seconds": runtime.settings.login_lockout_seconds,
    }


async def test_a_kyc_change_is_audited(client: httpx.AsyncClient, runtime: Runtime) -> None:
    admin_id, headers = staff(runtime)
    user_id, _ = await funded_player(runtime)
    mark = await head(runtime)
    url = f"/api/admin/users/{user_id}/kyc"
    response = await client.put(url, json={"verified": True}, headers=headers)
    assert response.status_code == 200 and response.json()["kyc_verified"] is True
    row = await one_row(runtime, mark)
    assert (row.action, row.target_type, row.target_id, row.actor_user_id) == (
        "accounts.kyc.set",
        "user",
        str(user_id),
        admin_id,
    )
    assert (row.before, row.after) == (
        {"kyc_status": "unverified", "kyc_verified": False},
        {"kyc_status": "verified", "kyc_verified": True, "reason": ""},
    )
    missing = await client.put(
        f"/api/admin/users/{uuid.uuid4()}/kyc", json={"verified": True}, headers=headers
    )
    assert missing.status_code == 404
    assert len(await rows_since(runtime, mark)) == 1
