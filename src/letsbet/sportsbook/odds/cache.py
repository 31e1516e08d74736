"""The Redis cache of current odds: each event's snapshot frame, kept current by the api role
from the catalogue's NATS events and sent as read to /ws/odds subscribers.

PostgreSQL stays the truth. The cache holds, per event, a copy that is exactly the event's
snapshot at its `seq`, or nothing; a reader that misses (or finds Redis down) reads PostgreSQL
and fills the copy. Bet placement and cash-out never read it: they price under the event's row
lock in PostgreSQL.

One hash per event, `odds:event:<id>`: `seq`, `frame` (the encoded snapshot frame), `v` (a
random version token, new on every write), and `fence` while there is no copy.

How the copy stays exact, whatever order or how often events arrive:
- A change is applied only to a copy at seq - 1 or seq (one commit may record several events
  with one seq; each sets absolute values, so a second application changes nothing). An older
  seq is ignored; a newer one means a change was missed, and the copy is dropped, as it is when
  a market is added (its outcomes are not in the event).
- The writer reads the copy, advances the frame in Python and writes it back only if `v` is
  unchanged (compare-and-set in Lua; retried on a conflict), so replicas applying the same
  changes concurrently cannot lose one another's writes.
- With no copy, the highest seq seen is kept as `fence`; a fill read from PostgreSQL before that
  change committed is refused, so a slow fill cannot store an outdated copy.
- Every api process runs one writer: an ordered JetStream consumer (in order, no gaps while
  connected) of the catalogue subjects, starting at new messages. Whenever it (re)subscribes,
  after starting or after a NATS reconnect, it drops every copy first: changes made while no
  writer listened would be missing from them. A process uses the cache only while its own writer
  is subscribed on the current connection.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass
from typing import Any

import orjson
import redis.asyncio as aioredis
from nats.aio.msg import Msg
from nats.js.api import ConsumerConfig, DeliverPolicy

from letsbet.platform.aio import wait_or_stop
from letsbet.platform.bus.nats import EVENTS_STREAM, Bus
from letsbet.platform.observability import ODDS_CACHE_WRITES, get_logger
from letsbet.platform.runtime import Runtime
from letsbet.sportsbook.odds.snapshot import SUBJECTS, Change, advance, changes

log = get_logger(__name__)

KEY_PREFIX = "odds:event:"
TTL_SECONDS = 6 * 3600  # an idle copy expires; the next snapshot reads PostgreSQL again
ATTEMPTS = 10  # compare-and-set retries before the writer gives up and starts over

# KEYS[1]; ARGV seq, ttl. No copy: raise the fence (0 if a copy appeared meanwhile).
_FENCE = """
if redis.call('HEXISTS', KEYS[1], 'frame') == 1 then return 0 end
local fence = tonumber(redis.call('HGET', KEYS[1], 'fence') or '-1')
if tonumber(ARGV[1]) > fence then redis.call('HSET', KEYS[1], 'fence', ARGV[1]) end
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1
"""
# KEYS[1]; ARGV expected v, seq, frame, new v, ttl.
_WRITE = """
if redis.call('HGET', KEYS[1], 'v') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'seq', ARGV[2], 'frame', ARGV[3], 'v', ARGV[4])
redis.call('EXPIRE', KEYS[1], ARGV[5])
return 1
"""
# KEYS[1]; ARGV expected v, fence seq, new v, ttl. Drop the copy, keep a fence.
_DROP = """
if redis.call('HGET', KEYS[1], 'v') ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'fence', ARGV[2], 'v', ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[4])
return 1
"""
# KEYS[1]; ARGV seq, frame, new v, ttl. Store a copy read from PostgreSQL unless as new or
# newer is there, or a change newer than it has been seen.
_FILL = """
local seq = tonumber(ARGV[1])
local cur = tonumber(redis.call('HGET', KEYS[1], 'seq') or '-1')
local fence = tonumber(redis.call('HGET', KEYS[1], 'fence') or '-1')
if seq <= cur or seq < fence then return 0 end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'seq', ARGV[1], 'frame', ARGV[2], 'v', ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[4])
return 1
"""


def key(event_id: int) -> str:
    return f"{KEY_PREFIX}{event_id}"


def _token() -> str:
    return secrets.token_hex(8)


@dataclass(frozen=True, slots=True)
class Cached:
    seq: int
    frame: str  # the encoded snapshot frame, ready to send


class CacheContended(Exception):
    """A change could not be written after ATTEMPTS tries."""


class OddsCache:
    """Reads, fills and updates of the per-event copies, and the writer that feeds them."""

    def __init__(self, redis: aioredis.Redis, bus: Bus, *, ttl: int = TTL_SECONDS) -> None:
        self.redis = redis
        self.bus = bus
        self.ttl = ttl
        self._fence = redis.register_script(_FENCE)
        self._write = redis.register_script(_WRITE)
        self._drop = redis.register_script(_DROP)
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

    def failed(self) -> None:
        """A read or fill hit a Redis error: stop using the cache (and waiting for its timeouts)
        until the writer has subscribed again and dropped every copy."""
        self._broken = True

    async def read(self, event_id: int) -> Cached | None:
        """The cached copy, or None. Redis errors propagate: the caller falls back."""
        seq, frame = await self._fields(key(event_id), "seq", "frame")
        if seq is None or frame is None:
            return None
        return Cached(int(seq), frame.decode())

    async def _fields(self, name: str, *fields: str) -> list[bytes | None]:
        # The client does not decode responses: every value is bytes (or None).
        values: list[bytes | None] = await self.redis.hmget(name, list(fields))  # type: ignore[assignment]
        return values

    async def fill(self, event_id: int, seq: int, frame: str) -> bool:
        """Store a snapshot read from PostgreSQL unless the copy is as new or newer."""
        return bool(await self._fill(keys=[key(event_id)], args=[seq, frame, _token(), self.ttl]))

    async def apply(self, change: Change) -> str:
        """applied | stale | gap | reset | miss."""
        k = key(change.event_id)
        for _ in range(ATTEMPTS):
            seq, version, frame = await self._fields(k, "seq", "v", "frame")
            if seq is None or frame is None:
                if await self._fence(keys=[k], args=[change.seq, self.ttl]):
                    return "miss"
                continue  # a fill landed meanwhile
            current = int(seq)
            if change.seq < current or (change.seq == current and change.reset):
                return "stale"  # the copy has it (a refill after a reset includes the market)
            advanced = advance(orjson.loads(frame), change) if change.seq <= current + 1 else None
            expected = version or b""
            if advanced is None:
                if await self._drop(keys=[k], args=[expected, change.seq, _token(), self.ttl]):
                    return "reset" if change.reset else "gap"
                continue
            encoded = orjson.dumps(advanced)
            if await self._write(
                keys=[k], args=[expected, change.seq, encoded, _token(), self.ttl]
            ):
                return "applied"
        raise CacheContended(f"event {change.event_id}: no write after {ATTEMPTS} attempts")

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
        failures = 0
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
                failures = 0
                await self._follow(subscription, stop)
            except Exception as exc:  # NATS or Redis trouble: start over after a pause
                failures += 1
                log.warning(
                    "odds_cache.writer_failed",
                    error=str(exc) or type(exc).__name__,
                    failures=failures,
                )
                await wait_or_stop(stop, min(10.0, 0.5 * 2**failures))
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
