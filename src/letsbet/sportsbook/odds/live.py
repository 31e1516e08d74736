"""Live odds fan-out: one NATS subscription per process, one bounded queue per WebSocket.

The relay publishes the catalogue's outbox events to NATS; every api replica's hub receives
them on a core (non-durable) subscription and turns each into one client frame, encoded once
and handed to the listeners of that event. A listener whose queue is full is cut off (its
socket closes with 1013 and the client re-subscribes) so one slow client never holds up the
rest: the hub never awaits a socket.

One subscription on `sportsbook.>` rather than one per subject: nats-py runs each
subscription's callbacks in its own task, so messages of different subjects could overtake
each other, and a client must see one event's changes in `seq` order.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from nats.aio.msg import Msg

from letsbet.platform.bus.nats import Bus
from letsbet.platform.bus.subscription import CoreSubscription
from letsbet.platform.observability import ODDS_SLOW_DROPPED, get_logger
from letsbet.platform.runtime import Runtime
from letsbet.sportsbook.catalogue.service import format_odds

log = get_logger(__name__)

SUBJECTS = "sportsbook.>"
QUEUE_SIZE = 256  # frames waiting for one socket before it counts as too slow


@dataclass(frozen=True, slots=True)
class Update:
    """A change to one event, already encoded for the wire."""

    event_id: int
    seq: int
    frame: str


@dataclass(frozen=True, slots=True)
class SnapshotDue:
    """Read and send the event's snapshot here, in queue order (see ws.py for why)."""

    event_id: int
    since_seq: int | None = None  # the client's seq: a snapshot must not be older


# What a socket's writer takes from its queue: a change, a snapshot to read, a reply frame,
# or None when the hub cut the listener off.
Item = Update | SnapshotDue | str | None


class Listener:
    """One socket's view of the hub: its queue and the events it follows.

    `events` maps event id → the seq of the snapshot sent (None until it is sent); the writer
    forwards an update only when it is newer than that snapshot.
    """

    __slots__ = ("cut_off", "events", "queue")

    def __init__(self, queue_size: int) -> None:
        self.queue: asyncio.Queue[Item] = asyncio.Queue(queue_size)
        self.events: dict[int, int | None] = {}
        self.cut_off = False

    def offer(self, item: Item) -> bool:
        """Queue an item without waiting; a full queue cuts the listener off (False)."""
        if self.cut_off:
            return False
        try:
            self.queue.put_nowait(item)
            return True
        except asyncio.QueueFull:
            self._cut_off()
            return False

    def _cut_off(self) -> None:
        # What is queued will never be sent: make room for the one sentinel the writer needs.
        self.cut_off = True
        ODDS_SLOW_DROPPED.inc()
        while not self.queue.empty():
            self.queue.get_nowait()
        self.queue.put_nowait(None)


