"""/ws/games/{game_id} end to end: real WebSocket clients on a real api server, rounds driven by
a real engine whose clock the tests move (and one on the real clock for the tick cadence):
engine → NATS → the api process's hub → sockets, and commands → ledger → replies."""

from __future__ import annotations

import asyncio
import itertools
import socket
import statistics
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest
import sqlalchemy as sa
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from letsbet.accounts.domain import Role
from letsbet.accounts.tables import users
from letsbet.compliance.responsible_gaming.tables import rg_controls
from letsbet.crash import feed, ws
from letsbet.crash.config import GameConfig
from letsbet.crash.curve import time_to_reach
from letsbet.crash.domain import player_alias
from letsbet.crash.engine import GameRunner, RoundEngine
from letsbet.crash.fairness import crash_point, format_multiplier, previous_link
from letsbet.crash.games import CrashGames
from letsbet.ledger.reconcile import check
from letsbet.platform.runtime import Runtime
from tests.crash.helpers import SALT, Game, ManualClock, balance, funded_players, new_game
from tests.sportsbook.live_server import api_server
from tests.support import poll_until

DEADLINE = 10.0


@dataclass
class Server:
    host: str
    games: dict[str, GameConfig]
    clock: ManualClock

    def url(self, game_id: str, token: str | None = None) -> str:
        query = f"?token={token}" if token else ""
        return f"ws://{self.host}/ws/games/{game_id}{query}"

    async def game(self, runtime: Runtime, **config: Any) -> Game:
        game = await new_game(runtime, self.clock, **config)
        self.games[game.game_id] = game.config
        return game


@pytest.fixture(scope="module")
async def server(runtime: Runtime) -> AsyncIterator[Server]:
    """The api server with crash commands on a clock the tests move, for games they add."""
    clock = ManualClock()
    configs: dict[str, GameConfig] = {}
    saved = {key: runtime.extras.pop(key, None) for key in ("crash_games", "crash_live")}
    runtime.extras["crash_games"] = CrashGames(runtime, games=configs, clock=clock)
    try:
        async with api_server(runtime, odds_cache=False) as host:
            yield Server(host, configs, clock)
    finally:
        live = runtime.extras.pop("crash_live", None)
        if isinstance(live, ws.Live):
            await live.hub.stop()
        runtime.extras.pop("crash_games", None)
        runtime.extras.update({key: value for key, value in saved.items() if value is not None})


def _token(runtime: Runtime, user_id: uuid.UUID) -> str:
    return runtime.signer.access_token(
        user_id=user_id, role=Role.PLAYER, country="KE", now=datetime.now(UTC)
    )


class Socket:
    """A client that keeps every frame it read, so tests can look back at what arrived."""

    def __init__(self, connection: ClientConnection) -> None:
        self.connection = connection
        self.frames: list[dict[str, Any]] = []
        self.state: dict[str, Any] = {}

    async def send(self, **message: Any) -> None:
        await self.connection.send(orjson.dumps(message).decode())

    async def recv(self) -> dict[str, Any]:
        raw = await asyncio.wait_for(self.connection.recv(), timeout=DEADLINE)
        frame = dict(orjson.loads(raw))
        self.frames.append(frame)
        return frame

    async def next(self, kind: str, **fields: Any) -> dict[str, Any]:
        """The next frame of `kind` with these fields (frames in between are kept)."""
        while True:
            frame = await self.recv()
            if frame["type"] == kind and all(frame.get(k) == v for k, v in fields.items()):
                return frame

    def seen(self, kind: str) -> list[dict[str, Any]]:
        return [f for f in self.frames if f["type"] == kind]

    async def auth(self, token: str) -> dict[str, Any]:
        await self.send(action="auth", token=token)
        hello = await self.next("authenticated")
        return await self.next("balance") | {"user_id": hello["user_id"]}

    async def bet(self, amount: str, auto: str | None = None, key: str | None = None) -> Any:
        message: dict[str, Any] = {"amount": amount, "idempotency_key": key or uuid.uuid4().hex}
        if auto is not None:
            message["auto_cashout"] = auto
        await self.send(action="place_bet", **message)
        while True:
            frame = await self.recv()
            if frame["type"] in ("bet_confirmed", "bet_rejected", "error"):
                return frame

    async def cash_out(self, bet_id: str) -> dict[str, Any]:
        await self.send(action="cashout", bet_id=bet_id)
        while True:
            frame = await self.recv()
            if frame["type"] in ("cashout_confirmed", "bet_rejected", "error"):
                return frame

    async def synced(self) -> None:
        """Every frame the hub queued for this socket before now has been read."""
        await self.send(action="ping")
        await self.next("pong")

    async def closed(self) -> tuple[int, str]:
        with pytest.raises(ConnectionClosed) as caught:
            while True:
                await asyncio.wait_for(self.connection.recv(), timeout=DEADLINE)
        rcvd = caught.value.rcvd
        assert rcvd is not None
        return rcvd.code, rcvd.reason


