"""WebSocket /ws/odds: live prices and statuses of the events a client follows (public).

Client → server (JSON text frames; unknown fields are ignored):
    {"action": "subscribe", "event_id": 7, "since_seq": 41}   since_seq optional: the answer
                                                              is a full snapshot, never older
    {"action": "unsubscribe", "event_id": 7}
    {"action": "ping"}

Server → client:
    {"type": "snapshot", "event_id", "seq", "status", "markets": [{"market_id", "type", "line",
        "status", "outcomes": [{"outcome_id", "key", "name", "odds", "odds_milli", "active"}]}]}
    {"type": "odds", "event_id", "seq", "outcomes": [{"outcome_id", "market_id", "odds",
        "odds_milli"}]}
    {"type": "status", "event_id", "seq", "scope": "market", "market_id", "status"}
                                          "settled" when the market is resulted (or corrected)
    {"type": "status", "event_id", "seq", "scope": "event", "status",
        "markets": [{"market_id", "status"}]}           markets the event's change closed
    {"type": "unsubscribed", "event_id"}
    {"type": "pong"}
    {"type": "error", "code", "message", "event_id"?}   invalid_json, invalid_message,
        unknown_action, event_not_found, too_many_subscriptions, rate_limited, unavailable

Sequencing: `seq` is the event's own counter, one step per change. Every subscribe answers with
a full snapshot at the current seq, then only updates newer than it (the server drops older
ones). Snapshots come from the Redis cache of current odds (odds/cache.py) when its copy is at
least as new as since_seq and as every update already queued for the socket, else from
PostgreSQL (which fills the cache). A change may come as several messages with one seq (a result
that ends the event). If seq jumps by more than one, the client missed something (NATS fan-out
is at-most-once; a market added has no live message): it re-subscribes, as a reconnecting client
does, and gets a fresh snapshot. A bad message gets an error frame; the socket stays open. A
client that falls live.QUEUE_SIZE (256) frames behind is closed with 1013 (try again later);
shutdown closes sockets with 1001. No authentication: odds are public; a subscribe counts
against the caller's IP `read` rate limit, and a socket follows at most 50 events.
"""

from __future__ import annotations

import asyncio
import time
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, WebSocket
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter
from starlette.websockets import WebSocketDisconnect

from letsbet.errors import LetsbetError
from letsbet.platform.http.frames import FrameError, parse_frame
from letsbet.platform.http.middleware import client_ip
from letsbet.platform.http.ratelimit import RateLimiter
from letsbet.platform.observability import ODDS_SNAPSHOT_SECONDS, ODDS_SOCKETS, get_logger
from letsbet.platform.runtime import Runtime
from letsbet.sportsbook.catalogue.schemas import Id
from letsbet.sportsbook.catalogue.service import event_view
from letsbet.sportsbook.odds.cache import Cached, OddsCache, odds_cache
from letsbet.sportsbook.odds.live import Listener, OddsHub, SnapshotDue, Update, odds_hub
from letsbet.sportsbook.odds.snapshot import frame_of

log = get_logger(__name__)

router = APIRouter(tags=["sportsbook"])

MAX_SUBSCRIPTIONS = 50
MAX_MESSAGE_CHARS = 1024
TRY_AGAIN_LATER = 1013


