"""Private bet updates: one NATS subscription per process, routed by user id to bounded queues.

Bet lifecycle events (`sportsbook.bet.*`, recorded in the outbox with the state change) reach
every api replica on a core NATS subscription; each replica hands them to the sockets of that
player it serves, so a player with several tabs, on several replicas, gets each update on every
socket. Not the durable consumers of platform/bus/consumer.py: those split a stream between
replicas (a consumer group), and here every replica needs every event.

Delivery is at most once and best effort, like /ws/odds: the REST API (GET /api/bets/{id}) is
the record, a client refetches after a reconnect. The relay may publish an event twice (it
marks rows after publishing), so the channel drops event ids it has just delivered.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import deque
from collections.abc import Mapping
from typing import Any

import orjson
from nats.aio.msg import Msg

from letsbet.platform.bus.nats import Bus
from letsbet.platform.bus.subscription import CoreSubscription
from letsbet.platform.money import Money
from letsbet.platform.observability import BET_SOCKETS_DROPPED, get_logger
from letsbet.platform.runtime import Runtime

log = get_logger(__name__)

SUBJECTS = "sportsbook.bet.>"
QUEUE_SIZE = 64  # frames waiting for one socket before it counts as too slow
RECENT_EVENTS = 4096  # event ids remembered to drop a relay's re-publish

# Status a bet has after each event, when the event does not say.
_STATUS = {"accepted": "open", "rejected": "rejected", "cashed_out": "cashed_out", "voided": "void"}
# Amounts an event may carry (minor units) → their names in the REST API's bet.
_AMOUNTS = {
    "total_stake": "total_stake",
    "potential_return": "potential_return",
    "return": "returned",
    "winnings_tax": "winnings_tax",
    "payout": "payout",
}

Item = str | None  # a frame, or None when the channel cut the inbox off


def bet_frame(subject: str, envelope: Mapping[str, Any]) -> tuple[uuid.UUID, str] | None:
    """(user id, frame) of a bet event; None if it is not one a player is told about.

    Frame: {"type": "bet", "event": "placed|accepted|rejected|settled|cashed_out|...",
    "event_id", "bet_id", "status", "reject_code"?, "currency"?, amounts as decimal strings
    in the REST API's names (total_stake, potential_return, returned, winnings_tax, payout),
    "at"}. Any future `sportsbook.bet.<verb>` with user_id and bet_id passes through the same.
    """
    verb = subject.rpartition(".")[2]
    data = envelope["data"]
    if "user_id" not in data or "bet_id" not in data:
        return None
    frame: dict[str, Any] = {
        "type": "bet",
        "event": verb,
        "event_id": envelope["id"],
        "bet_id": data["bet_id"],
        "status": data.get("status") or _STATUS.get(verb, verb),
    }
    if data.get("reject_code"):
        frame["reject_code"] = data["reject_code"]
    currency = data.get("currency")
    if currency:
        frame["currency"] = currency
        for name, shown in _AMOUNTS.items():
            if data.get(name) is not None:
                frame[shown] = Money(int(data[name]), currency).format()
    frame["at"] = envelope["occurred_at"]
    return uuid.UUID(str(data["user_id"])), orjson.dumps(frame).decode()


class Inbox:
    """One socket's queue. Full means the socket is too slow: it is cut off, not waited for."""

    __slots__ = ("cut_off", "queue", "user_id")

    def __init__(self, user_id: uuid.UUID, queue_size: int) -> None:
        self.user_id = user_id
        self.queue: asyncio.Queue[Item] = asyncio.Queue(queue_size)
        self.cut_off = False

    def offer(self, item: Item) -> bool:
        if self.cut_off:
            return False
        try:
            self.queue.put_nowait(item)
            return True
        except asyncio.QueueFull:
            self.cut_off = True
            BET_SOCKETS_DROPPED.inc()
            while not self.queue.empty():  # room for the one sentinel the writer needs
                self.queue.get_nowait()
            self.queue.put_nowait(None)
            return False


class BetChannel:
    """user id → inboxes, fed from NATS. Started lazily by the first socket."""

    def __init__(self, bus: Bus, *, queue_size: int = QUEUE_SIZE) -> None:
        if queue_size < 1:  # asyncio.Queue(0) would be unbounded
            raise ValueError(f"queue_size must be at least 1, not {queue_size}")
        self.bus = bus
        self.queue_size = queue_size
        self._inboxes: dict[uuid.UUID, set[Inbox]] = {}
        self._recent: deque[str] = deque(maxlen=RECENT_EVENTS)
        self._recent_set: set[str] = set()
        self._feed = CoreSubscription(bus, SUBJECTS, self._on_message, name="bet_channel")

    @property
    def started(self) -> bool:
        return self._feed.started

    async def start(self) -> bool:
        """Subscribe once per NATS connection (see platform/bus/subscription.py); False while
        NATS is down (the next socket retries)."""
        return await self._feed.start()

    async def stop(self) -> None:
        await self._feed.stop()

    def join(self, user_id: uuid.UUID) -> Inbox:
        inbox = Inbox(user_id, self.queue_size)
        self._inboxes.setdefault(user_id, set()).add(inbox)
        return inbox

    def leave(self, inbox: Inbox) -> None:
        inboxes = self._inboxes.get(inbox.user_id)
        if inboxes is not None:
            inboxes.discard(inbox)
            if not inboxes:
                del self._inboxes[inbox.user_id]

    def sockets(self, user_id: uuid.UUID) -> int:
        return len(self._inboxes.get(user_id, ()))

    def __len__(self) -> int:
        return sum(len(inboxes) for inboxes in self._inboxes.values())

    async def _on_message(self, msg: Msg) -> None:
        self.dispatch(msg.subject, msg.data)

    def dispatch(self, subject: str, payload: bytes) -> int:
        """Hand one published bet event to its player's sockets; how many got it. Never waits."""
        try:
            envelope = orjson.loads(payload)
            event_id = str(envelope["id"])
            if event_id in self._recent_set:
                return 0
            routed = bet_frame(subject, envelope)
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            log.warning("bet_channel.bad_event", subject=subject, error=repr(exc))
            return 0
        self._remember(event_id)
        if routed is None:
            return 0
        user_id, frame = routed
        inboxes = self._inboxes.get(user_id)
        if not inboxes:
            return 0
        too_slow = [inbox for inbox in inboxes if not inbox.offer(frame)]
        for inbox in too_slow:
            log.info("bet_channel.socket_too_slow", queue_size=self.queue_size)
            self.leave(inbox)
        return len(inboxes)  # the slow ones are no longer among them

    def _remember(self, event_id: str) -> None:
        if len(self._recent) == self._recent.maxlen:
            self._recent_set.discard(self._recent[0])
        self._recent.append(event_id)
        self._recent_set.add(event_id)


def bet_channel(runtime: Runtime) -> BetChannel:
    """The process's channel (one per runtime, made on first use)."""
    channel = runtime.extras.get("bet_channel")
    if not isinstance(channel, BetChannel):
        channel = runtime.extras["bet_channel"] = BetChannel(runtime.bus)
    return channel