@asynccontextmanager
async def _open(url: str, **options: Any) -> AsyncIterator[Socket]:
    async with connect(url, **options) as connection:
        sock = Socket(connection)
        sock.state = await sock.recv()
        assert sock.state["type"] == "round_state", sock.state
        if "token=" in url:
            await sock.next("authenticated")
            await sock.next("balance")
        yield sock


def _at(closes: datetime, multiplier: int) -> datetime:
    return closes + timedelta(milliseconds=time_to_reach(multiplier))


# -- a round -----------------------------------------------------------------------------------
async def test_a_round_played_over_websockets(server: Server, runtime: Runtime) -> None:
    game = await server.game(runtime, first=lambda p: 300 <= p[0] <= 5000)
    crash, clock, engine = game.crash_points[0], server.clock, game.engine()
    alice, bob = await funded_players(runtime, 2)
    closes = await engine.step()  # the round opens: betting window
    async with (
        _open(server.url(game.game_id, _token(runtime, alice))) as a,
        _open(server.url(game.game_id)) as b,
        _open(server.url(game.game_id)) as spectator,
    ):
        state = spectator.state
        assert (state["phase"], state["betting_closes_at"], state["bets"]) == (
            "betting",
            closes.isoformat(),
            [],
        )
        assert state["crash_point"] is None and state["game_hash"] is None
        assert (await b.auth(_token(runtime, bob)))["available"] == "1000.00"

        # Bets in the window: confirmed to the player with the new balance, public to all.
        first = await a.bet("10.00", key="alice-1")
        assert (first["type"], first["amount"], first["currency"], first["replayed"]) == (
            "bet_confirmed",
            "10.00",
            "KES",
            False,
        )
        assert (await a.next("balance"))["available"] == "990.00"
        again = await a.bet("10.00", key="alice-1")  # a retry is the same bet
        assert (again["bet_id"], again["replayed"]) == (first["bet_id"], True)
        riding = await a.bet("10.00")
        auto = await b.bet("20.00", auto="1.50")
        assert auto["auto_cashout"] == "1.50"
        assert (await b.next("balance"))["available"] == "980.00"
        for bet in (first, riding, auto):
            placed = await spectator.next("bet_placed", bet_id=bet["bet_id"])
            assert placed["round_id"] == state["round_id"]
        assert placed["player"] == player_alias(bob) and placed["amount"] == "20.00"
        refused = await spectator.bet("5.00")
        assert (refused["type"], refused["code"]) == ("error", "unauthenticated")

        clock.set(closes)
        await engine.step()  # take-off
        for sock in (a, b, spectator):
            await sock.next("round_started", round_id=state["round_id"])
        late = await a.bet("10.00")
        assert (late["type"], late["code"]) == ("bet_rejected", "betting_closed")

        # The engine cashes Bob out at 1.50: only Bob's sockets hear it privately.
        clock.set(_at(closes, 150))
        await engine.step()
        mine = await b.next("cashout_confirmed", bet_id=auto["bet_id"])
        assert (mine["multiplier"], mine["payout"], mine["kind"]) == ("1.50", "30.00", "auto")
        assert (await b.next("balance"))["available"] == "1010.00"
        for sock in (a, spectator):
            public = await sock.next("cashed_out", bet_id=auto["bet_id"])
            assert (public["multiplier"], public["payout"]) == ("1.50", "30.00")
            await sock.synced()
            assert sock.seen("cashout_confirmed") == []

        # Alice cashes out by hand at the server's multiplier of the moment.
        clock.set(_at(closes, 200))
        done = await a.cash_out(first["bet_id"])
        assert (done["type"], done["multiplier"], done["payout"], done["kind"]) == (
            "cashout_confirmed",
            "2.00",
            "20.00",
            "manual",
        )
        assert (await a.next("balance"))["available"] == "1000.00"
        await spectator.next("cashed_out", bet_id=first["bet_id"])

        # The crash reveals the hash, which leads to the published commitment.
        clock.set(_at(closes, crash))
        await engine.step()
        crashed = await spectator.next("crashed", round_id=state["round_id"])
        assert crashed["crash_point"] == format_multiplier(crash)
        assert crash_point(crashed["game_hash"], SALT, 1.0) == crash
        async with httpx.AsyncClient(base_url=f"http://{server.host}") as client:
            commitment = await client.get(f"/api/fairness/commitment?game_id={game.game_id}")
        assert previous_link(crashed["game_hash"]) == commitment.json()["terminating_hash"]
        before = spectator.frames[: spectator.frames.index(crashed)]
        assert not any(f.get("crash_point") or f.get("game_hash") for f in before)
        assert spectator.seen("tick")  # the flight was shown

        # Too late: the riding bet lost with the crash.
        too_late = await a.cash_out(riding["bet_id"])
        assert (too_late["type"], too_late["code"], too_late["bet_id"]) == (
            "bet_rejected",
            "round_crashed",
            riding["bet_id"],
        )
    assert await balance(runtime, alice) == 1000_00 - 10_00 - 10_00 + 20_00
    assert await balance(runtime, bob) == 1000_00 - 20_00 + 30_00


