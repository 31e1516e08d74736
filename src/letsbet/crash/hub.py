"""Live crash frames to this process's sockets: one NATS subscription, one write per socket.

The engine (role `games`) and the bet commands publish every round frame on core NATS subject
`games.crash.<game>` already in its wire shape (feed.py); every api replica's hub receives them
on one subscription to `games.crash.>`, encodes the payload once into WebSocket wire bytes and
writes them straight to the transport of each socket watching that game (wire.py; a socket
without that path gets the text through its queue and writer task). Frames for one player
(`games.crash.<game>.private`: the engine's auto and cap cash-outs) go to that player's sockets
on the game only, followed by a fresh balance. So a player may be on any replica, and more
players means more replicas.

The hub never awaits a socket: a socket whose transport holds more than WRITE_BUFFER bytes
unsent, or whose queue is full, is cut off (its writer closes it with 1013) and the round goes
on for everyone else. One subscription, not one per game: each nats-py subscription has its
own task, and a socket must see its game's frames in order.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import TypeVar

import orjson
from nats.aio.msg import Msg

from letsbet.crash.feed import PRIVATE, SUBJECT_PREFIX
from letsbet.crash.wire import RawSocket, text_frame
from letsbet.platform.bus.nats import Bus
from letsbet.platform.bus.subscription import CoreSubscription
from letsbet.platform.observability import (
    CRASH_FANOUT_SECONDS,
    CRASH_SOCKETS_DROPPED,
    get_logger,
)

log = get_logger(__name__)

SUBJECTS = f"{SUBJECT_PREFIX}.>"
QUEUE_SIZE = 64  # frames waiting for one socket (6 s of ticks) before it counts as too slow
# Bytes a socket's transport may hold unsent before the socket counts as too slow: a client on
# a bad mobile link catches up from a few seconds of ticks; one that stopped reading is cut
# off before it costs more memory (10,000 such sockets: 2.5 GB at most).
WRITE_BUFFER = 256 * 1024
_PREFIX = SUBJECT_PREFIX + "."


class Expired:
    """Queued when the socket's token runs out: the writer checks the session, in order."""


EXPIRED = Expired()
Item = str | Expired | None  # a frame, a session check, or None: cut off
Balances = Callable[[uuid.UUID, str], Awaitable[str | None]]  # (player, currency) → frame


class Seat:
    """One socket's place in the hub: the game it watches, its player (None: a spectator) and
    where its frames go. A socket that falls behind is too slow: cut off, never waited for.

    Frames wait in the bounded queue until the socket had its first frames (the round state);
    then `stream` either writes them, and every later frame, straight to the socket's
    transport (wire.py: the queue then carries only EXPIRED and the cut-off for the writer)
    or leaves the queue to the socket's writer task (the `send_text` fallback). Either way a
    socket's frames reach it in the order they were offered: public, private and replies."""

    __slots__ = ("buffer_limit", "cut_off", "game_id", "queue", "raw", "user_id")

    def __init__(self, game_id: str, queue_size: int, buffer_limit: int = WRITE_BUFFER) -> None:
        self.game_id = game_id
        self.user_id: uuid.UUID | None = None
        self.queue: asyncio.Queue[Item] = asyncio.Queue(queue_size)
        self.raw: RawSocket | None = None
        self.buffer_limit = buffer_limit
        self.cut_off = False

    def stream(self, raw: RawSocket | None) -> None:
        """The first frames are out: from now on write to `raw` (None: the writer sends)."""
        if raw is None or self.cut_off:
            return
        held = []
        while not self.queue.empty():
            held.append(self.queue.get_nowait())
        self.raw = raw
        for item in held:
            if not self.offer(item):
                return

    def offer(self, item: Item) -> bool:
        """Hand over a frame (or a check); False if the socket is (now) cut off."""
        if self.cut_off:
            return False
        if self.raw is not None and isinstance(item, str):
            return self.write(text_frame(item.encode()))
        try:
            self.queue.put_nowait(item)
            return True
        except asyncio.QueueFull:
            self._cut_off()
            return False

    def write(self, frame: bytes) -> bool:
        """A finished frame to the transport (raw seats only); False if that made it too slow.
        A closing socket takes nothing and is not counted slow: its task is leaving anyway."""
        assert self.raw is not None
        if self.raw.write(frame) <= self.buffer_limit:
            return True
        self._cut_off()
        return False

    def _cut_off(self) -> None:
        self.cut_off = True
        CRASH_SOCKETS_DROPPED.inc()
        while not self.queue.empty():  # room for the one sentinel the writer needs
            self.queue.get_nowait()
        self.queue.put_nowait(None)


