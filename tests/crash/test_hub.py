"""/ws/games pieces without sockets: client messages, the command budget, the hub's fan-out and
private routing, and the shared state reads."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import orjson
import pytest
from websockets.frames import Frame, Opcode

from letsbet.crash import feed, protocol
from letsbet.crash.hub import EXPIRED, CrashHub, Seat
from letsbet.crash.snapshot import SharedReads
from letsbet.crash.wire import RawSocket, text_frame
from letsbet.platform.bus.nats import Bus
from letsbet.platform.http.socket_auth import Auth
from tests.support import poll_until


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("{not json", "invalid_json"),
        ("[]", "invalid_message"),
        ("null", "invalid_message"),
        ("{}", "invalid_message"),
        ('{"action": "dance"}', "unknown_action"),
        ('{"action": "auth"}', "invalid_message"),
        ('{"action": "cashout", "bet_id": "not-a-uuid"}', "invalid_message"),
        ('{"action": "place_bet", "amount": 10.5, "idempotency_key": "k"}', "invalid_message"),
        ('{"action": "place_bet", "amount": "10"}', "invalid_message"),
        ('{"action": "place_bet", "amount": "10", "idempotency_key": "a b"}', "invalid_message"),
        ('{"action": "place_bet", "amount": "x", "idempotency_key": "k"}', "invalid_message"),
        ('{"action": "ping", "pad": "' + "x" * 5000 + '"}', "invalid_message"),
    ],
)
def test_bad_messages_become_error_frames(raw: str, code: str) -> None:
    reply = protocol.parse(raw)
    assert isinstance(reply, str)
    frame = orjson.loads(reply)
    assert (frame["type"], frame["code"]) == ("error", code) and frame["message"]


def test_client_messages_parse() -> None:
    bet = protocol.parse(
        '{"action": "place_bet", "amount": "100", "auto_cashout": "2.00", "idempotency_key": "k1"}'
    )
    assert isinstance(bet, protocol.PlaceBet)
    assert (str(bet.amount), bet.auto_cashout, bet.idempotency_key) == ("100", "2.00", "k1")
    bet_id = uuid.uuid4()
    cashout = protocol.parse(f'{{"action": "cashout", "bet_id": "{bet_id}", "extra": 1}}')
    assert isinstance(cashout, protocol.Cashout) and cashout.bet_id == bet_id
    assert isinstance(protocol.parse('{"action": "auth", "token": "t"}'), Auth)
    assert isinstance(protocol.parse(b'{"action": "ping"}'), protocol.Ping)


def test_the_budget_allows_a_burst_then_a_steady_rate() -> None:
    budget = protocol.Budget(rate=5, burst=10, now=0.0)
    assert [budget.take(0.0) for _ in range(12)] == [True] * 10 + [False] * 2
    assert budget.take(0.2) and not budget.take(0.2)  # one more every 1/5 s
    assert [budget.take(10.0) for _ in range(11)] == [True] * 10 + [False]  # never above burst


# -- the hub ---------------------------------------------------------------------------------------
def _hub(queue_size: int = 64) -> CrashHub:
    return CrashHub(Bus("nats://127.0.0.1:1", name="test"), queue_size=queue_size)  # not started


def _drain(seat: Seat) -> list[Any]:
    items = []
    while not seat.queue.empty():
        items.append(seat.queue.get_nowait())
    return items


def _tick(game_id: str, elapsed: int) -> bytes:
    return orjson.dumps(feed.tick(game_id, 1, elapsed, 100))


def test_public_frames_go_to_the_game_s_sockets_as_published() -> None:
    hub = _hub()
    one, two, other = hub.join("g1"), hub.join("g1"), hub.join("g2")
    payload = _tick("g1", 100)
    assert hub.dispatch(feed.subject("g1"), payload) == 2
    assert _drain(one) == _drain(two) == [payload.decode()]
    assert _drain(other) == []
    assert hub.dispatch("games.crash.g1.unknown", payload) == 0
    assert hub.dispatch("sportsbook.odds.changed", payload) == 0
    hub.leave(one)
    assert hub.watchers("g1") == 1 and len(hub) == 2


def test_private_frames_reach_only_their_player_on_that_game() -> None:
    hub = _hub()
    alice, bob = uuid.uuid4(), uuid.uuid4()
    tab1, tab2, bobs, spectator = hub.join("g1"), hub.join("g1"), hub.join("g1"), hub.join("g1")
    elsewhere = hub.join("g2")
    for seat in (tab1, tab2, elsewhere):
        hub.identify(seat, alice)
    hub.identify(bobs, bob)
    frame = feed.cashout_confirmed(
        "g1",
        1,
        bet_id="b",
        multiplier=200,
        payout=2000,
        net_payout=2000,
        currency="KES",
        kind="auto",
    )
    payload = orjson.dumps({"user_id": str(alice), "frame": frame})
    assert hub.dispatch(feed.private_subject("g1"), payload) == 2
    assert [orjson.loads(item) for item in _drain(tab1)] == [frame]
    assert len(_drain(tab2)) == 1
    assert _drain(bobs) == _drain(spectator) == _drain(elsewhere) == []
    assert hub.dispatch(feed.private_subject("g1"), b"not json") == 0
    assert hub.sockets(alice) == 3 and hub.sockets(bob) == 1
    hub.leave(tab1)
    assert hub.sockets(alice) == 2


def test_a_slow_socket_is_cut_off_and_the_others_keep_every_frame() -> None:
    hub = _hub(queue_size=3)
    slow, fast = hub.join("g"), hub.join("g")
    received = []
    for elapsed in range(0, 1000, 100):
        hub.dispatch(feed.subject("g"), _tick("g", elapsed))
        received += _drain(fast)  # the fast client keeps up; the slow one never reads
    assert [orjson.loads(f)["elapsed_ms"] for f in received] == list(range(0, 1000, 100))
    assert slow.cut_off and _drain(slow) == [None]  # its writer closes the socket
    assert hub.watchers("g") == 1 and not slow.offer("late")


# -- shared reads ----------------------------------------------------------------------------------
async def test_readers_arriving_before_a_read_starts_share_it() -> None:
    started: list[int] = []
    release = asyncio.Event()

    async def read(game_id: str) -> str:
        started.append(len(started))
        await release.wait()
        return f"{game_id}:{len(started)}"

    reads = SharedReads(read)
    first = [asyncio.create_task(reads.get("g")) for _ in range(3)]
    await asyncio.sleep(0)  # the read starts: later callers wait for the next one
    while not started:
        await asyncio.sleep(0)
    later = [asyncio.create_task(reads.get("g")) for _ in range(2)]
    release.set()
    assert await asyncio.gather(*first) == ["g:1"] * 3
    assert await asyncio.gather(*later) == ["g:2"] * 2
    assert len(started) == 2


# -- frames straight to the transport --------------------------------------------------------------
class _Peer(asyncio.Protocol):
    """The client end of a loopback TCP connection: keeps what it read, or reads nothing."""

    def __init__(self) -> None:
        self.data = bytearray()

    def data_received(self, data: bytes) -> None:
        self.data += data


@dataclass
class _Closing:
    """What RawSocket reads of uvicorn's protocol: whether the closing handshake began."""

    close_sent: bool = False
    disconnected: bool = False