async def test_a_bet_stays_and_settles_after_its_socket_leaves(
    server: Server, runtime: Runtime
) -> None:
    game = await server.game(runtime, first=lambda p: 200 <= p[0] <= 5000)
    crash, clock, engine = game.crash_points[0], server.clock, game.engine()
    [player] = await funded_players(runtime, 1)
    closes = await engine.step()
    async with _open(server.url(game.game_id, _token(runtime, player))) as sock:
        auto = await sock.bet("10.00", auto="1.80")
        lost = await sock.bet("10.00")
        clock.set(closes)
        await engine.step()
        await sock.next("round_started")
    clock.set(_at(closes, crash) + timedelta(seconds=1))  # nobody is watching any more
    await engine.step()
    assert (await game.bet(uuid.UUID(auto["bet_id"]))).status == "cashed_out"
    assert (await game.bet(uuid.UUID(lost["bet_id"]))).status == "lost"
    assert await balance(runtime, player) == 1000_00 - 20_00 + 18_00
    assert (await check(runtime.db)).sound


async def test_a_late_joiner_sees_the_flight_but_not_where_it_ends(
    server: Server, runtime: Runtime
) -> None:
    game = await server.game(runtime, first=lambda p: 200 <= p[0] <= 5000)
    clock, engine = server.clock, game.engine()
    [player] = await funded_players(runtime, 1)
    closes = await engine.step()
    bet = await game.place(player, "25.00")
    clock.set(closes)
    await engine.step()
    clock.set(_at(closes, 150))
    async with _open(server.url(game.game_id)) as spectator:
        state = spectator.state
        assert (state["phase"], state["elapsed_ms"], state["current_multiplier"]) == (
            "flying",
            time_to_reach(150),
            "1.50",
        )
        assert state["crash_point"] is None and state["game_hash"] is None
        assert state["bets"] == [
            {
                "bet_id": str(bet.id),
                "player": player_alias(player),
                "amount": "25.00",
                "currency": "KES",
                "status": "active",
                "multiplier": None,
                "payout": None,
            }
        ]
        # A spectator watches only.
        for action, fields in (("place_bet", {"amount": "1", "idempotency_key": "k"}),
                               ("cashout", {"bet_id": str(bet.id)})):  # fmt: skip
            await spectator.send(action=action, **fields)
            assert (await spectator.next("error"))["code"] == "unauthenticated"
        await engine.step()
        tick = await spectator.next("tick")
        assert tick["current_multiplier"] == "1.50" and isinstance(tick["server_time"], int)


