"""Reality checks arrive on the player's bets socket at the player's chosen interval."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import orjson
import pytest
import sqlalchemy as sa
from websockets.asyncio.client import connect

from letsbet.compliance.responsible_gaming import reality
from letsbet.compliance.responsible_gaming.tables import rg_controls
from letsbet.platform.runtime import Runtime
from tests.sportsbook.bets.helpers import funded_player
from tests.sportsbook.live_server import api_server


async def test_reminders_count_the_minutes_played(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reality, "SECONDS_PER_MINUTE", 0.01)  # ten minutes in a tenth of a second
    user_id, headers = await funded_player(runtime)
    async with runtime.db.transaction() as conn:
        await conn.execute(
            sa.insert(rg_controls).values(
                user_id=user_id,
                country_code="KE",
                reality_check_minutes=10,
                updated_at=datetime.now(UTC),
            )
        )
    token = headers["Authorization"].removeprefix("Bearer ")
    async with api_server(runtime, odds_cache=False) as host:
        async with connect(f"ws://{host}/ws/bets") as socket:
            await socket.send(orjson.dumps({"action": "auth", "token": token}).decode())
            assert orjson.loads(await socket.recv())["type"] == "authenticated"
            frames = [orjson.loads(await asyncio.wait_for(socket.recv(), 5)) for _ in range(2)]
    assert [f["type"] for f in frames] == ["reality_check", "reality_check"]
    assert [f["minutes"] for f in frames] == [10, 20]
    assert "10 minutes" in frames[0]["message"]


async def test_the_interval_defaults_to_the_setting(runtime: Runtime) -> None:
    user_id, _ = await funded_player(runtime)
    assert await reality.interval_minutes(runtime, user_id) == 60