@asynccontextmanager
async def _raw(reading: bool = True) -> AsyncIterator[tuple[RawSocket, _Peer, _Closing]]:
    """A RawSocket over a real loopback connection; the peer pauses reading if not `reading`."""
    loop = asyncio.get_running_loop()
    accepted: asyncio.Future[asyncio.Transport] = loop.create_future()

    class Server(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            accepted.set_result(transport)  # type: ignore[arg-type]

    server = await loop.create_server(Server, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client, peer = await loop.create_connection(_Peer, "127.0.0.1", port)
    if not reading:
        client.pause_reading()
    transport = await accepted
    closing = _Closing()
    try:
        yield RawSocket(closing, transport), peer, closing
    finally:
        transport.abort()
        client.abort()
        server.close()


def test_a_text_frame_is_what_websockets_would_send() -> None:
    for size in (0, 1, 125, 126, 65535, 65536, 70_000):
        payload = b"x" * size
        assert text_frame(payload) == Frame(Opcode.TEXT, payload).serialize(mask=False)


async def test_frames_held_while_joining_go_out_first_then_straight_through() -> None:
    hub = _hub()
    seat = hub.join("g")
    early = [_tick("g", 0), _tick("g", 100)]
    for payload in early:
        hub.dispatch(feed.subject("g"), payload)  # while the socket gets its round state
    seat.offer(EXPIRED)
    async with _raw() as (raw, peer, _):
        seat.stream(raw)
        assert _drain(seat) == [EXPIRED]  # checks stay with the writer; frames went out
        late = _tick("g", 200)
        hub.dispatch(feed.subject("g"), late)
        assert seat.offer('{"type":"pong"}')
        wire = b"".join(text_frame(f) for f in [*early, late, b'{"type":"pong"}'])
        await poll_until(lambda: _got(peer, len(wire)))
        assert bytes(peer.data) == wire


async def test_a_transport_holding_too_much_is_cut_off_and_a_closing_one_skipped() -> None:
    hub = CrashHub(Bus("nats://127.0.0.1:1", name="test"), buffer_limit=64 * 1024)
    slow, fast, leaving = hub.join("g"), hub.join("g"), hub.join("g")
    async with _raw(reading=False) as (raw_slow, _, _), _raw() as (raw_fast, peer, _):
        async with _raw() as (raw_leaving, gone, closing):
            for seat, raw in ((slow, raw_slow), (fast, raw_fast), (leaving, raw_leaving)):
                seat.stream(raw)
            closing.close_sent = True  # uvicorn sent its close frame: nothing may follow
            big = orjson.dumps({"type": "bet_placed", "pad": "x" * 30_000})  # < the limit
            sent = 0
            while not slow.cut_off and sent < 2000:  # the kernel's buffers fill first
                assert hub.dispatch(feed.subject("g"), big) in (2, 3)
                sent += 1
                size = sent * len(text_frame(big))
                await poll_until(lambda size=size: _got(peer, size))
            assert slow.cut_off and _drain(slow) == [None]  # its writer closes it
            assert not fast.cut_off and not leaving.cut_off and gone.data == b""
            assert hub.watchers("g") == 2


async def _got(peer: _Peer, size: int) -> bool:
    return len(peer.data) >= size
