"""The Redis cache of current odds: pure rules first, then the Lua scripts on the real Redis,
then the real chain (admin change → outbox → relay → NATS → writer → Redis → /ws/odds snapshot)
compared with PostgreSQL, and a real Redis outage."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import REGISTRY
from websockets.asyncio.client import connect

from letsbet.platform.embedded import EmbeddedRedis
from letsbet.platform.runtime import Runtime
from letsbet.sportsbook.catalogue.service import event_view, format_odds
from letsbet.sportsbook.markets import MAX_ODDS_MILLI, MIN_ODDS_MILLI
from letsbet.sportsbook.odds import ws
from letsbet.sportsbook.odds.cache import OddsCache, key, odds_cache
from letsbet.sportsbook.odds.live import OddsHub, SnapshotDue
from letsbet.sportsbook.odds.snapshot import Change, Frame, advance, changes, frame_of
from tests.sportsbook.catalogue.helpers import admin_headers, create_event, market_id, outcome_ids
from tests.sportsbook.live_server import api_server
from tests.support import make_settings, poll_until

DEADLINE = 10.0


# -- pure: frames and changes ---------------------------------------------------------------------
def _frame(event_id: int, seq: int, odds: tuple[int, ...] = (2000, 1900), **extra: Any) -> Frame:
    outcomes = [
        {
            "outcome_id": 10 + n,
            "key": f"k{n}",
            "name": f"n{n}",
            "odds": format_odds(milli),
            "odds_milli": milli,
            "active": True,
        }
        for n, milli in enumerate(odds)
    ]
    frame: Frame = {
        "type": "snapshot",
        "event_id": event_id,
        "seq": seq,
        "status": "live",
        "markets": [
            {"market_id": 1, "type": "btts", "line": None, "status": "open", "outcomes": outcomes}
        ],
    }
    frame.update(extra)
    return frame


_odds = st.integers(MIN_ODDS_MILLI, MAX_ODDS_MILLI)


@given(st.tuples(_odds, _odds), st.dictionaries(st.sampled_from([10, 11]), _odds))
def test_advancing_the_odds_equals_the_frame_with_those_odds(
    before: tuple[int, int], moved: dict[int, int]
) -> None:
    after = tuple(moved.get(10 + n, milli) for n, milli in enumerate(before))
    advanced = advance(_frame(7, 3, before), Change(7, 4, odds=moved))
    assert advanced == _frame(7, 4, after)


def test_statuses_advance_and_unknown_ids_cannot_be_followed() -> None:
    ended = advance(_frame(7, 3), Change(7, 4, market_status={1: "closed"}, event_status="ended"))
    assert ended is not None and (ended["seq"], ended["status"]) == (4, "ended")
    assert ended["markets"][0]["status"] == "closed"
    assert advance(_frame(7, 3), Change(7, 4, odds={99: 2000})) is None
    assert advance(_frame(7, 3), Change(7, 4, market_status={99: "open"})) is None
    assert advance(_frame(7, 3), Change(7, 4, reset=True)) is None


def test_catalogue_events_become_changes() -> None:
    odds = {
        "event_id": 7,
        "seq": 5,
        "outcomes": [{"outcome_id": 70, "market_id": 9, "odds_milli": 2500}],
    }
    assert changes("sportsbook.odds.changed", odds) == Change(7, 5, odds={70: 2500})
    market = {"event_id": 7, "market_id": 9, "seq": 6, "status": "suspended"}
    assert changes("sportsbook.market.status_changed", market) == Change(
        7, 6, market_status={9: "suspended"}
    )
    resulted = {"event_id": 7, "market_id": 9, "seq": 7, "outcomes": []}
    assert changes("sportsbook.market.resulted", resulted) == Change(
        7, 7, market_status={9: "settled"}
    )
    ended = {
        "event_id": 7,
        "seq": 7,
        "status": "ended",
        "markets": [{"market_id": 8, "status": "closed"}],
    }
    assert changes("sportsbook.event.status_changed", ended) == Change(
        7, 7, market_status={8: "closed"}, event_status="ended"
    )
    created = {"event_id": 7, "market_id": 10, "seq": 8}
    assert changes("sportsbook.market.created", created) == Change(7, 8, reset=True)
    assert changes("sportsbook.event.updated", {"event_id": 7, "seq": 8}) is None


# -- the scripts on the real Redis ---------------------------------------------------------------
@pytest.fixture
def cache(runtime: Runtime) -> OddsCache:
    return OddsCache(runtime.redis, runtime.bus)


def _new_id() -> int:
    return uuid.uuid4().int >> 80


async def _fill(cache: OddsCache, frame: Frame) -> bool:
    return await cache.fill(frame["event_id"], frame["seq"], orjson.dumps(frame).decode())


async def _copy(cache: OddsCache, event_id: int) -> Frame | None:
    cached = await cache.read(event_id)
    if cached is None:
        return None
    frame: Frame = orjson.loads(cached.frame)
    assert frame["seq"] == cached.seq
    return frame


async def test_changes_apply_in_order_and_never_go_back(cache: OddsCache) -> None:
    event_id = _new_id()
    assert await _fill(cache, _frame(event_id, 5))
    assert await cache.apply(Change(event_id, 6, odds={10: 2600})) == "applied"
    # A redelivery, or another replica applying the same change: the same copy.
    assert await cache.apply(Change(event_id, 6, odds={10: 2600})) == "applied"
    assert await cache.apply(Change(event_id, 7, market_status={1: "suspended"})) == "applied"
    # Late arrivals of older changes do not regress the copy.
    assert await cache.apply(Change(event_id, 6, odds={10: 1500})) == "stale"
    assert await cache.apply(Change(event_id, 5, market_status={1: "open"})) == "stale"
    expected = _frame(event_id, 7, (2600, 1900))
    expected["markets"][0]["status"] = "suspended"
    assert await _copy(cache, event_id) == expected
    # An older fill is refused too.
    assert not await _fill(cache, _frame(event_id, 6))
    assert await _copy(cache, event_id) == expected


async def test_replicas_applying_the_same_changes_at_once_lose_nothing(
    cache: OddsCache, runtime: Runtime
) -> None:
    event_id = _new_id()
    await _fill(cache, _frame(event_id, 5))
    replicas = [OddsCache(runtime.redis, runtime.bus) for _ in range(4)]
    # One commit, two events with one seq (a result that ends the event), then a price.
    stream = [
        Change(event_id, 6, market_status={1: "settled"}),
        Change(event_id, 6, event_status="ended"),
        Change(event_id, 7, odds={11: 2222}),
    ]

    async def follow(replica: OddsCache) -> None:
        for change in stream:
            await replica.apply(change)

    await asyncio.gather(*(follow(r) for r in replicas))
    expected = _frame(event_id, 7, (2000, 2222), status="ended")
    expected["markets"][0]["status"] = "settled"
    assert await _copy(cache, event_id) == expected


async def test_a_missed_change_drops_the_copy(cache: OddsCache) -> None:
    event_id = _new_id()
    await _fill(cache, _frame(event_id, 5))
    assert await cache.apply(Change(event_id, 7, odds={10: 2600})) == "gap"
    assert await cache.read(event_id) is None
    # A fill read before seq 7 committed is refused; one read after it is taken.
    assert not await _fill(cache, _frame(event_id, 6))
    assert await _fill(cache, _frame(event_id, 7, (2600, 1900)))
    assert await _copy(cache, event_id) == _frame(event_id, 7, (2600, 1900))


async def test_a_market_added_drops_the_copy_once(cache: OddsCache) -> None:
    event_id = _new_id()
    await _fill(cache, _frame(event_id, 5))
    assert await cache.apply(Change(event_id, 6, reset=True)) == "reset"
    assert await cache.read(event_id) is None
    assert await _fill(cache, _frame(event_id, 6))
    # The same event again (a duplicate): the refilled copy already has the market.
    assert await cache.apply(Change(event_id, 6, reset=True)) == "stale"
    assert await _copy(cache, event_id) == _frame(event_id, 6)


async def test_changes_without_a_copy_fence_off_older_fills(cache: OddsCache) -> None:
    event_id = _new_id()
    assert await cache.apply(Change(event_id, 9, odds={10: 2600})) == "miss"
    assert await cache.apply(Change(event_id, 8, odds={10: 2500})) == "miss"
    assert not await _fill(cache, _frame(event_id, 8))
    assert await _fill(cache, _frame(event_id, 9))
    assert await _copy(cache, event_id) == _frame(event_id, 9)
    ttl = await cache.redis.ttl(key(event_id))
    assert 0 < ttl <= cache.ttl


async def test_flush_drops_every_copy(cache: OddsCache) -> None:
    ids = [_new_id() for _ in range(3)]
    for event_id in ids:
        await _fill(cache, _frame(event_id, 1))
    assert await cache.flush() >= 3
    assert [await cache.read(event_id) for event_id in ids] == [None, None, None]


def test_a_cache_without_its_writer_is_not_used(cache: OddsCache) -> None:
    assert not cache.usable


def test_the_hub_remembers_the_newest_seq_it_handed_out() -> None:
    hub = OddsHub(cache_bus_stub())
    listener = hub.listen()
    hub.follow(listener, 7)
    assert hub.seen(7) == -1
    for seq in (4, 6, 5):
        payload = {"event_id": 7, "seq": seq, "outcomes": []}
        hub.dispatch("sportsbook.odds.changed", orjson.dumps({"data": payload}))
    assert hub.seen(7) == 6
    hub.forget(listener)
    assert hub.seen(7) == -1


def cache_bus_stub() -> Any:
    from letsbet.platform.bus.nats import Bus

    return Bus("nats://127.0.0.1:1", name="test")  # never connected


# -- the real chain ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
async def ws_url(runtime: Runtime) -> AsyncIterator[str]:
    async with api_server(runtime) as host:
        yield f"ws://{host}/ws/odds"


def _snapshots(source: str) -> float:
    value = REGISTRY.get_sample_value("letsbet_odds_snapshot_seconds_count", {"source": source})
    return value or 0.0


async def _subscribe(url: str, event_id: int, **extra: Any) -> dict[str, Any]:
    async with connect(url) as sock:
        await sock.send(orjson.dumps({"action": "subscribe", "event_id": event_id, **extra}))
        return dict(orjson.loads(await asyncio.wait_for(sock.recv(), timeout=DEADLINE)))


async def _postgres_frame(runtime: Runtime, event_id: int) -> dict[str, Any]:
    async with runtime.db.connect() as conn:
        view = await event_view(conn, event_id, country=None)
    return frame_of(view)


async def _cached_seq(runtime: Runtime, event_id: int, seq: int) -> bool:
    copy = await odds_cache(runtime).read(event_id)
    return copy is not None and copy.seq >= seq


async def test_snapshots_from_the_cache_equal_postgresql(
    ws_url: str, client: httpx.AsyncClient, runtime: Runtime
) -> None:
    event = await create_event(client, runtime)
    admin = admin_headers(runtime)
    before = _snapshots("postgres")
    first = await _subscribe(ws_url, event["id"])  # a miss: read from PostgreSQL, then cached
    assert _snapshots("postgres") == before + 1
    assert first == await _postgres_frame(runtime, event["id"])

    ids = outcome_ids(event, "1x2")
    moved = await client.patch(
        f"/api/admin/events/{event['id']}/odds",
        json={"outcomes": [{"outcome_id": ids["home"], "odds": "2.35"}]},
        headers=admin,
    )
    assert moved.status_code == 200, moved.text
    btts = market_id(event, "btts")
    suspended = await client.post(f"/api/admin/markets/{btts}/suspend", headers=admin)
    assert suspended.status_code == 200, suspended.text
    live = await client.patch(
        f"/api/admin/events/{event['id']}", json={"status": "live"}, headers=admin
    )
    assert live.status_code == 200, live.text
    await poll_until(lambda: _cached_seq(runtime, event["id"], first["seq"] + 3))

    cached_before = _snapshots("cache")
    second = await _subscribe(ws_url, event["id"], since_seq=first["seq"])
    assert _snapshots("cache") == cached_before + 1
    assert second == await _postgres_frame(runtime, event["id"])
    assert second["seq"] == first["seq"] + 3 and second["status"] == "live"

    # Ending the event closes its markets: one change, several markets, still equal.
    ended = await client.patch(
        f"/api/admin/events/{event['id']}", json={"status": "ended"}, headers=admin
    )
    assert ended.status_code == 200, ended.text
    await poll_until(lambda: _cached_seq(runtime, event["id"], second["seq"] + 1))
    assert await _subscribe(ws_url, event["id"]) == await _postgres_frame(runtime, event["id"])


async def test_a_market_added_is_read_from_postgresql_again(
    ws_url: str, client: httpx.AsyncClient, runtime: Runtime
) -> None:
    event = await create_event(client, runtime, markets=[])
    first = await _subscribe(ws_url, event["id"])
    assert first["markets"] == []
    added = await client.post(
        f"/api/admin/events/{event['id']}/markets",
        json={
            "markets": [
                {
                    "type": "btts",
                    "outcomes": [{"key": "yes", "odds": "1.8"}, {"key": "no", "odds": "1.9"}],
                }
            ]
        },
        headers=admin_headers(runtime),
    )
    assert added.status_code == 201, added.text

    async def dropped() -> bool:
        return await odds_cache(runtime).read(event["id"]) is None

    await poll_until(dropped)
    again = await _subscribe(ws_url, event["id"])
    assert again == await _postgres_frame(runtime, event["id"])
    assert len(again["markets"]) == 1


async def test_a_client_ahead_of_the_cache_gets_postgresql(
    ws_url: str, client: httpx.AsyncClient, runtime: Runtime
) -> None:
    event = await create_event(client, runtime)
    first = await _subscribe(ws_url, event["id"])
    before = _snapshots("postgres")
    # The client claims a newer seq than the copy: never answer with an older snapshot.
    again = await _subscribe(ws_url, event["id"], since_seq=first["seq"] + 5)
    assert _snapshots("postgres") == before + 1
    assert again == first


# -- a real Redis outage -------------------------------------------------------------------------
@pytest.fixture
async def outage_runtime(runtime: Runtime, tmp_path: Path) -> AsyncIterator[Runtime]:
    server = EmbeddedRedis(tmp_path / "redis", durable=False)
    server.start()
    settings = runtime.settings
    rt = Runtime.create(
        make_settings(
            {
                "database": settings.resolved_database_url() or "",
                "redis": server.url,
                "nats": settings.nats_url or "",
            }
        ),
        role="test",
    )
    await rt.start()
    rt.extras["redis_server"] = server
    try:
        yield rt
    finally:
        await rt.close()
        server.stop()


async def test_snapshots_fall_back_to_postgresql_when_redis_is_down(
    outage_runtime: Runtime, client: httpx.AsyncClient, runtime: Runtime
) -> None:
    rt = outage_runtime
    event = await create_event(client, runtime)
    cache = odds_cache(rt)
    stop = asyncio.Event()
    writer = asyncio.create_task(cache.run(stop))
    hub = OddsHub(rt.bus)
    listener = hub.listen()
    try:
        await poll_until(lambda: _usable(cache))
        hub.follow(listener, event["id"])
        first = await ws._snapshot(rt, hub, listener, SnapshotDue(event["id"]))
        assert first is not None
        assert await cache.read(event["id"]) is not None  # filled

        rt.extras["redis_server"].stop()
        hub.follow(listener, event["id"])
        again = await ws._snapshot(rt, hub, listener, SnapshotDue(event["id"]))
        assert again is not None
        assert orjson.loads(again) == await _postgres_frame(runtime, event["id"])
        assert not cache.usable  # no more Redis timeouts until the writer is back
    finally:
        stop.set()
        await writer


async def _usable(cache: OddsCache) -> bool:
    return cache.usable
