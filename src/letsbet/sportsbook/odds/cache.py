"""The Redis cache of current odds: one hash per event (layout in snapshot.py), kept by the api
role from the catalogue's NATS events and read for /ws/odds snapshots.

PostgreSQL stays the truth. The cache is a copy that is either exactly the event's state at its
`seq` or absent; a reader that misses (or finds Redis down) reads PostgreSQL and fills the copy.
Bet placement and cash-out never read it: they price under the event's row lock in PostgreSQL.

How the copy stays exact, whatever order or how often events arrive:
- Each change carries the event's seq; a Lua script applies it only to a copy at seq - 1 or
  seq (one commit may record several events with one seq; each sets absolute values, so a
  second application changes nothing). An older seq is ignored; a newer one means a change was
  missed, and the copy is dropped.
- With no copy, the script records the highest seq seen (`fence`); a fill read from PostgreSQL
  before that change committed is refused, so a slow fill cannot write an outdated copy.
- Every api process runs one writer: an ordered JetStream consumer (in order, no gaps while
  connected) of the catalogue subjects, starting at new messages. Whenever it (re)subscribes,
  after starting or after a NATS reconnect, it drops every copy first: changes made while no
  writer listened would be missing from them. A process uses the cache only while its own writer
  is subscribed on the current connection.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import redis.asyncio as aioredis
from nats.aio.msg import Msg
from nats.js.api import ConsumerConfig, DeliverPolicy

from letsbet.platform.aio import wait_or_stop
from letsbet.platform.bus.nats import EVENTS_STREAM, Bus
from letsbet.platform.observability import ODDS_CACHE_WRITES, get_logger
from letsbet.platform.runtime import Runtime
from letsbet.sportsbook.odds.snapshot import SUBJECTS, Change, Snapshot, changes

log = get_logger(__name__)

KEY_PREFIX = "odds:event:"
TTL_SECONDS = 6 * 3600  # an idle copy expires; the next snapshot reads PostgreSQL again

# KEYS[1] event hash; ARGV: seq, ttl, reset ("1"/"0"), then field, value, ...
_APPLY = """
local seq = tonumber(ARGV[1])
local cur = redis.call('HGET', KEYS[1], 'seq')
if not cur then
  local fence = tonumber(redis.call('HGET', KEYS[1], 'fence') or '-1')
  if seq > fence then redis.call('HSET', KEYS[1], 'fence', seq) end
  redis.call('EXPIRE', KEYS[1], ARGV[2])
  return 'miss'
end
cur = tonumber(cur)
if seq < cur or (seq == cur and ARGV[3] == '1') then return 'stale' end
if seq > cur + 1 or ARGV[3] == '1' then
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[1], 'fence', seq)
  redis.call('EXPIRE', KEYS[1], ARGV[2])
  if ARGV[3] == '1' then return 'reset' end
  return 'gap'