# -- bad input and refusals ----------------------------------------------------------------------
async def test_malformed_frames_get_error_frames_and_the_socket_stays_open(
    server: Server, runtime: Runtime
) -> None:
    game = await server.game(runtime)
    [player] = await funded_players(runtime, 1)
    async with _open(server.url(game.game_id, _token(runtime, player))) as sock:
        assert sock.state["phase"] == "idle"  # no round yet
        for raw, code in [
            ("{not json", "invalid_json"),
            ("[]", "invalid_message"),
            ('{"action": "dance"}', "unknown_action"),
            ('{"action": "cashout", "bet_id": 7}', "invalid_message"),
            ('{"action": "place_bet", "amount": 1.5, "idempotency_key": "k"}', "invalid_message"),
            (b"\x00\x01", "invalid_json"),
        ]:
            await sock.connection.send(raw)
            reply = await sock.next("error")
            assert reply["code"] == code, (raw, reply)
        refused = await sock.bet("10.00", auto="0.50")
        assert (refused["type"], refused["code"]) == ("bet_rejected", "invalid_auto_cashout")
        refused = await sock.bet("10.00")
        assert refused["code"] == "betting_closed"  # no round open
        unknown = await sock.cash_out(str(uuid.uuid4()))
        assert unknown["code"] == "bet_not_found"
        await sock.synced()  # still open


async def test_refusals_at_connect_close_with_a_clear_code(
    server: Server, runtime: Runtime
) -> None:
    game = await server.game(runtime)
    for url, expected in [
        (server.url("no-such-game"), (4404, "game_not_found")),
        (server.url(game.game_id, "not-a-token"), (4401, "invalid_token")),
    ]:
        async with connect(url) as connection:
            with pytest.raises(ConnectionClosed) as caught:
                await asyncio.wait_for(connection.recv(), timeout=DEADLINE)
            rcvd = caught.value.rcvd
            assert rcvd is not None and (rcvd.code, rcvd.reason) == expected
    async with _open(server.url(game.game_id)) as sock:  # a bad auth message closes too
        await sock.send(action="auth", token="garbage")
        assert await sock.closed() == (4401, "invalid_token")


async def test_an_ineligible_player_is_refused_by_the_bet_service(
    server: Server, runtime: Runtime
) -> None:
    game = await server.game(runtime)
    [player] = await funded_players(runtime, 1)
    await game.engine().step()
    async with runtime.db.transaction() as conn:
        await conn.execute(sa.update(users).where(users.c.id == player).values(status="suspended"))
    async with _open(server.url(game.game_id, _token(runtime, player))) as sock:
        refused = await sock.bet("10.00")
        assert (refused["type"], refused["code"]) == ("bet_rejected", "player_not_eligible")
    assert await balance(runtime, player) == 1000_00


async def test_a_self_excluded_player_is_refused_on_the_socket(
    server: Server, runtime: Runtime
) -> None:
    """Crash sockets refuse bets of a self-excluded player (responsible gaming)."""
    game = await server.game(runtime)
    [player] = await funded_players(runtime, 1)
    await game.engine().step()
    async with runtime.db.transaction() as conn:
        await conn.execute(
            sa.insert(rg_controls).values(
                user_id=player,
                country_code="KE",
                excluded_permanently=True,
                updated_at=datetime.now(UTC),
            )
        )
    async with _open(server.url(game.game_id, _token(runtime, player))) as sock:
        refused = await sock.bet("10.00")
        assert (refused["type"], refused["code"]) == ("bet_rejected", "self_excluded")
    assert await balance(runtime, player) == 1000_00


async def test_commands_are_rate_limited_per_socket(server: Server, runtime: Runtime) -> None:
    game = await server.game(runtime)
    async with _open(server.url(game.game_id)) as flooding, _open(server.url(game.game_id)) as calm:
        for _ in range(ws.BURST + 5):
            await flooding.send(action="ping")
        replies = [(await flooding.recv())["type"] for _ in range(ws.BURST + 5)]
        assert replies.count("pong") == ws.BURST
        assert flooding.seen("error")[0]["code"] == "rate_limited"
        await calm.synced()  # another socket has its own budget


# -- fan-out -------------------------------------------------------------------------------------
async def test_frames_go_straight_to_the_transport_under_the_pinned_uvicorn(
    server: Server, runtime: Runtime
) -> None:
    """wire.py reaches into uvicorn's websockets-sansio protocol: this fails if that changed
    (the fan-out would quietly fall back to send_text, several times the CPU per socket)."""
    game = await server.game(runtime)
    [player] = await funded_players(runtime, 1)
    live = ws.crash_live(runtime)
    nc = runtime.bus.nc
    assert nc is not None
    async with _open(server.url(game.game_id, _token(runtime, player))) as sock:
        [seat] = live.hub.seats(game.game_id)
        assert seat.raw is not None and seat.queue.empty()
        # Public frames, private frames and replies interleaved reach the socket in order.
        expected: list[tuple[str, int | None]] = []
        for n in range(6):
            kind = "mine" if n % 3 == 1 else "bet_placed"
            frame = {"type": kind, "game_id": game.game_id, "n": n}
            if kind == "mine":
                envelope = {"user_id": str(player), "frame": frame}
                await nc.publish(feed.private_subject(game.game_id), orjson.dumps(envelope))
            else:
                await nc.publish(feed.subject(game.game_id), orjson.dumps(frame))
            await sock.next(kind, n=n)
            await sock.send(action="ping")
            await sock.next("pong")
            expected += [(kind, n), ("pong", None)]
        assert [(f["type"], f.get("n")) for f in sock.frames[3:]] == expected


