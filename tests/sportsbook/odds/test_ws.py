"""/ws/odds: frames and parsing first, then the hub's fan-out, then real sockets on a real
server with the real relay: admin change → outbox → relay → NATS → hub → socket."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from letsbet.platform.bus.nats import Bus
from letsbet.platform.runtime import Runtime
from letsbet.sportsbook.odds import ws
from letsbet.sportsbook.odds.live import (
    Listener,
    OddsHub,
    SnapshotDue,
    Update,
    event_status_update,
    odds_hub,
    odds_update,
)
from tests.sportsbook.catalogue.helpers import admin_headers, create_event, market_id, outcome_ids
from tests.sportsbook.live_server import api_server

DEADLINE = 10.0
UNKNOWN_EVENT = 2**62


# -- parsing and frames ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("{not json", "invalid_json"),
        ("[]", "invalid_message"),
        ("{}", "invalid_message"),
        ('{"action": "dance"}', "unknown_action"),
        ('{"action": "subscribe"}', "invalid_message"),
        ('{"action": "subscribe", "event_id": "7"}', "invalid_message"),
        ('{"action": "subscribe", "event_id": 0}', "invalid_message"),
        ('{"action": "subscribe", "event_id": 9223372036854775808}', "invalid_message"),
        ('{"action": "subscribe", "event_id": 7, "since_seq": -1}', "invalid_message"),
        ('{"action": "ping", "pad": "' + "x" * 2000 + '"}', "invalid_message"),
    ],
)
def test_bad_messages_become_error_frames(raw: str, code: str) -> None:
    reply = ws.parse(raw)
    assert isinstance(reply, str)
    frame = orjson.loads(reply)
    assert frame["type"] == "error" and frame["code"] == code and frame["message"]


def test_client_messages_parse() -> None:
    subscribe = ws.parse(b'{"action": "subscribe", "event_id": 7, "since_seq": 3, "extra": 1}')
    assert subscribe == ws.Subscribe(action="subscribe", event_id=7, since_seq=3)
    assert ws.parse('{"action": "unsubscribe", "event_id": 7}') == ws.Unsubscribe(
        action="unsubscribe", event_id=7
    )
    assert ws.parse('{"action": "ping"}') == ws.Ping(action="ping")


def test_catalogue_events_become_client_frames() -> None:
    odds = odds_update(
        {
            "event_id": 7,
            "seq": 12,
            "outcomes": [{"outcome_id": 70, "market_id": 9, "odds_milli": 2500}],
            "actor": "user:x",
        }
    )
    assert (odds.event_id, odds.seq) == (7, 12)
    assert orjson.loads(odds.frame) == {
        "type": "odds",
        "event_id": 7,
        "seq": 12,
        "outcomes": [{"outcome_id": 70, "market_id": 9, "odds": "2.50", "odds_milli": 2500}],
    }
    ended = event_status_update(
        {
            "event_id": 7,
            "seq": 13,
            "status": "ended",
            "previous_status": "live",
            "markets": [{"market_id": 9, "status": "closed"}],
        }
    )
    assert orjson.loads(ended.frame) == {
        "type": "status",
        "event_id": 7,
        "seq": 13,
        "scope": "event",
        "status": "ended",
        "markets": [{"market_id": 9, "status": "closed"}],
    }


# -- the hub ---------------------------------------------------------------------------------------
def _envelope(subject: str, data: dict[str, Any]) -> bytes:
    return orjson.dumps({"id": "x", "subject": subject, "occurred_at": "x", "data": data})


def _odds_changed(event_id: int, seq: int) -> bytes:
    outcome = {"outcome_id": 1, "market_id": 1, "odds_milli": 1000 + seq}
    return _envelope(
        "sportsbook.odds.changed", {"event_id": event_id, "seq": seq, "outcomes": [outcome]}
    )


def _drain(listener: Listener) -> list[Any]:
    items = []
    while not listener.queue.empty():
        items.append(listener.queue.get_nowait())
    return items


def _hub(queue_size: int = 256) -> OddsHub:
    return OddsHub(Bus("nats://127.0.0.1:1", name="test"), queue_size=queue_size)  # not started


def test_hub_drops_a_slow_listener_and_keeps_serving_the_rest() -> None:
    hub = _hub(queue_size=3)
    slow, fast = hub.listen(), hub.listen()
    for listener in (slow, fast):
        hub.follow(listener, 7)
    received = []
    for seq in range(1, 11):
        assert hub.dispatch("sportsbook.odds.changed", _odds_changed(7, seq)) >= 1
        received += _drain(fast)  # the fast client keeps up; the slow one never reads
    assert [u.seq for u in received] == list(range(1, 11))
    assert slow.cut_off and _drain(slow) == [None]  # its writer closes the socket
    assert not fast.cut_off
    assert hub.followers(7) == 1 and len(hub) == 1


def test_hub_routes_by_event_and_ignores_other_subjects() -> None:
    hub = _hub()
    seven, eight = hub.listen(), hub.listen()
    hub.follow(seven, 7)
    hub.follow(eight, 8)
    assert hub.dispatch("sportsbook.odds.changed", _odds_changed(7, 1)) == 1
    assert hub.dispatch("sportsbook.bet.placed", _envelope("x", {"event_id": 8})) == 0
    assert hub.dispatch("sportsbook.odds.changed", b"not json") == 0
    resulted = {"event_id": 8, "market_id": 3, "seq": 4, "correction": False, "outcomes": []}
    assert hub.dispatch("sportsbook.market.resulted", _envelope("x", resulted)) == 1
    [odds] = _drain(seven)
    [settled] = _drain(eight)
    assert isinstance(odds, Update) and odds.event_id == 7
    assert isinstance(settled, Update)
    assert orjson.loads(settled.frame)["status"] == "settled"
    hub.unfollow(seven, 7)
    assert hub.dispatch("sportsbook.odds.changed", _odds_changed(7, 2)) == 0
    hub.forget(eight)
    assert hub.followers(8) == 0 and len(hub) == 1


def test_a_full_queue_refuses_replies_too() -> None:
    listener = _hub(queue_size=2).listen()
    assert listener.offer(SnapshotDue(1)) and listener.offer("pong")
    assert not listener.offer("pong")
    assert listener.cut_off and not listener.offer("pong")


# -- real sockets ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
async def ws_url(runtime: Runtime) -> AsyncIterator[str]:
    """A real api server, the real relay and the odds-cache writer for the module's tests
    (so snapshots after the first come from the Redis cache)."""
    async with api_server(runtime) as host:
        yield f"ws://{host}/ws/odds"


class Socket:
    def __init__(self, connection: ClientConnection) -> None:
        self.connection = connection

    async def send(self, **message: Any) -> None:
        await self.connection.send(orjson.dumps(message).decode())

    async def recv(self) -> dict[str, Any]:
        raw = await asyncio.wait_for(self.connection.recv(), timeout=DEADLINE)
        return dict(orjson.loads(raw))

    async def subscribe(self, event_id: int, **extra: Any) -> dict[str, Any]:
        await self.send(action="subscribe", event_id=event_id, **extra)
        snapshot = await self.recv()
        assert snapshot["type"] == "snapshot", snapshot
        return snapshot


@asynccontextmanager
async def _open(url: str) -> AsyncIterator[Socket]:
    async with connect(url) as connection:
        yield Socket(connection)


@pytest.fixture
async def sock(ws_url: str) -> AsyncIterator[Socket]:
    async with _open(ws_url) as socket:
        yield socket


async def _patch_odds(
    client: httpx.AsyncClient, runtime: Runtime, event_id: int, prices: dict[int, str]
) -> None:
    response = await client.patch(
        f"/api/admin/events/{event_id}/odds",
        json={"outcomes": [{"outcome_id": k, "odds": v} for k, v in prices.items()]},
        headers=admin_headers(runtime),
    )
    assert response.status_code == 200, response.text


async def test_subscribe_sends_a_snapshot(
    sock: Socket, client: httpx.AsyncClient, runtime: Runtime
) -> None:
    event = await create_event(client, runtime)
    snapshot = await sock.subscribe(event["id"], since_seq=0)
    assert snapshot["event_id"] == event["id"]
    assert snapshot["seq"] == event["seq"]
    assert snapshot["status"] == "scheduled"
    by_type = {m["type"]: m for m in snapshot["markets"]}
    assert set(by_type) == {m["type"] for m in event["markets"]}
    assert by_type["over_under"]["line"] == "2.5"
    home = next(o for o in by_type["1x2"]["outcomes"] if o["key"] == "home")
    assert home == {
        "outcome_id": outcome_ids(event, "1x2")["home"],
        "key": "home",
        "name": event["home"],
        "odds": "2.10",
        "odds_milli": 2100,
        "active": True,
    }


async def test_an_odds_change_reaches_the_subscriber(
    sock: Socket, client: httpx.AsyncClient, runtime: Runtime
) -> None:
    event = await create_event(client, runtime)
    snapshot = await sock.subscribe(event["id"])
    home = outcome_ids(event, "1x2")["home"]
    await _patch_odds(client, runtime, event["id"], {home: "2.2"})
    update = await sock.recv()
    assert update == {
        "type": "odds",
        "event_id": event["id"],
        "seq": snapshot["seq"] + 1,
        "outcomes": [
            {
                "outcome_id": home,
                "market_id": market_id(event, "1x2"),
                "odds": "2.20",
                "odds_milli": 2200,
            }
        ],
    }
    # A reconnecting client re-subscribes and resyncs from a fresh snapshot.
    again = await sock.subscribe(event["id"], since_seq=snapshot["seq"])
    assert again["seq"] == update["seq"]
    prices = {o["outcome_id"]: o["odds"] for m in again["markets"] for o in m["outcomes"]}
    assert prices[home] == "2.20"


async def test_status_changes_reach_the_subscriber(
    sock: Socket, client: httpx.AsyncClient, runtime: Runtime
) -> None:
    event = await create_event(client, runtime)
    snapshot = await sock.subscribe(event["id"])
    btts = market_id(event, "btts")
    admin = admin_headers(runtime)
    response = await client.post(f"/api/admin/markets/{btts}/suspend", headers=admin)
    assert response.status_code == 200, response.text
    assert await sock.recv() == {
        "type": "status",
        "event_id": event["id"],
        "seq": snapshot["seq"] + 1,
        "scope": "market",
        "market_id": btts,
        "status": "suspended",
    }
    response = await client.patch(
        f"/api/admin/events/{event['id']}", json={"status": "ended"}, headers=admin
    )
    assert response.status_code == 200, response.text
    ended = await sock.recv()
    assert ended["type"] == "status" and ended["scope"] == "event"
    assert (ended["seq"], ended["status"]) == (snapshot["seq"] + 2, "ended")
    assert {m["status"] for m in ended["markets"]} == {"closed"}
    assert len(ended["markets"]) == len(event["markets"])


async def test_unsubscribe_stops_updates(
    sock: Socket, client: httpx.AsyncClient, runtime: Runtime
) -> None:
    dropped, kept = await create_event(client, runtime), await create_event(client, runtime)
    await sock.subscribe(dropped["id"])
    await sock.subscribe(kept["id"])
    await sock.send(action="unsubscribe", event_id=dropped["id"])
    assert await sock.recv() == {"type": "unsubscribed", "event_id": dropped["id"]}
    # The relay publishes in commit order: had the first change been sent, it would come first.
    await _patch_odds(client, runtime, dropped["id"], {outcome_ids(dropped, "btts")["yes"]: "1.7"})
    await _patch_odds(client, runtime, kept["id"], {outcome_ids(kept, "btts")["yes"]: "1.7"})
    update = await sock.recv()
    assert (update["type"], update["event_id"]) == ("odds", kept["id"])


async def test_bad_messages_get_errors_and_the_socket_stays_open(sock: Socket) -> None:
    await sock.connection.send("{oops")
    assert (await sock.recv())["code"] == "invalid_json"
    await sock.send(action="dance")
    assert (await sock.recv())["code"] == "unknown_action"
    await sock.connection.send(b'{"action": "subscribe", "event_id": -3}')
    assert (await sock.recv())["code"] == "invalid_message"
    await sock.send(action="subscribe", event_id=UNKNOWN_EVENT)
    assert await sock.recv() == {
        "type": "error",
        "code": "event_not_found",
        "message": f"No event {UNKNOWN_EVENT}.",
        "event_id": UNKNOWN_EVENT,
    }
    await sock.send(action="ping")
    assert await sock.recv() == {"type": "pong"}


async def test_subscriptions_per_socket_are_limited(
    sock: Socket, client: httpx.AsyncClient, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ws, "MAX_SUBSCRIPTIONS", 2)
    first, second, third = [await create_event(client, runtime) for _ in range(3)]
    await sock.subscribe(first["id"])
    await sock.subscribe(second["id"])
    await sock.send(action="subscribe", event_id=third["id"])
    refused = await sock.recv()
    assert (refused["code"], refused["event_id"]) == ("too_many_subscriptions", third["id"])
    await sock.subscribe(first["id"])  # re-subscribing (a resync) is not a new subscription


async def test_a_slow_socket_is_closed_with_1013_and_others_keep_their_updates(
    ws_url: str, client: httpx.AsyncClient, runtime: Runtime
) -> None:
    original = odds_hub(runtime)
    hub = runtime.extras["odds_hub"] = OddsHub(runtime.bus, queue_size=4)
    try:
        burst, calm = await create_event(client, runtime), await create_event(client, runtime)
        async with _open(ws_url) as slow, _open(ws_url) as steady:
            await slow.subscribe(burst["id"])
            await steady.subscribe(calm["id"])
            # More changes at once than the queue holds: the hub must not wait for the socket.
            for seq in range(10**6, 10**6 + 10):
                hub.dispatch("sportsbook.odds.changed", _odds_changed(burst["id"], seq))
            assert hub.followers(burst["id"]) == 0
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    await slow.recv()
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1013
            home = outcome_ids(calm, "1x2")["home"]
            await _patch_odds(client, runtime, calm["id"], {home: "2.5"})
            update = await steady.recv()
            assert (update["type"], update["event_id"]) == ("odds", calm["id"])
    finally:
        await hub.stop()
        runtime.extras["odds_hub"] = original