class OddsHub:
    """event id → listeners, fed from NATS. Started lazily by the first socket."""

    def __init__(self, bus: Bus, *, queue_size: int = QUEUE_SIZE) -> None:
        if queue_size < 1:  # asyncio.Queue(0) would be unbounded
            raise ValueError(f"queue_size must be at least 1, not {queue_size}")
        self.bus = bus
        self.queue_size = queue_size
        self._followers: dict[int, set[Listener]] = {}
        self._seen: dict[int, int] = {}  # followed event → highest seq dispatched
        self._listeners: set[Listener] = set()
        self._feed = CoreSubscription(bus, SUBJECTS, self._on_message, name="odds_hub")

    @property
    def started(self) -> bool:
        return self._feed.started

    async def start(self) -> bool:
        """Subscribe once per NATS connection (see platform/bus/subscription.py); False while
        NATS is down (the next socket retries)."""
        return await self._feed.start()

    async def stop(self) -> None:
        await self._feed.stop()

    # -- listeners -------------------------------------------------------------------------------
    def listen(self) -> Listener:
        listener = Listener(self.queue_size)
        self._listeners.add(listener)
        return listener

    def forget(self, listener: Listener) -> None:
        for event_id in list(listener.events):
            self.unfollow(listener, event_id)
        self._listeners.discard(listener)

    def follow(self, listener: Listener, event_id: int) -> None:
        """Start (or restart) following an event; updates wait for its snapshot."""
        listener.events[event_id] = None
        self._followers.setdefault(event_id, set()).add(listener)

    def unfollow(self, listener: Listener, event_id: int) -> None:
        listener.events.pop(event_id, None)
        followers = self._followers.get(event_id)
        if followers is not None:
            followers.discard(listener)
            if not followers:
                del self._followers[event_id]
                self._seen.pop(event_id, None)

    def followers(self, event_id: int) -> int:
        return len(self._followers.get(event_id, ()))

    def seen(self, event_id: int) -> int:
        """The highest seq handed to the event's listeners (-1: none since it was followed).

        A cached snapshot older than this would be wrong for a listener: the writer skips the
        updates queued before the snapshot, trusting that the snapshot contains them.
        """
        return self._seen.get(event_id, -1)

    def __len__(self) -> int:
        return len(self._listeners)

    # -- fan-out ---------------------------------------------------------------------------------
    async def _on_message(self, msg: Msg) -> None:
        self.dispatch(msg.subject, msg.data)

    def dispatch(self, subject: str, payload: bytes) -> int:
        """Hand one published event to its followers; how many got it. Never waits."""
        translate = _TRANSLATORS.get(subject)
        if translate is None:
            return 0
        try:
            data = orjson.loads(payload)["data"]
            followers = self._followers.get(int(data["event_id"]))
            if not followers:
                return 0
            update = translate(data)
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            log.warning("odds_hub.bad_event", subject=subject, error=repr(exc))
            return 0
        if update.seq > self._seen.get(update.event_id, -1):
            self._seen[update.event_id] = update.seq
        too_slow = [listener for listener in followers if not listener.offer(update)]
        for listener in too_slow:
            log.info("odds_hub.listener_too_slow", queue_size=self.queue_size)
            self.forget(listener)
        return len(followers)  # the slow ones are no longer among them


# -- catalogue event → client frame ------------------------------------------------------------
def _encode(message: Mapping[str, Any]) -> str:
    return orjson.dumps(message).decode()


def odds_update(data: Mapping[str, Any]) -> Update:
    event_id, seq = int(data["event_id"]), int(data["seq"])
    outcomes = [
        {
            "outcome_id": o["outcome_id"],
            "market_id": o["market_id"],
            "odds": format_odds(o["odds_milli"]),
            "odds_milli": o["odds_milli"],
        }
        for o in data["outcomes"]
    ]
    frame = {"type": "odds", "event_id": event_id, "seq": seq, "outcomes": outcomes}
    return Update(event_id, seq, _encode(frame))


def market_status_update(data: Mapping[str, Any]) -> Update:
    event_id, seq = int(data["event_id"]), int(data["seq"])
    frame = {
        "type": "status",
        "event_id": event_id,
        "seq": seq,
        "scope": "market",
        "market_id": data["market_id"],
        "status": data["status"],
    }
    return Update(event_id, seq, _encode(frame))


def market_resulted_update(data: Mapping[str, Any]) -> Update:
    # A resulted market is settled (a correction re-settles it): to a client, a status change.
    return market_status_update({**data, "status": "settled"})


def event_status_update(data: Mapping[str, Any]) -> Update:
    event_id, seq = int(data["event_id"]), int(data["seq"])
    frame = {
        "type": "status",
        "event_id": event_id,
        "seq": seq,
        "scope": "event",
        "status": data["status"],
        # Markets the change closed or cancelled with it (an event ending closes its markets).
        "markets": [
            {"market_id": m["market_id"], "status": m["status"]} for m in data.get("markets", [])
        ],
    }
    return Update(event_id, seq, _encode(frame))


_TRANSLATORS: dict[str, Callable[[Mapping[str, Any]], Update]] = {
    "sportsbook.odds.changed": odds_update,
    "sportsbook.market.status_changed": market_status_update,
    "sportsbook.market.resulted": market_resulted_update,
    "sportsbook.event.status_changed": event_status_update,
}


def odds_hub(runtime: Runtime) -> OddsHub:
    """The process's hub (one per runtime, made on first use)."""
    hub = runtime.extras.get("odds_hub")
    if not isinstance(hub, OddsHub):
        hub = runtime.extras["odds_hub"] = OddsHub(runtime.bus)
    return hub