class CrashHub:
    """game id → seats and player → seats, fed from NATS. Started lazily by the first socket."""

    def __init__(
        self,
        bus: Bus,
        *,
        queue_size: int = QUEUE_SIZE,
        buffer_limit: int = WRITE_BUFFER,
        balances: Balances | None = None,
    ) -> None:
        if queue_size < 1:  # asyncio.Queue(0) would be unbounded
            raise ValueError(f"queue_size must be at least 1, not {queue_size}")
        self.bus = bus
        self.queue_size = queue_size
        self.buffer_limit = buffer_limit
        self.balances = balances
        self._games: dict[str, set[Seat]] = {}
        self._players: dict[uuid.UUID, set[Seat]] = {}
        self._feed = CoreSubscription(
            bus, SUBJECTS, self._on_message, name="crash_hub", pending_msgs_limit=65536
        )
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def started(self) -> bool:
        return self._feed.started

    async def start(self) -> bool:
        """Subscribe once per NATS connection (see platform/bus/subscription.py); False while
        NATS is down (the next socket retries)."""
        return await self._feed.start()

    async def stop(self) -> None:
        await self._feed.stop()

    # -- seats -----------------------------------------------------------------------------------
    def join(self, game_id: str) -> Seat:
        seat = Seat(game_id, self.queue_size, self.buffer_limit)
        self._games.setdefault(game_id, set()).add(seat)
        return seat

    def identify(self, seat: Seat, user_id: uuid.UUID) -> None:
        """The seat's player is known now (an auth message): private frames reach it."""
        if seat.user_id is not None:
            return
        seat.user_id = user_id
        self._players.setdefault(user_id, set()).add(seat)

    def leave(self, seat: Seat) -> None:
        _discard(self._games, seat.game_id, seat)
        if seat.user_id is not None:
            _discard(self._players, seat.user_id, seat)

    def watchers(self, game_id: str) -> int:
        return len(self._games.get(game_id, ()))

    def seats(self, game_id: str) -> list[Seat]:
        return list(self._games.get(game_id, ()))

    def sockets(self, user_id: uuid.UUID) -> int:
        return len(self._players.get(user_id, ()))

    def __len__(self) -> int:
        return sum(len(seats) for seats in self._games.values())

    # -- fan-out ---------------------------------------------------------------------------------
    async def _on_message(self, msg: Msg) -> None:
        self.dispatch(msg.subject, msg.data)

    def dispatch(self, subject: str, payload: bytes) -> int:
        """Hand one published frame to its sockets; how many got it. Never waits."""
        if not subject.startswith(_PREFIX):
            return 0
        game_id, _, kind = subject[len(_PREFIX) :].partition(".")
        if kind == PRIVATE:
            return self._private(game_id, payload)
        seats = self._games.get(game_id)
        if kind or not seats:
            return 0
        frame, wire = payload.decode(), text_frame(payload)  # encoded once for every socket
        too_slow = [
            seat
            for seat in seats
            if not (seat.write(wire) if seat.raw is not None else seat.offer(frame))
        ]
        self._drop(too_slow)
        if payload.startswith(b'{"type":"tick"'):
            _observe_fanout(payload)
        return len(seats)  # the slow ones are no longer among them

    def _private(self, game_id: str, payload: bytes) -> int:
        try:
            envelope = orjson.loads(payload)
            user_id = uuid.UUID(envelope["user_id"])
            inner = envelope["frame"]
            frame = orjson.dumps(inner).decode()
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            log.warning("crash_hub.bad_private_frame", game_id=game_id, error=repr(exc))
            return 0
        seats = [seat for seat in self._players.get(user_id, ()) if seat.game_id == game_id]
        self._drop([seat for seat in seats if not seat.offer(frame)])
        currency = inner.get("currency") if isinstance(inner, dict) else None
        if seats and self.balances is not None and isinstance(currency, str):
            task = asyncio.get_running_loop().create_task(self._balance(user_id, currency))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return len(seats)

    async def _balance(self, user_id: uuid.UUID, currency: str) -> None:
        assert self.balances is not None
        try:
            frame = await self.balances(user_id, currency)
        except Exception as exc:  # the balance is a courtesy; the wallet API is the record
            log.debug("crash_hub.balance_failed", error=type(exc).__name__)
            return
        if frame is not None:
            seats = list(self._players.get(user_id, ()))
            self._drop([seat for seat in seats if not seat.offer(frame)])

    def _drop(self, seats: list[Seat]) -> None:
        for seat in seats:
            log.info("crash_hub.socket_too_slow", game_id=seat.game_id, queue=self.queue_size)
            self.leave(seat)


def _observe_fanout(payload: bytes) -> None:
    """Seconds from the engine's publication of a tick to its frame in every local queue."""
    try:
        sent = orjson.loads(payload).get("server_time")
    except orjson.JSONDecodeError:
        return
    if isinstance(sent, int):
        CRASH_FANOUT_SECONDS.observe(max(0.0, time.time() - sent / 1000))


K = TypeVar("K")


def _discard(index: dict[K, set[Seat]], key: K, seat: Seat) -> None:
    seats = index.get(key)
    if seats is not None:
        seats.discard(seat)
        if not seats:
            del index[key]
