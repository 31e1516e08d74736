"""The /ws/games/{game_id} protocol: client messages, the frames only a socket sends (replies,
state, balance), and the per-socket command budget. Pure: no I/O. Round frames are feed.py's.

Client → server (JSON text; unknown fields are ignored):
    {"action": "auth", "token"}
    {"action": "place_bet", "amount": "100", "auto_cashout"?: "2.00", "idempotency_key"}
    {"action": "cashout", "bet_id"}
    {"action": "ping"}
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Annotated, Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from letsbet.accounts.tokens import Principal
from letsbet.crash.fairness import format_multiplier
from letsbet.crash.service import BetView
from letsbet.platform.http.frames import FrameError, parse_frame
from letsbet.platform.http.socket_auth import Auth
from letsbet.platform.money import MajorAmount, Money

MAX_MESSAGE_CHARS = 4096  # a token is about 400


class _Message(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore")


class Ping(_Message):
    action: Literal["ping"]


class PlaceBet(_Message):
    action: Literal["place_bet"]
    amount: MajorAmount
    auto_cashout: str | int | None = None
    idempotency_key: str = Field(min_length=1, max_length=100, pattern=r"^[\x21-\x7e]+$")


class Cashout(_Message):
    action: Literal["cashout"]
    bet_id: Annotated[uuid.UUID, Field(strict=False)]  # a JSON string


Message = Auth | Ping | PlaceBet | Cashout
ClientMessage = TypeAdapter[Message](Annotated[Message, Field(discriminator="action")])
COMMANDS = (PlaceBet, Cashout)


def parse(raw: str | bytes) -> Message | str:
    """The client's message, or the error frame answering it."""
    parsed = parse_frame(
        ClientMessage, raw, max_chars=MAX_MESSAGE_CHARS, actions="auth, place_bet, cashout or ping"
    )
    return error(parsed.code, parsed.message) if isinstance(parsed, FrameError) else parsed


# -- frames ----------------------------------------------------------------------------------------
def encode(frame: dict[str, Any]) -> str:
    return orjson.dumps(frame).decode()


def error(code: str, message: str) -> str:
    return encode({"type": "error", "code": code, "message": message})


PONG = encode({"type": "pong"})
UNAUTHENTICATED = error("unauthenticated", "Send an auth message (or connect with ?token=) first.")
RATE_LIMITED = error("rate_limited", "Too many messages on this connection; slow down.")


def authenticated(principal: Principal) -> str:
    return encode(
        {
            "type": "authenticated",
            "user_id": str(principal.user_id),
            "expires_at": principal.expires_at.isoformat(),
        }
    )


def balance(currency: str, available: int) -> str:
    return encode(
        {"type": "balance", "currency": currency, "available": _money(available, currency)}
    )


def bet_confirmed(bet: BetView, idempotency_key: str) -> str:
    return encode(
        {
            "type": "bet_confirmed",
            "game_id": bet.game_id,
            "round_id": bet.round_id,
            "bet_id": str(bet.id),
            "idempotency_key": idempotency_key,
            "amount": _money(bet.amount, bet.currency),
            "currency": bet.currency,
            "auto_cashout": _x(bet.auto_cashout),
            "status": bet.status,
            "replayed": bet.replayed,
        }
    )


def bet_rejected(action: str, code: str, message: str, **ids: str) -> str:
    """A refused command: place_bet (with its idempotency_key) or cashout (with its bet_id)."""
    return encode(
        {"type": "bet_rejected", "action": action, "code": code, "message": message, **ids}
    )


def cashout_confirmed(bet: BetView) -> str:
    """A manual cash-out's answer (or a retry's: `replayed`); same shape as the engine's."""
    assert bet.cashout_multiplier is not None and bet.payout is not None
    return encode(
        {
            "type": "cashout_confirmed",
            "game_id": bet.game_id,
            "round_id": bet.round_id,
            "bet_id": str(bet.id),
            "multiplier": format_multiplier(bet.cashout_multiplier),
            "payout": _money(bet.payout, bet.currency),
            "net_payout": _money(bet.net_payout or 0, bet.currency),
            "currency": bet.currency,
            "kind": bet.cashout_kind,
            "replayed": bet.replayed,
        }
    )


def round_state(
    game_id: str, state: Any | None, bets: Iterable[dict[str, Any]], server_time: int
) -> str:
    """What a socket is told first: enough for a late joiner to draw the round. `state` is a
    games.RoundState (crash point and hash only once crashed), None before the first round."""
    frame: dict[str, Any] = {"type": "round_state", "game_id": game_id, "server_time": server_time}
    if state is None:
        return encode({**frame, "phase": "idle", "round_id": None, "bets": []})
    frame.update(
        phase=state.status,
        round_id=state.round_id,
        round_number=state.round_number,
        betting_closes_at=_iso(state.betting_closes_at),
        started_at=_iso(state.started_at),
        elapsed_ms=state.elapsed_ms,
        current_multiplier=_x(state.multiplier),
        crash_point=_x(state.crash_point),
        game_hash=state.game_hash,
        crashed_at=_iso(state.crashed_at),
        bets=list(bets),
    )
    return encode(frame)


def _money(minor: int, currency: str) -> str:
    return Money(minor, currency).format()


def _x(hundredths: int | None) -> str | None:
    return None if hundredths is None else format_multiplier(hundredths)


def _iso(at: datetime | None) -> str | None:
    return None if at is None else at.isoformat()


# -- the per-socket budget -------------------------------------------------------------------------
class Budget:
    """A token bucket: `burst` messages at once, `rate` a second after that. Time is passed in
    (monotonic seconds), so it is tested without a clock."""

    __slots__ = ("_at", "_tokens", "burst", "rate")

    def __init__(self, rate: float, burst: int, now: float) -> None:
        self.rate, self.burst = rate, burst
        self._tokens, self._at = float(burst), now

    def take(self, now: float) -> bool:
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True