async def test_ticks_arrive_every_100_to_150_ms_on_the_real_clock(
    server: Server, runtime: Runtime
) -> None:
    game = await server.game(
        runtime,
        first=lambda p: 130 <= p[0] <= 160,  # a flight of 4-8 s
        betting_window=timedelta(milliseconds=300),
    )
    engine = RoundEngine(
        runtime.db,
        game.config,
        feed=feed.NatsFeed(runtime.bus),
        reader=game.engine().reader,
        redis=runtime.redis,
    )
    stop = asyncio.Event()
    async with _open(server.url(game.game_id)) as spectator:
        runner = asyncio.create_task(GameRunner(engine).run(stop))
        try:
            arrivals: list[tuple[float, dict[str, Any]]] = []
            while True:
                frame = await spectator.recv()
                if frame["type"] == "tick":
                    arrivals.append((time.monotonic(), frame))
                if frame["type"] == "crashed":
                    break
        finally:
            stop.set()
            await runner
    elapsed = [frame["elapsed_ms"] for _, frame in arrivals]
    steps = [b - a for a, b in itertools.pairwise(elapsed)]
    # Ticks on the server's 100 ms grid (elapsed_ms is when each step ran, a few ms late).
    assert len(steps) >= 30 and 90 <= statistics.median(steps) <= 150, steps
    assert sum(1 for step in steps if 50 <= step <= 200) >= 0.9 * len(steps), steps
    gaps = [(b - a) * 1000 for (a, _), (b, _) in itertools.pairwise(arrivals)]
    assert 90 <= statistics.median(gaps) <= 150, gaps  # and so they arrive
    assert crash_point(frame["game_hash"], SALT, 1.0) == game.crash_points[0]


async def test_a_slow_client_is_dropped_without_delaying_the_others(
    server: Server, runtime: Runtime
) -> None:
    game = await server.game(runtime)
    live = ws.crash_live(runtime)
    nc = runtime.bus.nc
    assert nc is not None
    pad = "x" * 100_000  # frames big enough to fill the socket buffers quickly
    count = 300
    # The slow client reads nothing and lets the network push back: it stops taking frames off
    # its socket (max_queue=1), whose receive buffer is small (no autotuning up to megabytes),
    # and without compression (the padding would shrink to nothing).
    host, port = server.host.split(":")
    tight = socket.socket()
    tight.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16_384)
    tight.connect((host, int(port)))
    tight.setblocking(False)
    async with (
        _open(server.url(game.game_id), sock=tight, max_queue=1, compression=None) as slow,
        _open(server.url(game.game_id)) as fast,
    ):
        assert live.hub.watchers(game.game_id) == 2
        for n in range(count):
            payload = {"type": "bet_placed", "game_id": game.game_id, "n": n, "pad": pad}
            await nc.publish(feed.subject(game.game_id), orjson.dumps(payload))
            if n % 10 == 9:  # a fast client: it reads what it was sent (1 MB at a time)
                await fast.next("bet_placed", n=n)
        got = [frame["n"] for frame in fast.seen("bet_placed")]
        assert got == list(range(count))  # every frame, in order, none held up

        async def slow_gone() -> bool:
            return live.hub.watchers(game.game_id) == 1

        await poll_until(slow_gone)  # cut off: the hub forgot it
        # When it reads again it gets what was already on the wire, then 1013.
        assert await slow.closed() == (1013, "too slow: reconnect")


async def test_shutdown_closes_game_sockets_with_1001(server: Server, runtime: Runtime) -> None:
    game = await server.game(runtime)
    async with _open(server.url(game.game_id)) as sock:
        assert await runtime.websockets.close_all() >= 1
        code, _ = await sock.closed()
        assert code == 1001
