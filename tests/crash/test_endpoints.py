"""Fairness and crash-game routes through the ASGI app on real servers: answers, visibility of
the crash point, and a stable 4xx code for every kind of bad input."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from letsbet.accounts.domain import Role
from letsbet.crash.curve import time_to_reach
from letsbet.crash.fairness import format_multiplier, previous_link
from letsbet.platform.runtime import Runtime
from tests.crash.helpers import SALT, Game, funded_players, new_game, step_until
from tests.crash.test_fairness import BUSTABIT_GAMES, BUSTABIT_SALT


@pytest.fixture
async def game(runtime: Runtime) -> AsyncIterator[Game]:
    """A game on a fresh chain, served by the app's crash commands with the game's clock."""
    made = await new_game(runtime, first=lambda p: p[0] >= 250)
    previous = runtime.extras.get("crash_games")
    runtime.extras["crash_games"] = made.games
    yield made
    if previous is None:
        runtime.extras.pop("crash_games", None)
    else:
        runtime.extras["crash_games"] = previous


def _headers(runtime: Runtime, user_id: uuid.UUID, country: str = "KE") -> dict[str, str]:
    token = runtime.signer.access_token(
        user_id=user_id, role=Role.PLAYER, country=country, now=datetime.now(UTC)
    )
    return {"Authorization": f"Bearer {token}"}


def _code(response: httpx.Response) -> str:
    return str(response.json()["error"]["code"])


# -- fairness --------------------------------------------------------------------------------------
@pytest.mark.parametrize(("game_hash", "expected"), BUSTABIT_GAMES)
async def test_verify_matches_bustabit(
    client: httpx.AsyncClient, game_hash: str, expected: str
) -> None:
    response = await client.post(
        "/api/fairness/verify", json={"game_hash": game_hash.upper(), "salt": BUSTABIT_SALT}
    )
    assert response.status_code == 200, response.text
    assert response.json() == {
        "game_hash": game_hash,
        "salt": BUSTABIT_SALT,
        "edge": 1.0,
        "crash_point": expected,
    }


async def test_verify_with_another_edge(client: httpx.AsyncClient) -> None:
    seed = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
    body = {"game_hash": seed, "salt": SALT, "edge": 5}
    response = await client.post("/api/fairness/verify", json=body)
    assert response.json()["crash_point"] == "23.69"  # hand-computed in test_fairness


@pytest.mark.parametrize(
    "body",
    [
        {"game_hash": "ab" * 31, "salt": "s"},
        {"game_hash": "zz" * 32, "salt": "s"},
        {"game_hash": "ab" * 32, "salt": ""},
        {"game_hash": "ab" * 32, "salt": "sél"},
        {"game_hash": "ab" * 32, "salt": "s", "edge": 100},
        {"game_hash": "ab" * 32, "salt": "s", "edge": -1},
        {"game_hash": "ab" * 32, "salt": "s", "edge": "lots"},
        {"game_hash": "ab" * 32, "salt": "s", "extra": 1},
        {"salt": "s"},
        [],
    ],
)
async def test_verify_refuses_bad_input(client: httpx.AsyncClient, body: Any) -> None:
    response = await client.post("/api/fairness/verify", json=body)
    assert response.status_code == 422 and _code(response) == "validation_error"


async def test_the_seeds_commitment_endpoint_stays(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/fairness/commitment", json={"server_seed": "my-seed"})
    assert response.json() == {"server_seed_hash": hashlib.sha256(b"my-seed").hexdigest()}
    assert _code(await client.post("/api/fairness/commitment", json={"server_seed": ""})) == (
        "validation_error"
    )


async def test_commitment_and_rounds_reveal_only_after_the_crash(
    client: httpx.AsyncClient, runtime: Runtime, game: Game
) -> None:
    commitment = await client.get("/api/fairness/commitment", params={"game_id": game.game_id})
    assert commitment.status_code == 200, commitment.text
    body = commitment.json()
    assert body["salt"] == SALT and body["edge"] == 1.0 and body["chain_length"] == game.length
    assert body["rounds_played"] == 0
    assert previous_link(game.game_hash(1)) == body["terminating_hash"]

    engine, clock = game.engine(), game.clock
    closes = await engine.step()
    current = await game.latest_round()
    hidden = (await client.get(f"/api/fairness/rounds/{current.id}")).json()
    assert hidden["game_hash"] is None and hidden["crash_point"] is None
    assert hidden["status"] == "betting" and hidden["round_number"] == 1
    state = (await client.get(f"/api/games/crash/{game.game_id}")).json()
    assert state["crash_point"] is None and state["game_hash"] is None
    assert state["status"] == "betting"

    clock.set(closes)
    await engine.step()
    clock.advance(milliseconds=1000)
    state = (await client.get(f"/api/games/crash/{game.game_id}")).json()
    assert (state["status"], state["elapsed_ms"], state["current_multiplier"]) == (
        "flying",
        1000,
        "1.06",
    )
    assert state["crash_point"] is None

    await step_until(engine, clock, "crashed")
    revealed = (await client.get(f"/api/fairness/rounds/{current.id}")).json()
    assert revealed["game_hash"] == game.game_hash(1)
    assert revealed["crash_point"] == format_multiplier(game.crash_points[0])
    verified = await client.post(
        "/api/fairness/verify", json={"game_hash": revealed["game_hash"], "salt": revealed["salt"]}
    )
    assert verified.json()["crash_point"] == revealed["crash_point"]
    commitment = await client.get("/api/fairness/commitment", params={"game_id": game.game_id})
    assert commitment.json()["rounds_played"] == 1


async def test_fairness_lookups_answer_4xx(client: httpx.AsyncClient) -> None:
    for path, status, code in [
        ("/api/fairness/rounds/999999999", 404, "round_not_found"),
        ("/api/fairness/rounds/0", 422, "validation_error"),
        ("/api/fairness/rounds/99999999999999999999", 422, "validation_error"),
        ("/api/fairness/rounds/abc", 422, "validation_error"),
        ("/api/fairness/commitment?game_id=nope", 404, "game_not_found"),
        ("/api/fairness/commitment?game_id=BAD!", 422, "validation_error"),
    ]:
        response = await client.get(path)
        assert (response.status_code, _code(response)) == (status, code), path


# -- games -----------------------------------------------------------------------------------------
async def test_bet_cash_out_history_and_leaderboard(
    client: httpx.AsyncClient, runtime: Runtime, game: Game
) -> None:
    engine, clock = game.engine(), game.clock
    (player,) = await funded_players(runtime, 1)
    headers = _headers(runtime, player)
    closes = await engine.step()
    body = {"amount": "100.00", "auto_cashout": "5000.00", "idempotency_key": "k1"}
    placed = await client.post(f"/api/games/crash/{game.game_id}/bets", json=body, headers=headers)
    assert placed.status_code == 201, placed.text
    bet = placed.json()
    assert (bet["status"], bet["amount"], bet["auto_cashout"], bet["currency"]) == (
        "active",
        "100.00",
        "5000.00",
        "KES",
    )
    again = await client.post(f"/api/games/crash/{game.game_id}/bets", json=body, headers=headers)
    assert again.status_code == 200 and again.json()["replayed"] and again.json()["id"] == bet["id"]

    round_bets = (await client.get(f"/api/games/crash/rounds/{bet['round_id']}/bets")).json()
    assert [b["bet_id"] for b in round_bets["items"]] == [bet["id"]]
    assert str(player) not in str(round_bets)  # players are shown by alias only

    clock.set(closes)
    await engine.step()
    clock.set(closes + timedelta(milliseconds=time_to_reach(150)))
    cashed = await client.post(f"/api/games/crash/bets/{bet['id']}/cashout", headers=headers)
    assert cashed.status_code == 200, cashed.text
    assert (cashed.json()["cashout_multiplier"], cashed.json()["payout"]) == ("1.50", "150.00")
    assert cashed.json()["game_id"] == game.game_id

    await step_until(engine, clock, "crashed")
    history = (await client.get(f"/api/games/crash/{game.game_id}/history")).json()
    assert history["items"][0]["crash_point"] == format_multiplier(game.crash_points[0])
    assert history["items"][0]["bets"] == 1 and history["next_before"] is None
    board = await client.get(f"/api/games/crash/{game.game_id}/leaderboard")
    assert board.status_code == 200, board.text
    assert board.json()["items"][0]["profit"] == "50.00"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"amount": 10.5, "idempotency_key": "k"}, "validation_error"),
        ({"amount": "10.00"}, "validation_error"),
        ({"amount": "0", "idempotency_key": "k"}, "invalid_amount"),
        ({"amount": "-5", "idempotency_key": "k"}, "invalid_amount"),
        (
            {"amount": "10.00", "auto_cashout": "1.00", "idempotency_key": "k"},
            "invalid_auto_cashout",
        ),
        ({"amount": "10.00", "auto_cashout": 2.5, "idempotency_key": "k"}, "validation_error"),
        ({"amount": "0.10", "idempotency_key": "k"}, "stake_below_minimum"),
        ({"amount": "999.00", "idempotency_key": "k"}, "betting_closed"),
    ],
)
async def test_bet_refusals_have_codes(
    client: httpx.AsyncClient, runtime: Runtime, game: Game, body: dict[str, Any], code: str
) -> None:
    (player,) = await funded_players(runtime, 1)
    response = await client.post(
        f"/api/games/crash/{game.game_id}/bets", json=body, headers=_headers(runtime, player)
    )
    assert 400 <= response.status_code < 500 and _code(response) == code, response.text


async def test_games_routes_answer_4xx(
    client: httpx.AsyncClient, runtime: Runtime, game: Game
) -> None:
    (player,) = await funded_players(runtime, 1)
    headers = _headers(runtime, player)
    bet = {"amount": "10.00", "idempotency_key": "k"}
    for method, path, json, status, code in [
        ("GET", "/api/games/crash/nope", None, 404, "game_not_found"),
        ("GET", f"/api/games/crash/{game.game_id}", None, 404, "round_not_found"),
        ("GET", "/api/games/crash/Bad!Id", None, 422, "validation_error"),
        ("GET", "/api/games/crash/nope/history", None, 404, "game_not_found"),
        ("GET", f"/api/games/crash/{game.game_id}/history?limit=0", None, 422, "validation_error"),
        ("GET", f"/api/games/crash/{game.game_id}/history?before=x", None, 422, "validation_error"),
        ("GET", "/api/games/crash/rounds/424242424242/bets", None, 404, "round_not_found"),
        (
            "GET",
            f"/api/games/crash/{game.game_id}/leaderboard?currency=k",
            None,
            422,
            "validation_error",
        ),
        (
            "GET",
            f"/api/games/crash/{game.game_id}/leaderboard?currency=USD",
            None,
            422,
            "unknown_currency",
        ),
        ("POST", "/api/games/crash/nope/bets", bet, 404, "game_not_found"),
        ("POST", f"/api/games/crash/bets/{uuid.uuid4()}/cashout", None, 404, "bet_not_found"),
        ("POST", "/api/games/crash/bets/not-a-uuid/cashout", None, 422, "validation_error"),
    ]:
        response = await client.request(method, path, json=json, headers=headers)
        assert (response.status_code, _code(response)) == (status, code), path
    anonymous = await client.post(f"/api/games/crash/{game.game_id}/bets", json=bet)
    assert anonymous.status_code == 401