# -- client messages -----------------------------------------------------------------------------
class _Message(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore")  # strict: "7" is not an event id


class Subscribe(_Message):
    action: Literal["subscribe"]
    event_id: Id
    since_seq: int | None = Field(None, ge=0)


class Unsubscribe(_Message):
    action: Literal["unsubscribe"]
    event_id: Id


class Ping(_Message):
    action: Literal["ping"]


ClientMessage = TypeAdapter[Subscribe | Unsubscribe | Ping](
    Annotated[Subscribe | Unsubscribe | Ping, Field(discriminator="action")]
)


def parse(raw: str | bytes) -> Subscribe | Unsubscribe | Ping | str:
    """The client's message, or the error frame answering it."""
    parsed = parse_frame(
        ClientMessage, raw, max_chars=MAX_MESSAGE_CHARS, actions="subscribe, unsubscribe or ping"
    )
    return error(parsed.code, parsed.message) if isinstance(parsed, FrameError) else parsed


# -- server frames -------------------------------------------------------------------------------
def _encode(message: dict[str, Any]) -> str:
    return orjson.dumps(message).decode()


def error(code: str, message: str, *, event_id: int | None = None) -> str:
    frame: dict[str, Any] = {"type": "error", "code": code, "message": message}
    if event_id is not None:
        frame["event_id"] = event_id
    return _encode(frame)


PONG = _encode({"type": "pong"})


# -- the socket ----------------------------------------------------------------------------------
@router.websocket("/ws/odds")
async def odds_socket(websocket: WebSocket) -> None:
    runtime: Runtime = websocket.app.state.runtime
    hub = odds_hub(runtime)
    await hub.start()
    await websocket.accept()
    listener = hub.listen()
    async with runtime.websockets.track(websocket):
        ODDS_SOCKETS.inc()
        tasks = [
            asyncio.create_task(_read(websocket, runtime, hub, listener)),
            asyncio.create_task(_write(websocket, runtime, hub, listener)),
        ]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            ODDS_SOCKETS.dec()
            hub.forget(listener)
            for task in tasks:
                task.cancel()
            for outcome in await asyncio.gather(*tasks, return_exceptions=True):
                if isinstance(outcome, Exception) and not _gone(outcome):
                    log.warning("odds_ws.failed", error=repr(outcome))


def _gone(exc: BaseException) -> bool:
    # The client left mid-send: starlette raises WebSocketDisconnect or, after a close,
    # RuntimeError; uvicorn may raise its ClientDisconnected (an OSError).
    return isinstance(exc, WebSocketDisconnect | RuntimeError | OSError)


async def _read(websocket: WebSocket, runtime: Runtime, hub: OddsHub, listener: Listener) -> None:
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
        raw = message.get("text")
        if raw is None:
            raw = message.get("bytes") or b""
        reply = await _answer(websocket, runtime, hub, listener, parse(raw))
        if reply is not None and not listener.offer(reply):
            return  # cut off: the writer closes the socket


async def _answer(
    websocket: WebSocket,
    runtime: Runtime,
    hub: OddsHub,
    listener: Listener,
    message: Subscribe | Unsubscribe | Ping | str,
) -> str | SnapshotDue | None:
    match message:
        case str():
            return message
        case Ping():
            return PONG
        case Unsubscribe(event_id=event_id):
            hub.unfollow(listener, event_id)
            return _encode({"type": "unsubscribed", "event_id": event_id})
        case Subscribe(event_id=event_id, since_seq=since_seq):
            if event_id not in listener.events and len(listener.events) >= MAX_SUBSCRIPTIONS:
                return error(
                    "too_many_subscriptions",
                    f"A connection follows at most {MAX_SUBSCRIPTIONS} events.",
                    event_id=event_id,
                )
            try:
                await _rate_limit(websocket, runtime)
            except LetsbetError as exc:
                return error(exc.code, exc.message, event_id=event_id)
            await hub.start()  # retries if NATS was down when the socket opened
            hub.follow(listener, event_id)
            return SnapshotDue(event_id, since_seq)


async def _rate_limit(websocket: WebSocket, runtime: Runtime) -> None:
    """A subscribe reads the event like GET /api/events/{id} does, so it counts as a read."""
    limiter: RateLimiter = websocket.app.state.rate_limiter
    settings = runtime.settings
    ip = client_ip(websocket.scope, settings.trust_forwarded_for)
    await limiter.check(
        "read",
        settings.rate_limit_default,
        [f"ip:{ip}"],
        fail_open=settings.rate_limit_fail_open_reads,
    )


async def _write(websocket: WebSocket, runtime: Runtime, hub: OddsHub, listener: Listener) -> None:
    """The socket's only sender, taking the queue in order.

    Snapshots are read here, when their turn comes, so the order is right without locks: an
    update queued before the snapshot was committed before the snapshot's read (skipped, it is
    in the snapshot), and one queued after is sent only if its seq is newer.
    """
    while True:
        item = await listener.queue.get()
        match item:
            case None:
                await websocket.close(TRY_AGAIN_LATER, "too slow: reconnect and re-subscribe")
                return
            case Update(event_id=event_id, seq=seq, frame=frame):
                shown = listener.events.get(event_id)
                if shown is not None and seq > shown:
                    await websocket.send_text(frame)
            case SnapshotDue():
                snapshot = await _snapshot(runtime, hub, listener, item)
                if snapshot is not None:
                    await websocket.send_text(snapshot)
            case str():
                await websocket.send_text(item)


async def _snapshot(
    runtime: Runtime, hub: OddsHub, listener: Listener, due: SnapshotDue
) -> str | None:
    """The snapshot frame (or error frame) to send; None if the client stopped following.

    From the Redis cache when it has a copy at least as new as both the client's seq and every
    update already handed to this socket; otherwise from PostgreSQL, filling the cache.
    """
    event_id = due.event_id
    if event_id not in listener.events:
        return None
    cache = odds_cache(runtime)
    snapshot = await _cached(cache, hub, due)
    if snapshot is None:
        started = time.perf_counter()
        try:
            snapshot = await _from_postgres(runtime, event_id)
        except LetsbetError as exc:
            hub.unfollow(listener, event_id)
            return error(exc.code, exc.message, event_id=event_id)
        except Exception as exc:
            log.warning("odds_ws.snapshot_failed", event_id=event_id, error=repr(exc))
            hub.unfollow(listener, event_id)
            return error("unavailable", "The event cannot be read now; retry.", event_id=event_id)
        ODDS_SNAPSHOT_SECONDS.labels("postgres").observe(time.perf_counter() - started)
        if cache.usable:
            try:
                await cache.fill(event_id, snapshot.seq, snapshot.frame)
            except Exception as exc:  # Redis down: PostgreSQL answers until the writer is back
                log.debug("odds_ws.cache_fill_failed", error=type(exc).__name__)
                cache.failed()
    if event_id not in listener.events:  # unsubscribed during the read
        return None
    listener.events[event_id] = snapshot.seq
    return snapshot.frame


async def _cached(cache: OddsCache, hub: OddsHub, due: SnapshotDue) -> Cached | None:
    if not cache.usable:
        return None
    started = time.perf_counter()
    try:
        snapshot = await cache.read(due.event_id)
    except Exception as exc:  # Redis down or slow: PostgreSQL answers until the writer is back
        log.debug("odds_ws.cache_read_failed", error=type(exc).__name__)
        cache.failed()
        return None
    oldest = max(due.since_seq or 0, hub.seen(due.event_id))
    if snapshot is None or snapshot.seq < oldest:
        return None
    ODDS_SNAPSHOT_SECONDS.labels("cache").observe(time.perf_counter() - started)
    return snapshot


async def _from_postgres(runtime: Runtime, event_id: int) -> Cached:
    async with runtime.db.connect() as conn:
        # One consistent view: the seq and the prices of the same moment.
        await conn.execution_options(isolation_level="REPEATABLE READ")
        frame = frame_of(await event_view(conn, event_id, country=None))
    return Cached(frame["seq"], orjson.dumps(frame).decode())
