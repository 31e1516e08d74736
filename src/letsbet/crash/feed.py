"""Live round events: what the engine and the bet commands announce, on NATS.

Every frame is published, already in its wire shape, on core NATS subject `games.crash.<game>`
(one subject per game, so a subscriber sees one game's frames in order). Core NATS, not the
JetStream event stream: ticks are many and worthless a second later, and `games.` is outside
the stream's subjects. Delivery is at most once; the durable record of every round and bet is
in PostgreSQL (and its `crash.*` outbox events). An api replica's WebSocket hub subscribes to
`games.crash.>` and forwards each frame to its own sockets.

Frames (the public half of the /ws/games protocol; the crash point appears only in `crashed`):
    round_starting {round_id, betting_closes_at}   round_started {round_id, started_at}
    tick {round_id, elapsed_ms, current_multiplier, server_time}   server_time: epoch ms at
        publication (clients estimate their clock offset with it; the bench measures latency)
    bet_placed {round_id, bet_id, player, amount, currency}
    cashed_out {round_id, bet_id, player, multiplier, payout, currency}
    crashed {round_id, crash_point, game_hash, elapsed_ms}

Frames for one player only (the engine's auto and cap cash-outs, which no socket asked for) go
on `games.crash.<game>.private` as {"user_id", "frame"}; the hub hands `frame` to that player's
sockets on the game, on whichever replica they are:
    cashout_confirmed {round_id, bet_id, multiplier, payout, net_payout, currency, kind}
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol

import orjson

from letsbet.crash.fairness import format_multiplier
from letsbet.platform.bus.nats import Bus
from letsbet.platform.money import Money
from letsbet.platform.observability import get_logger

log = get_logger(__name__)

SUBJECT_PREFIX = "games.crash"
Frame = dict[str, Any]


PRIVATE = "private"


def subject(game_id: str) -> str:
    return f"{SUBJECT_PREFIX}.{game_id}"


def private_subject(game_id: str) -> str:
    return f"{SUBJECT_PREFIX}.{game_id}.{PRIVATE}"


class RoundFeed(Protocol):
    """Where round events go; the engine and the bet commands need nothing else."""

    async def publish(self, game_id: str, frame: Mapping[str, Any]) -> None: ...

    async def publish_private(
        self, game_id: str, user_id: uuid.UUID, frame: Mapping[str, Any]
    ) -> None: ...


class NatsFeed:
    """Publishes frames on core NATS; while NATS is down they are dropped (live data)."""

    def __init__(self, bus: Bus) -> None:
        self.bus = bus

    async def publish(self, game_id: str, frame: Mapping[str, Any]) -> None:
        await self._send(subject(game_id), orjson.dumps(frame))

    async def publish_private(
        self, game_id: str, user_id: uuid.UUID, frame: Mapping[str, Any]
    ) -> None:
        payload = orjson.dumps({"user_id": str(user_id), "frame": frame})
        await self._send(private_subject(game_id), payload)

    async def _send(self, to: str, payload: bytes) -> None:
        nc = self.bus.nc
        if nc is None or not nc.is_connected:
            return
        try:
            await nc.publish(to, payload)
        except Exception as exc:  # reconnecting or closing: a live frame is not worth a retry
            log.debug("crash.feed_publish_failed", error=str(exc) or type(exc).__name__)


# -- frames ----------------------------------------------------------------------------------------
def _frame(frame_type: str, game_id: str, round_id: int, **fields: Any) -> Frame:
    return {"type": frame_type, "game_id": game_id, "round_id": round_id, **fields}


def round_starting(game_id: str, round_id: int, betting_closes_at: datetime) -> Frame:
    return _frame(
        "round_starting", game_id, round_id, betting_closes_at=betting_closes_at.isoformat()
    )


def round_started(game_id: str, round_id: int, started_at: datetime) -> Frame:
    return _frame("round_started", game_id, round_id, started_at=started_at.isoformat())


def tick(game_id: str, round_id: int, elapsed_ms: int, multiplier: int) -> Frame:
    return _frame(
        "tick",
        game_id,
        round_id,
        elapsed_ms=elapsed_ms,
        current_multiplier=format_multiplier(multiplier),
        server_time=time.time_ns() // 1_000_000,
    )


def bet_placed(
    game_id: str, round_id: int, *, bet_id: str, player: str, amount: int, currency: str
) -> Frame:
    return _frame(
        "bet_placed",
        game_id,
        round_id,
        bet_id=bet_id,
        player=player,
        amount=Money(amount, currency).format(),
        currency=currency,
    )


def cashed_out(
    game_id: str,
    round_id: int,
    *,
    bet_id: str,
    player: str,
    multiplier: int,
    payout: int,
    currency: str,
) -> Frame:
    return _frame(
        "cashed_out",
        game_id,
        round_id,
        bet_id=bet_id,
        player=player,
        multiplier=format_multiplier(multiplier),
        payout=Money(payout, currency).format(),
        currency=currency,
    )


def crashed(
    game_id: str, round_id: int, *, crash_point: int, game_hash: str, elapsed_ms: int
) -> Frame:
    return _frame(
        "crashed",
        game_id,
        round_id,
        crash_point=format_multiplier(crash_point),
        game_hash=game_hash,
        elapsed_ms=elapsed_ms,
    )


def cashout_confirmed(
    game_id: str,
    round_id: int,
    *,
    bet_id: str,
    multiplier: int,
    payout: int,
    net_payout: int,
    currency: str,
    kind: str,
) -> Frame:
    """To the bet's owner: the payout before tax and what reached the wallet."""
    return _frame(
        "cashout_confirmed",
        game_id,
        round_id,
        bet_id=bet_id,
        multiplier=format_multiplier(multiplier),
        payout=Money(payout, currency).format(),
        net_payout=Money(net_payout, currency).format(),
        currency=currency,
        kind=kind,
    )
