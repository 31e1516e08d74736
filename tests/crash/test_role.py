"""The `games` role as an operator runs it: `letsbet serve api relay games` plays rounds of the
configured game on its chain, takes a bet over HTTP, settles it, and stops cleanly on SIGTERM."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from letsbet.accounts.domain import Role
from letsbet.platform.config import Settings
from letsbet.platform.runtime import Runtime
from tests.crash.helpers import SALT, funded_players, new_game
from tests.e2e.test_run import _external_env, _stop, letsbet
from tests.support import free_port

pytestmark = pytest.mark.slow


def _poll(get: Callable[[], Any], timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = get()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


async def test_serve_games_plays_rounds_and_settles_bets(
    settings: Settings, runtime: Runtime, tmp_path: Path
) -> None:
    game = await new_game(runtime, first=lambda points: all(p <= 130 for p in points), look_ahead=4)
    (player,) = await funded_players(runtime, 1)
    token = runtime.signer.access_token(
        user_id=player, role=Role.PLAYER, country="KE", now=datetime.now(UTC)
    )
    port = free_port()
    env = _external_env(
        settings,
        port,
        CRASH_GAMES=f"{game.game_id}:{SALT}",
        CRASH_BETTING_WINDOW_SECONDS="2",
        CRASH_COOLDOWN_SECONDS="0",
    )
    await asyncio.to_thread(_play, env, tmp_path, port, game.game_id, token)


def _play(env: dict[str, str], cwd: Path, port: int, game_id: str, token: str) -> None:
    base = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {token}"}
    with letsbet("serve", "api", "relay", "games", env=env, cwd=cwd, port=port) as process:

        def placed() -> dict[str, object] | None:
            current = httpx.get(f"{base}/api/games/crash/{game_id}")
            if current.status_code != 200 or current.json()["status"] != "betting":
                return None
            body = {"amount": "10.00", "auto_cashout": "1.01", "idempotency_key": uuid.uuid4().hex}
            answer = httpx.post(
                f"{base}/api/games/crash/{game_id}/bets", json=body, headers=headers
            )
            return answer.json() if answer.status_code == 201 else None

        bet = _poll(placed)
        assert isinstance(bet, dict)

        def settled() -> dict[str, object] | None:
            bets = httpx.get(f"{base}/api/games/crash/rounds/{bet['round_id']}/bets").json()
            mine = next(b for b in bets["items"] if b["bet_id"] == bet["id"])
            return mine if mine["status"] != "active" else None

        outcome = _poll(settled)
        assert isinstance(outcome, dict) and outcome["status"] in ("cashed_out", "lost")
        history = _poll(
            lambda: httpx.get(f"{base}/api/games/crash/{game_id}/history").json()["items"]
        )
        assert all(len(r["game_hash"]) == 64 for r in history)
        metrics = httpx.get(f"{base}/metrics").text
        assert f'letsbet_crash_leader{{game_id="{game_id}"}} 1.0' in metrics
        output = _stop(process)
    assert "crash.leading" in output
