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
from letsbet.sportsbook.catalogue.service import event_view
from letsbet.sportsbook.odds import ws
from letsbet.sportsbook.odds.cache import OddsCache, key, odds_cache
from letsbet.sportsbook.odds.live import OddsHub, SnapshotDue
from letsbet.sportsbook.odds.snapshot import (
    Change,
    MarketSnap,
    OutcomeSnap,
    Snapshot,
    changes,
)
from tests.sportsbook.catalogue.helpers import admin_headers, create_event, market_id, outcome_ids
from tests.sportsbook.live_server import api_server
from tests.support import make_settings, poll_until

DEADLINE = 10.0


# -- pure: the hash layout and the changes -------------------------------------------------------
_outcome = st.builds(
    OutcomeSnap,
    id=st.integers(1, 2**62),
    key=st.text(min_size=1, max_size=5),
    name=st.text(max_size=20),
    odds_milli=st.integers(1001, 1_000_000),
    active=st.booleans(),
)


@st.composite
def snapshots(draw: st.DrawFn) -> Snapshot:
    outcomes = draw(st.lists(_outcome, max_size=12, unique_by=lambda o: o.id))
    market_ids = draw(st.lists(st.integers(1, 2**62), min_size=1, max_size=4, unique=True))
    markets: dict[int, list[OutcomeSnap]] = {m: [] for m in sorted(market_ids)}
    for n, outcome in enumerate(sorted(outcomes, key=lambda o: o.id)):
        markets[sorted(market_ids)[n % len(market_ids)]].append(outcome)
    return Snapshot(
        event_id=draw(st.integers(1, 2**62)),
        seq=draw(st.integers(0, 2**40)),
        status=draw(st.sampled_from(["scheduled", "live", "suspended", "ended"])),
        markets=tuple(
            MarketSnap(
                id=m,
                type=draw(st.sampled_from(["1x2", "btts", "over_under"])),
                line_hundredths=draw(st.none() | st.integers(-9999, 9999)),
                status=draw(st.sampled_from(["open", "suspended", "closed", "settled"])),
                outcomes=tuple(os),
            )
            for m, os in markets.items()
        ),
    )


def _as_redis(fields: dict[str, str | int]) -> dict[bytes, bytes]:
    return {k.encode(): str(v).encode() for k, v in fields.items()}


@given(snapshots())
def test_a_snapshot_survives_the_hash(snapshot: Snapshot) -> None:
    back = Snapshot.from_fields(snapshot.event_id, _as_redis(snapshot.fields()))
    assert back == snapshot
    assert back is not None and back.frame() == snapshot.frame()


def test_an_incomplete_hash_is_no_snapshot() -> None:
    snapshot = Snapshot(7, 3, "live", (MarketSnap(1, "btts", None, "open", (_o(10), _o(11))),))
    raw = _as_redis(snapshot.fields())
    assert Snapshot.from_fields(7, {b"fence": b"4"}) is None
    assert Snapshot.from_fields(7, {k: v for k, v in raw.items() if k != b"p:11"}) is None
    assert Snapshot.from_fields(7, {k: v for k, v in raw.items() if k != b"ms:1"}) is None


def _o(outcome_id: int, odds: int = 2000) -> OutcomeSnap:
    return OutcomeSnap(outcome_id, f"k{outcome_id}", f"n{outcome_id}", odds, True)


def test_catalogue_events_become_field_changes() -> None:
    odds = {
        "event_id": 7,
        "seq": 5,
        "outcomes": [{"outcome_id": 70, "market_id": 9, "odds_milli": 2500}],
    }
    assert changes("sportsbook.odds.changed", odds) == Change(7, 5, {"p:70": 2500})
    market = {"event_id": 7, "market_id": 9, "seq": 6, "status": "suspended"}
    assert changes("sportsbook.market.status_changed", market) == Change(
        7, 6, {"ms:9": "suspended"}
    )
    resulted = {"event_id": 7, "market_id": 9, "seq": 7, "outcomes": []}
    assert changes("sportsbook.market.resulted", resulted) == Change(7, 7, {"ms:9": "settled"})
    ended = {
        "event_id": 7,
        "seq": 7,
        "status": "ended",
        "markets": [{"market_id": 8, "status": "closed"}],
    }
    assert changes("sportsbook.event.status_changed", ended) == Change(
        7, 7, {"status": "ended", "ms:8": "closed"}
    )
    created = {"event_id": 7, "market_id": 10, "seq": 8}
    assert changes("sportsbook.market.created", created) == Change(7, 8, {}, reset=True)
    assert changes("sportsbook.event.updated", {"event_id": 7}) is None


