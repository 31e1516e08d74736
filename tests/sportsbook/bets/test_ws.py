"""/ws/bets: frames and routing first, then real sockets on a real server with the real relay
and the settlement role's live-bet loop: REST bet → outbox → relay → NATS → channel → socket."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy.dialects.postgresql import insert
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from letsbet.accounts.domain import Role
from letsbet.accounts.tokens import TokenSigner
from letsbet.platform.bus.nats import Bus
from letsbet.platform.runtime import Runtime
from letsbet.sportsbook.bets import ws
from letsbet.sportsbook.bets.channel import BetChannel, bet_frame
from letsbet.sportsbook.bets.live import live_loop, process_due
from letsbet.sportsbook.catalogue.tables import sports
from tests.sportsbook.bets.helpers import bet_body, funded_player, post, settle_from_outbox
from tests.sportsbook.catalogue.helpers import admin_headers, create_event, market_id, outcome_ids
from tests.sportsbook.live_server import api_server

DEADLINE = 10.0
INSTANT = "ws_instant"  # a sport whose live bets are decided without a delay


# -- frames and routing ----------------------------------------------------------------------------
def _envelope(subject: str, data: dict[str, Any], event_id: str | None = None) -> dict[str, Any]:
    return {
        "id": event_id or str(uuid.uuid4()),
        "subject": subject,
        "occurred_at": "2026-03-01T12:00:00+00:00",
        "data": data,
    }


def test_bet_events_become_frames_with_amounts_in_major_units() -> None:
    user, bet = uuid.uuid4(), str(uuid.uuid4())
    placed = _envelope(
        "sportsbook.bet.placed",
        {
            "bet_id": bet,
            "user_id": str(user),
            "status": "pending",
            "currency": "KES",
            "total_stake": 10000,
            "potential_return": 21050,
            "event_ids": [7],
        },
        event_id="e1",
    )
    routed = bet_frame("sportsbook.bet.placed", placed)
    assert routed is not None and routed[0] == user
    assert orjson.loads(routed[1]) == {
        "type": "bet",
        "event": "placed",
        "event_id": "e1",
        "bet_id": bet,
        "status": "pending",
        "currency": "KES",
        "total_stake": "100.00",
        "potential_return": "210.50",
        "at": "2026-03-01T12:00:00+00:00",
    }
    settled = _envelope(
        "sportsbook.bet.settled",
        {
            "bet_id": bet,
            "user_id": str(user),
            "status": "won",
            "currency": "NGN",
            "total_stake": 10000,
            "return": 21050,
            "winnings_tax": 555,
            "payout": 20495,
        },
    )
    frame = orjson.loads(bet_frame("sportsbook.bet.settled", settled)[1])  # type: ignore[index]
    assert (frame["status"], frame["returned"], frame["winnings_tax"], frame["payout"]) == (
        "won",
        "210.50",
        "5.55",
        "204.95",
    )
    rejected = _envelope(
        "sportsbook.bet.rejected",
        {"bet_id": bet, "user_id": str(user), "reject_code": "odds_changed"},
    )
    frame = orjson.loads(bet_frame("sportsbook.bet.rejected", rejected)[1])  # type: ignore[index]
    assert (frame["status"], frame["reject_code"]) == ("rejected", "odds_changed")
    cashed = _envelope("sportsbook.bet.cashed_out", {"bet_id": bet, "user_id": str(user)})
    assert orjson.loads(bet_frame("sportsbook.bet.cashed_out", cashed)[1])["status"] == (  # type: ignore[index]
        "cashed_out"
    )
    # Events a player is not told about (no user) are not routed.
    assert bet_frame("sportsbook.bet.audited", _envelope("x", {"bet_id": bet})) is None


def _channel(queue_size: int = 64) -> BetChannel:
    return BetChannel(Bus("nats://127.0.0.1:1", name="test"), queue_size=queue_size)  # not started


def _placed(user: uuid.UUID, event_id: str | None = None) -> bytes:
    data = {"bet_id": str(uuid.uuid4()), "user_id": str(user), "status": "open"}
    return orjson.dumps(_envelope("sportsbook.bet.placed", data, event_id))


def test_channel_routes_by_player_to_every_socket_and_drops_republished_events() -> None:
    channel = _channel()
    alice, bob = uuid.uuid4(), uuid.uuid4()
    tab1, tab2, other = channel.join(alice), channel.join(alice), channel.join(bob)
    assert channel.dispatch("sportsbook.bet.placed", _placed(alice, "same")) == 2
    assert channel.dispatch("sportsbook.bet.placed", _placed(alice, "same")) == 0  # relay retry
    assert channel.dispatch("sportsbook.bet.placed", b"not json") == 0
    assert channel.dispatch("sportsbook.bet.placed", _placed(uuid.uuid4())) == 0
    assert tab1.queue.qsize() == tab2.queue.qsize() == 1 and other.queue.empty()
    channel.leave(tab1)
    assert channel.sockets(alice) == 1 and len(channel) == 2


def test_a_slow_socket_is_cut_off_and_the_others_keep_their_updates() -> None:
    channel = _channel(queue_size=2)
    alice = uuid.uuid4()
    slow, fast = channel.join(alice), channel.join(alice)
    for _ in range(5):
        channel.dispatch("sportsbook.bet.placed", _placed(alice))
        fast.queue.get_nowait()
    assert slow.cut_off and slow.queue.get_nowait() is None  # its writer closes the socket
    assert channel.sockets(alice) == 1 and not fast.cut_off


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("{oops", "invalid_json"),
        ("{}", "invalid_message"),
        ('{"action": "subscribe"}', "unknown_action"),
        ('{"action": "auth"}', "invalid_message"),
        ('{"action": "auth", "token": ""}', "invalid_message"),
        ('{"action": "ping", "pad": "' + "x" * 5000 + '"}', "invalid_message"),
    ],
)
def test_bad_messages_become_error_frames(raw: str, code: str) -> None:
    reply = ws.parse(raw)
    assert isinstance(reply, str) and orjson.loads(reply)["code"] == code


# -- real sockets ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
async def ws_url(runtime: Runtime) -> AsyncIterator[str]:
    async with runtime.db.transaction() as conn:
        await conn.execute(
            insert(sports)
            .values(id=INSTANT, name="Instant ball", live_delay_seconds=0, sort_order=900)
            .on_conflict_do_nothing()
        )
    async with api_server(runtime, odds_cache=False) as host:
        yield f"ws://{host}/ws/bets"


class Socket:
    def __init__(self, connection: ClientConnection) -> None:
        self.connection = connection

    async def send(self, **message: Any) -> None:
        await self.connection.send(orjson.dumps(message).decode())

    async def recv(self) -> dict[str, Any]:
        raw = await asyncio.wait_for(self.connection.recv(), timeout=DEADLINE)
        return dict(orjson.loads(raw))

    async def closed(self) -> tuple[int, str]:
        """Wait for the server to close the socket: (code, reason)."""
        with pytest.raises(ConnectionClosed) as caught:
            while True:
                await asyncio.wait_for(self.connection.recv(), timeout=DEADLINE)
        rcvd = caught.value.rcvd
        assert rcvd is not None
        return rcvd.code, rcvd.reason


@asynccontextmanager
async def _open(url: str, token: str | None = None) -> AsyncIterator[Socket]:
    async with connect(url) as connection:
        sock = Socket(connection)
        if token is not None:
            await sock.send(action="auth", token=token)
            hello = await sock.recv()
            assert hello["type"] == "authenticated", hello
        yield sock


def _token(headers: dict[str, str]) -> str:
    return headers["Authorization"].removeprefix("Bearer ")


async def _live_event(client: httpx.AsyncClient, runtime: Runtime, **extra: Any) -> dict[str, Any]:
    event = await create_event(client, runtime, **extra)
    response = await client.patch(
        f"/api/admin/events/{event['id']}", json={"status": "live"}, headers=admin_headers(runtime)
    )
    assert response.status_code == 200, response.text
    return event


async def test_a_live_bet_reaches_every_tab_of_its_player_pending_then_accepted(
    ws_url: str, client: httpx.AsyncClient, runtime: Runtime
) -> None:
    event = await _live_event(client, runtime, sport_id=INSTANT)
    _, headers = await funded_player(runtime, 1_000_00)
    _, stranger = await funded_player(runtime, 1_000_00)
    stop = asyncio.Event()
    deciding = asyncio.create_task(live_loop(runtime.db, stop, every=0.05))
    try:
        async with (
            _open(ws_url, _token(headers)) as tab1,
            _open(ws_url, _token(headers)) as tab2,
            _open(ws_url, _token(stranger)) as other,
        ):
            home = outcome_ids(event, "1x2")["home"]
            placed = await post(client, bet_body([(home, "2.10")]), headers)
            assert placed.status_code == 201, placed.text
            bet = placed.json()
            assert bet["status"] == "pending"
            for tab in (tab1, tab2):
                pending, accepted = await tab.recv(), await tab.recv()
                assert pending["event"] == "placed" and pending["status"] == "pending"
                assert pending["bet_id"] == accepted["bet_id"] == bet["id"]
                assert (pending["total_stake"], pending["potential_return"]) == (
                    "100.00",
                    "210.00",
                )
                assert (accepted["event"], accepted["status"]) == ("accepted", "open")
                assert accepted["currency"] == "KES" and accepted["total_stake"] == "100.00"
            # Both events went through the channel before tab1 saw them: anything for the
            # stranger would be queued ahead of this pong.
            await other.send(action="ping")
            assert await other.recv() == {"type": "pong"}
            rest = await client.get(f"/api/bets/{bet['id']}", headers=headers)
            assert rest.json()["status"] == "open"
    finally:
        stop.set()
        await deciding


async def test_a_rejected_live_bet_arrives_with_its_code_then_settlement(
    ws_url: str, client: httpx.AsyncClient, runtime: Runtime
) -> None:
    event = await _live_event(client, runtime)  # football: 5 s delay, decided below
    admin = admin_headers(runtime)
    _, headers = await funded_player(runtime, 1_000_00)
    ids = outcome_ids(event, "1x2")
    async with _open(ws_url, _token(headers)) as sock:
        kept = (await post(client, bet_body([(ids["home"], "2.10")]), headers)).json()
        refused = (await post(client, bet_body([(ids["away"], "3.25")]), headers)).json()
        assert [(await sock.recv())["bet_id"] for _ in range(2)] == [kept["id"], refused["id"]]
        moved = await client.patch(
            f"/api/admin/events/{event['id']}/odds",
            json={"outcomes": [{"outcome_id": ids["away"], "odds": "5.00"}]},
            headers=admin,
        )
        assert moved.status_code == 200, moved.text
        assert await process_due(runtime.db, now=datetime.now(UTC) + timedelta(seconds=6)) >= 2
        decided = {frame["bet_id"]: frame for frame in [await sock.recv(), await sock.recv()]}
        assert decided[kept["id"]]["status"] == "open"
        rejected = decided[refused["id"]]
        assert (rejected["event"], rejected["status"], rejected["reject_code"]) == (
            "rejected",
            "rejected",
            "odds_changed",
        )

        outcomes = [
            {"outcome_id": ids[key], "result": "won" if key == "home" else "lost"}
            for key in ("home", "draw", "away")
        ]
        resulted = await client.post(
            f"/api/admin/events/{event['id']}/result",
            json={"markets": [{"market_id": market_id(event, "1x2"), "outcomes": outcomes}]},
            headers=admin,
        )
        assert resulted.status_code == 200, resulted.text
        await settle_from_outbox(runtime, event["id"])
        settled = await sock.recv()
        rest = (await client.get(f"/api/bets/{kept['id']}", headers=headers)).json()
        assert (settled["event"], settled["bet_id"], settled["status"]) == (
            "settled",
            kept["id"],
            "won",
        )
        assert (settled["returned"], settled["payout"]) == (rest["returned"], rest["payout"])


async def test_bad_tokens_are_refused_with_4401(ws_url: str, runtime: Runtime) -> None:
    signer = runtime.signer
    user = uuid.uuid4()
    now = datetime.now(UTC)
    expired = signer.access_token(
        user_id=user, role=Role.PLAYER, country="KE", now=now - timedelta(hours=2)
    )
    refresh = signer.refresh_token(
        user_id=user, token_id=uuid.uuid4(), family_id=uuid.uuid4(), now=now
    )
    for token, reason in [
        ("not-a-token", "invalid_token"),
        (expired, "token_expired"),
        (refresh, "invalid_token"),  # a refresh token is not an access token
    ]:
        async with _open(ws_url) as sock:
            await sock.send(action="auth", token=token)
            assert await sock.closed() == (4401, reason)
    async with _open(ws_url) as sock:  # anything but auth first
        await sock.send(action="ping")
        assert await sock.closed() == (4401, "unauthorized")


async def test_a_logged_out_token_is_refused(ws_url: str, runtime: Runtime) -> None:
    _, headers = await funded_player(runtime)
    token = _token(headers)
    principal = runtime.signer.verify_access(token)
    await runtime.redis.set(f"auth:revoked:{principal.token_id}", 1, ex=60)
    async with _open(ws_url) as sock:
        await sock.send(action="auth", token=token)
        assert await sock.closed() == (4401, "token_revoked")


async def test_no_auth_in_time_closes_with_4408(
    ws_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ws, "AUTH_SECONDS", 0.2)
    async with _open(ws_url) as sock:
        assert await sock.closed() == (4408, "auth_timeout")


def _short_token(runtime: Runtime, user: uuid.UUID, seconds_left: int) -> str:
    """An access token of `user` that expires in about `seconds_left` seconds."""
    base = runtime.signer
    signer = TokenSigner(
        secret=base.secret,
        issuer=base.issuer,
        audience=base.audience,
        access_ttl=timedelta(seconds=seconds_left),
        refresh_ttl=base.refresh_ttl,
    )
    return signer.access_token(user_id=user, role=Role.PLAYER, country="KE", now=datetime.now(UTC))


async def test_the_socket_closes_when_its_token_expires(ws_url: str, runtime: Runtime) -> None:
    async with _open(ws_url, _short_token(runtime, uuid.uuid4(), 2)) as sock:
        assert await sock.closed() == (4401, "token_expired")


async def test_a_fresh_token_extends_the_session_and_another_players_closes_it(
    ws_url: str, runtime: Runtime
) -> None:
    user = uuid.uuid4()
    async with _open(ws_url, _short_token(runtime, user, 2)) as sock:
        await sock.send(action="auth", token=_short_token(runtime, user, 600))
        renewed = await sock.recv()
        assert renewed["type"] == "authenticated" and renewed["user_id"] == str(user)
        await sock.send(action="auth", token="garbage")
        assert (await sock.recv())["code"] == "invalid_token"  # the session goes on
        # Past the first token's expiry the socket is still open.
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(sock.connection.recv(), timeout=3)
        await sock.send(action="ping")
        assert await sock.recv() == {"type": "pong"}
        await sock.send(action="auth", token=_short_token(runtime, uuid.uuid4(), 600))
        assert await sock.closed() == (4403, "user_mismatch")


async def test_a_player_has_at_most_max_sockets(
    ws_url: str, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ws, "MAX_SOCKETS", 1)
    token = _short_token(runtime, uuid.uuid4(), 600)
    async with _open(ws_url, token), _open(ws_url) as second:
        await second.send(action="auth", token=token)
        assert await second.closed() == (4429, "too_many_sockets")


async def test_shutdown_closes_bet_sockets_with_1001(ws_url: str, runtime: Runtime) -> None:
    async with _open(ws_url, _short_token(runtime, uuid.uuid4(), 600)) as sock:
        assert await runtime.websockets.close_all() >= 1
        code, _ = await sock.closed()
        assert code == 1001
