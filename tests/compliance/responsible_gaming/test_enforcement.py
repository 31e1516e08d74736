"""Responsible gaming end to end: the API a player uses, and every betting path refusing with an
explicit code (sports bets over REST, crash bets through the games service)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from letsbet.accounts.tables import users
from letsbet.compliance import eligibility
from letsbet.compliance.responsible_gaming.tables import rg_controls, rg_history, rg_limits
from letsbet.errors import LetsbetError
from letsbet.platform.runtime import Runtime
from tests.crash.helpers import new_game
from tests.sportsbook.bets.helpers import bet_body, funded_player
from tests.sportsbook.catalogue.helpers import create_event, outcome_ids

RG = "/api/responsible-gaming"


async def _bet(client: httpx.AsyncClient, runtime: Runtime, headers: Any, stake: str) -> Any:
    event = await create_event(client, runtime)
    home = outcome_ids(event, "1x2")["home"]
    odds = next(
        o["odds"]
        for m in event["markets"]
        if m["type"] == "1x2"
        for o in m["outcomes"]
        if o["id"] == home
    )
    return await client.post("/api/bets", json=bet_body([(home, odds)], stake), headers=headers)


async def test_self_exclusion_is_at_once_and_cannot_be_lifted_or_shortened(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    user_id, headers = await funded_player(runtime)
    assert (await _bet(client, runtime, headers, "100.00")).status_code == 201
    excluded = await client.post(f"{RG}/self-exclusion", json={"months": 3}, headers=headers)
    assert excluded.status_code == 200, excluded.text
    body = excluded.json()
    assert body["self_excluded_permanently"] is False and body["self_excluded_until"]

    refused = await _bet(client, runtime, headers, "100.00")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "self_excluded"

    lift = await client.delete(f"{RG}/self-exclusion", headers=headers)
    assert lift.status_code == 409
    assert lift.json()["error"]["code"] == "exclusion_cannot_be_shortened"
    shorter = await client.post(f"{RG}/self-exclusion", json={"months": 1}, headers=headers)
    assert shorter.status_code == 409
    assert shorter.json()["error"]["code"] == "exclusion_cannot_be_shortened"
    # A crafted body cannot sneak a shorter period or both forms past the schema either.
    for bad in ({"months": 0}, {"months": 1, "permanent": True}, {}, {"until": "2020-01-01"}):
        response = await client.post(f"{RG}/self-exclusion", json=bad, headers=headers)
        assert response.status_code == 422, bad

    forever = await client.post(f"{RG}/self-exclusion", json={"permanent": True}, headers=headers)
    assert forever.status_code == 200 and forever.json()["self_excluded_permanently"] is True
    twelve = await client.post(f"{RG}/self-exclusion", json={"months": 12}, headers=headers)
    assert twelve.status_code == 409  # permanent is for good

    async with runtime.db.connect() as conn:
        controls = [
            r.control
            for r in await conn.execute(
                sa.select(rg_history.c.control)
                .where(rg_history.c.user_id == user_id)
                .order_by(rg_history.c.id)
            )
        ]
    assert controls == ["self_exclusion", "self_exclusion"]


async def test_a_time_out_blocks_bets_and_cannot_be_shortened(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    _, headers = await funded_player(runtime)
    paused = await client.post(f"{RG}/time-out", json={"hours": 48}, headers=headers)
    assert paused.status_code == 200, paused.text
    refused = await _bet(client, runtime, headers, "100.00")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "timed_out"
    shorter = await client.post(f"{RG}/time-out", json={"hours": 24}, headers=headers)
    assert shorter.status_code == 409
    assert shorter.json()["error"]["code"] == "timeout_cannot_be_shortened"
    for hours in (23, 1009):
        bad = await client.post(f"{RG}/time-out", json={"hours": hours}, headers=headers)
        assert bad.status_code == 422


async def test_loss_limit_counts_open_stakes_and_a_raise_cools(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    user_id, headers = await funded_player(runtime)
    limit = await client.put(f"{RG}/limits/loss/week", json={"amount": "250"}, headers=headers)
    assert limit.status_code == 200, limit.text
    assert (await _bet(client, runtime, headers, "200.00")).status_code == 201
    over = await _bet(client, runtime, headers, "100.00")
    assert over.status_code == 422
    assert over.json()["error"]["code"] == "loss_limit_reached"
    assert over.json()["error"]["details"] == {
        "period": "week",
        "limit": "250.00",
        "used": "200.00",
    }
    assert (await _bet(client, runtime, headers, "50.00")).status_code == 201

    removed = await client.put(f"{RG}/limits/loss/week", json={"amount": None}, headers=headers)
    assert removed.json()["limits"][0]["pending_removal"] is True
    assert (await _bet(client, runtime, headers, "10.00")).status_code == 422
    async with runtime.db.transaction() as conn:
        await conn.execute(
            sa.update(rg_limits)
            .where(rg_limits.c.user_id == user_id)
            .values(pending_from=datetime.now(UTC) - timedelta(seconds=1))
        )
    assert (await _bet(client, runtime, headers, "10.00")).status_code == 201


async def test_limit_requests_are_validated(client: httpx.AsyncClient, runtime: Runtime) -> None:
    _, headers = await funded_player(runtime)
    for path, body in (
        ("/limits/deposit/year", {"amount": "10"}),
        ("/limits/stake/day", {"amount": "10"}),
        ("/limits/loss/day", {"amount": "-5"}),
        ("/limits/loss/day", {"amount": "0"}),
        ("/limits/loss/day", {}),
        ("/reality-check", {"minutes": 5}),
    ):
        response = await client.put(f"{RG}{path}", json=body, headers=headers)
        assert response.status_code == 422, (path, body, response.text)
    assert (await client.get(RG)).status_code == 401


async def test_crash_bets_go_through_the_same_rules(runtime: Runtime) -> None:
    game = await new_game(runtime)
    await game.engine().step()
    user_id, _ = await funded_player(runtime)
    async with runtime.db.transaction() as conn:
        await conn.execute(
            sa.insert(rg_controls).values(
                user_id=user_id,
                country_code="KE",
                timeout_until=datetime.now(UTC) + timedelta(hours=24),
                updated_at=datetime.now(UTC),
            )
        )
    with pytest.raises(LetsbetError) as refused:
        await game.place(user_id, "10.00")
    assert refused.value.code == "timed_out"


@pytest.mark.parametrize(
    ("action", "allowed"),
    [
        (eligibility.Action.SPORTS_BET, False),
        (eligibility.Action.CRASH_BET, False),
        (eligibility.Action.DEPOSIT, False),
        (eligibility.Action.WITHDRAWAL, True),
    ],
)
async def test_self_exclusion_per_action(
    runtime: Runtime, action: eligibility.Action, allowed: bool
) -> None:
    user_id, _ = await funded_player(runtime)
    now = datetime.now(UTC)
    async with runtime.db.transaction() as conn:
        await conn.execute(
            sa.update(users).where(users.c.id == user_id).values(kyc_status="verified")
        )
        await conn.execute(
            sa.insert(rg_controls).values(
                user_id=user_id, country_code="KE", excluded_permanently=True, updated_at=now
            )
        )
    async with runtime.db.transaction() as conn:
        call = eligibility.check(
            conn,
            user_id=user_id,
            country="KE",
            action=action,
            allowed_countries=["KE"],
            amount=100_00,
        )
        if allowed:
            await call
        else:
            with pytest.raises(eligibility.SelfExcluded):
                await call


async def test_underage_and_unknown_accounts_are_refused(runtime: Runtime) -> None:
    user_id, _ = await funded_player(runtime)
    today = datetime.now(UTC).date()
    async with runtime.db.transaction() as conn:
        await conn.execute(
            sa.update(users)
            .where(users.c.id == user_id)
            .values(date_of_birth=today - timedelta(days=17 * 365))
        )
    async with runtime.db.transaction() as conn:
        with pytest.raises(eligibility.Underage):
            await eligibility.check(
                conn,
                user_id=user_id,
                country="KE",
                action=eligibility.Action.SPORTS_BET,
                allowed_countries=["KE"],
            )
        with pytest.raises(eligibility.NotEligible):
            await eligibility.check(
                conn,
                user_id=uuid.uuid4(),
                country="KE",
                action=eligibility.Action.DEPOSIT,
                allowed_countries=["KE"],
            )


async def test_the_check_is_one_statement_without_limits(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A player with no limit costs one read; one with a loss limit a lock and a fresh read."""
    from letsbet.platform.db import DriverSQL

    calls: list[str] = []
    original = DriverSQL.fetchrow

    async def counted(self: DriverSQL, conn: Any, values: Any) -> Any:
        calls.append(self.text)
        return await original(self, conn, values)

    monkeypatch.setattr(DriverSQL, "fetchrow", counted)
    user_id, _ = await funded_player(runtime)
    statements: list[str] = []
    for expected in (1, 2):
        calls.clear()
        statements.clear()
        async with runtime.db.transaction() as conn:
            sync = conn.sync_connection
            assert sync is not None
            sa.event.listen(sync, "before_cursor_execute", lambda *a: statements.append(a[2]))
            await eligibility.check(
                conn,
                user_id=user_id,
                country="KE",
                action=eligibility.Action.SPORTS_BET,
                allowed_countries=["KE"],
                amount=100,
            )
        assert len(calls) == expected
        assert len(statements) == expected - 1  # the lock, only with a limit
        if expected == 2:
            break
        async with runtime.db.transaction() as conn:
            await conn.execute(
                sa.insert(rg_limits).values(
                    user_id=user_id,
                    kind="loss",
                    period="day",
                    country_code="KE",
                    amount=1_000_00,
                    updated_at=datetime.now(UTC),
                )
            )
