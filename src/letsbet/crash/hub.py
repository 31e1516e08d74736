"""Live crash frames to this process's sockets: one NATS subscription, bounded queues per socket.

The engine (role `games`) and the bet commands publish every round frame on core NATS subject
`games.crash.<game>` already in its wire shape (feed.py); every api replica's hub receives them
on one subscription to `games.crash.>` and hands the payload, decoded once, to the queue of each
socket watching that game. Frames for one player (`games.crash.<game>.private`: the engine's
auto and cap cash-outs) go to that player's sockets on the game only, followed by a fresh
balance. So a player may be on any replica, and more players means more replicas.

The hub never awaits a socket: a socket whose queue is full is cut off (its writer closes it
with 1013) and the round goes on for everyone else. One subscription, not one per game: each
nats-py subscription has its own task, and a socket must see its game's frames in order.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import TypeVar

import orjson
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from letsbet.crash.feed import PRIVATE, SUBJECT_PREFIX
from letsbet.platform.bus.nats import Bus
from letsbet.platform.observability import (
    CRASH_FANOUT_SECONDS,
    CRASH_SOCKETS_DROPPED,
    get_logger,
)

log = get_logger(__name__)

SUBJECTS = f"{SUBJECT_PREFIX}.>"
QUEUE_SIZE = 64  # frames waiting for one socket (6 s of ticks) before it counts as too slow
_PREFIX = SUBJECT_PREFIX + "."


class Expired:
    """Queued when the socket's token runs out: the writer checks the session, in order."""


EXPIRED = Expired()
Item = str | Expired | None  # a frame, a session check, or None: cut off
Balances = Callable[[uuid.UUID, str], Awaitable[str | None]]  # (player, currency) → frame


class Seat:
    """One socket's place in the hub: the game it watches, its player (None: a spectator) and
    its queue. A full queue means the socket is too slow: cut off, never waited for."""

    __slots__ = ("cut_off", "game_id", "queue", "user_id")

    def __init__(self, game_id: str, queue_size: int) -> None:
        self.game_id = game_id
        self.user_id: uuid.UUID | None = None
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
            CRASH_SOCKETS_DROPPED.inc()
            while not self.queue.empty():  # room for the one sentinel the writer needs
                self.queue.get_nowait()
            self.queue.put_nowait(None)
            return False


class CrashHub:
    """game id → seats and player → seats, fed from NATS. Started lazily by the first socket."""

    def __init__(
        self, bus: Bus, *, queue_size: int = QUEUE_SIZE, balances: Balances | None = None
    ) -> None:
        if queue_size < 1:  # asyncio.Queue(0) would be unbounded
            raise ValueError(f"queue_size must be at least 1, not {queue_size}")
        self.bus = bus
        self.queue_size = queue_size
        self.balances = balances
        self._games: dict[str, set[Seat]] = {}
        self._players: dict[uuid.UUID, set[Seat]] = {}
        self._subscription: Subscription | None = None
        self._nc: object | None = None
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def started(self) -> bool:
        nc = self.bus.nc
        return self._subscription is not None and nc is self._nc and nc is not None

    async def start(self) -> bool:
        """Subscribe once per NATS connection; False while NATS is down (the next socket
        retries). nats-py re-subscribes by itself after a reconnect."""
        if self.started:
            return True
        async with self._lock:
            nc = self.bus.nc
            if self.started:
                return True
            if nc is None or not nc.is_connected:
                return False
            try:
                self._subscription = await nc.subscribe(
                    SUBJECTS, cb=self._on_message, pending_msgs_limit=65536
                )
                # The server has the subscription before the first socket is told anything.
                await nc.flush(timeout=2)
            except Exception as exc:  # closing or reconnecting: the next socket retries
                log.warning("crash_hub.subscribe_failed", error=str(exc) or type(exc).__name__)
                return False
            self._nc = nc
            log.info("crash_hub.started", subject=SUBJECTS)
            return True

    async def stop(self) -> None:
        subscription, self._subscription, self._nc = self._subscription, None, None
        if subscription is not None:
            try:
                await subscription.unsubscribe()
            except Exception:  # the connection is gone already: so is the subscription
                log.debug("crash_hub.unsubscribe_failed")

    # -- seats -----------------------------------------------------------------------------------
    def join(self, game_id: str) -> Seat:
        seat = Seat(game_id, self.queue_size)
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
        frame = payload.decode()
        too_slow = [seat for seat in seats if not seat.offer(frame)]
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