# -- the scripts on the real Redis ---------------------------------------------------------------
def _event(event_id: int, seq: int, odds: int = 2000) -> Snapshot:
    return Snapshot(
        event_id,
        seq,
        "live",
        (MarketSnap(1, "btts", None, "open", (_o(10, odds), _o(11))),),
    )


@pytest.fixture
def cache(runtime: Runtime) -> OddsCache:
    return OddsCache(runtime.redis, runtime.bus)


def _new_id() -> int:
    return uuid.uuid4().int >> 80


async def test_changes_apply_in_order_and_never_go_back(cache: OddsCache) -> None:
    event_id = _new_id()
    assert await cache.fill(_event(event_id, 5))
    assert await cache.apply(Change(event_id, 6, {"p:10": 2600})) == "applied"
    # A redelivery, or another replica applying the same change: the same hash.
    assert await cache.apply(Change(event_id, 6, {"p:10": 2600})) == "applied"
    assert await cache.apply(Change(event_id, 7, {"ms:1": "suspended"})) == "applied"
    # Late arrivals of older changes do not regress the copy.
    assert await cache.apply(Change(event_id, 6, {"p:10": 1500})) == "stale"
    assert await cache.apply(Change(event_id, 5, {"ms:1": "open"})) == "stale"
    copy = await cache.read(event_id)
    assert copy is not None and copy.seq == 7
    assert copy.markets[0].status == "suspended"
    assert [o.odds_milli for o in copy.markets[0].outcomes] == [2600, 2000]
    # An older fill is refused too.
    assert not await cache.fill(_event(event_id, 6))
    assert (await cache.read(event_id)) == copy


async def test_a_missed_change_drops_the_copy(cache: OddsCache) -> None:
    event_id = _new_id()
    await cache.fill(_event(event_id, 5))
    assert await cache.apply(Change(event_id, 7, {"p:10": 2600})) == "gap"
    assert await cache.read(event_id) is None
    # A fill read before seq 7 committed is refused; one read after it is taken.
    assert not await cache.fill(_event(event_id, 6))
    assert await cache.fill(_event(event_id, 7, odds=2600))
    assert (await cache.read(event_id)) == _event(event_id, 7, odds=2600)


async def test_a_market_added_drops_the_copy_once(cache: OddsCache) -> None:
    event_id = _new_id()
    await cache.fill(_event(event_id, 5))
    assert await cache.apply(Change(event_id, 6, {}, reset=True)) == "reset"
    assert await cache.read(event_id) is None
    assert await cache.fill(_event(event_id, 6))
    # The same event again (a duplicate): the refilled copy already has the market.
    assert await cache.apply(Change(event_id, 6, {}, reset=True)) == "stale"
    assert await cache.read(event_id) == _event(event_id, 6)


async def test_changes_without_a_copy_fence_off_older_fills(cache: OddsCache) -> None:
    event_id = _new_id()
    assert await cache.apply(Change(event_id, 9, {"p:10": 2600})) == "miss"
    assert await cache.apply(Change(event_id, 8, {"p:10": 2500})) == "miss"
    assert not await cache.fill(_event(event_id, 8))
    assert await cache.fill(_event(event_id, 9))
    assert await cache.read(event_id) == _event(event_id, 9)
    ttl = await cache.redis.ttl(key(event_id))
    assert 0 < ttl <= cache.ttl


async def test_flush_drops_every_copy(cache: OddsCache) -> None:
    ids = [_new_id() for _ in range(3)]
    for event_id in ids:
        await cache.fill(_event(event_id, 1))
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
    return dict(orjson.loads(Snapshot.from_view(view).frame()))


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
    finally:
        stop.set()
        await writer


async def _usable(cache: OddsCache) -> bool:
    return cache.usable
