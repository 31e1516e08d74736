"""/ws/games pieces without sockets: client messages, the command budget, the hub's fan-out and
private routing, and the shared state reads."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import orjson
import pytest

from letsbet.crash import feed, protocol
from letsbet.crash.hub import CrashHub, Seat
from letsbet.crash.snapshot import SharedReads
from letsbet.platform.bus.nats import Bus
from letsbet.platform.http.socket_auth import Auth


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