end
redis.call('HSET', KEYS[1], 'seq', seq)
for i = 4, #ARGV, 200 do
  redis.call('HSET', KEYS[1], unpack(ARGV, i, math.min(i + 199, #ARGV)))
end
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 'applied'
"""

# KEYS[1] event hash; ARGV: seq, ttl, then field, value, ... (the whole copy)
_FILL = """
local seq = tonumber(ARGV[1])
local cur = tonumber(redis.call('HGET', KEYS[1], 'seq') or '-1')
local fence = tonumber(redis.call('HGET', KEYS[1], 'fence') or '-1')
if seq <= cur or seq < fence then return 0 end
redis.call('DEL', KEYS[1])
for i = 3, #ARGV, 200 do
  redis.call('HSET', KEYS[1], unpack(ARGV, i, math.min(i + 199, #ARGV)))
end
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1
"""


def key(event_id: int) -> str:
    return f"{KEY_PREFIX}{event_id}"


def _pairs(fields: dict[str, str | int] | Any) -> list[str | int]:
    flat: list[str | int] = []
    for name, value in fields.items():
        flat += [name, value]
    return flat


class OddsCache:
    """Reads, fills and updates of the per-event copies, and the writer that feeds them."""

    def __init__(self, redis: aioredis.Redis, bus: Bus, *, ttl: int = TTL_SECONDS) -> None:
        self.redis = redis
        self.bus = bus
        self.ttl = ttl
        self._apply = redis.register_script(_APPLY)
        self._fill = redis.register_script(_FILL)
        self._following: Any = None  # the NATS client the writer is subscribed on
        self._reconnects = -1  # that client's reconnect count when the writer subscribed
        self._broken = False  # a change could not be applied: resubscribe and drop the copies

    # -- the copies -----------------------------------------------------------------------------
    @property
    def usable(self) -> bool:
        """True while this process's writer follows every change on the current connection."""
        nc = self.bus.nc
        return (
            nc is not None
            and nc is self._following
            and nc.is_connected
            and nc.stats["reconnects"] == self._reconnects
            and not self._broken
        )

    async def read(self, event_id: int) -> Snapshot | None:
        """The cached snapshot, or None (no copy). Redis errors propagate: the caller falls back."""
        raw: dict[bytes, bytes] = await self.redis.hgetall(key(event_id))  # type: ignore[assignment]
        return Snapshot.from_fields(event_id, raw) if raw else None

    async def fill(self, snapshot: Snapshot) -> bool:
        """Store a snapshot read from PostgreSQL unless the copy is as new or newer."""
        args = [snapshot.seq, self.ttl, *_pairs(snapshot.fields())]
        return bool(await self._fill(keys=[key(snapshot.event_id)], args=args))

    async def apply(self, change: Change) -> str:
        """applied | stale | gap | reset | miss (see the script)."""
        args = [change.seq, self.ttl, "1" if change.reset else "0", *_pairs(change.fields)]
        outcome = await self._apply(keys=[key(change.event_id)], args=args)
        return outcome.decode() if isinstance(outcome, bytes) else str(outcome)

    async def flush(self) -> int:
        """Drop every copy (UNLINK in batches, never KEYS)."""
        dropped = 0
        batch: list[bytes] = []
        async for name in self.redis.scan_iter(match=f"{KEY_PREFIX}*", count=500):
            batch.append(name)
            if len(batch) == 500:
                dropped += await self.redis.unlink(*batch)
                batch.clear()
        if batch:
            dropped += await self.redis.unlink(*batch)
        return int(dropped)

    # -- the writer -----------------------------------------------------------------------------
    async def handle(self, subject: str, payload: bytes) -> str | None:
        """Apply one published catalogue event; what the script did (None: not for the cache)."""
        try:
            change = changes(subject, orjson.loads(payload)["data"])
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            log.warning("odds_cache.bad_event", subject=subject, error=repr(exc))
            return None
        if change is None:
            return None
        outcome = await self.apply(change)
        ODDS_CACHE_WRITES.labels(outcome).inc()
        return outcome

    async def run(self, stop: asyncio.Event) -> None:
        """Follow the catalogue's changes until `stop` (the api role runs this once)."""
        while not stop.is_set():
            nc = self.bus.nc
            if nc is None or not nc.is_connected:
                await wait_or_stop(stop, 0.5)
                continue
            subscription = None
            try:
                subscription = await self.bus.js.subscribe(
                    SUBJECTS[0],
                    stream=EVENTS_STREAM,
                    ordered_consumer=True,
                    deliver_policy=DeliverPolicy.NEW,
                    config=ConsumerConfig(filter_subjects=list(SUBJECTS)),
                    idle_heartbeat=2.0,
                )
                # Subscribed first, then dropped: a change after this point is applied to
                # copies filled after the flush, and nothing older survives in them.
                dropped = await self.flush()
                self._broken = False
                self._following, self._reconnects = nc, nc.stats["reconnects"]
                log.info("odds_cache.following", dropped=dropped)
                await self._follow(subscription, stop)
            except Exception as exc:  # NATS or Redis trouble: start over after a pause
                log.warning("odds_cache.writer_failed", error=str(exc) or type(exc).__name__)
                await wait_or_stop(stop, 1.0)
            finally:
                self._following = None
                if subscription is not None:
                    try:
                        await subscription.unsubscribe()
                    except Exception:  # the connection is gone already: so is the subscription
                        log.debug("odds_cache.unsubscribe_failed")

    async def _follow(self, subscription: Any, stop: asyncio.Event) -> None:
        while not stop.is_set() and self.usable:
            try:
                msg: Msg = await subscription.next_msg(timeout=0.5)
            except TimeoutError:
                continue
            try:
                await self.handle(msg.subject, msg.data)
            except Exception:
                self._broken = True  # the copy of this event may now be behind: start over
                raise


def odds_cache(runtime: Runtime) -> OddsCache:
    """The process's cache (one per runtime, made on first use)."""
    cache = runtime.extras.get("odds_cache")
    if not isinstance(cache, OddsCache):
        cache = runtime.extras["odds_cache"] = OddsCache(runtime.redis, runtime.bus)
    return cache
