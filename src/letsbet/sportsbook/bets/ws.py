"""WebSocket /ws/bets: a player's own bet updates as they happen (private).

Authentication is the first message, not the URL: a token in a query string would land in
proxy and access logs. Within AUTH_SECONDS of connecting the client sends

    {"action": "auth", "token": "<access token>"}

and gets {"type": "authenticated", "user_id", "expires_at"}, or the socket closes with

    4401 reason invalid_token | token_expired | token_revoked | unauthorized (first message
         was not an auth message)
    4408 reason auth_timeout        nothing arrived in time
    4429 reason too_many_sockets    the player already has MAX_SOCKETS open on this replica

Then, client → server: {"action": "ping"} → {"type": "pong"}; {"action": "auth", "token"}
again with a fresh token of the same player extends the session and is answered with
"authenticated" (a bad token gets an error frame with its code; another player's token closes
the socket with 4403 user_mismatch). When the access token expires the socket closes with 4401
token_expired, unless a fresh token came first. A bad message gets an error frame (invalid_json,
invalid_message, unknown_action) and the socket stays open.

Server → client, for each of the player's bets (see channel.bet_frame):
    {"type": "bet", "event": "placed", "event_id", "bet_id", "status": "pending" | "open",
     "currency", "total_stake": "100.00", "potential_return": "210.00", "at"}
    {"type": "bet", "event": "accepted" | "rejected", ..., "status": "open" | "rejected",
     "reject_code"?: "odds_changed" | "market_suspended" | "market_closed"}
    {"type": "bet", "event": "settled" | "cashed_out", ..., "status", "returned",
     "winnings_tax", "payout"}
    {"type": "reality_check", "minutes", "message", "controls"} every N minutes of the session
     (responsible gaming: the player's interval, else RG_REALITY_CHECK_MINUTES)
Delivery is best effort: after a reconnect, read GET /api/bets for what was missed. A socket
more than channel.QUEUE_SIZE frames behind is closed with 1013; shutdown closes with 1001.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated, Literal

import orjson
from fastapi import APIRouter, WebSocket
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from starlette.websockets import WebSocketDisconnect

from letsbet.accounts.tokens import Principal
from letsbet.compliance.responsible_gaming import reality
from letsbet.errors import LetsbetError
from letsbet.platform.http.middleware import client_ip
from letsbet.platform.http.ratelimit import RateLimiter
from letsbet.platform.observability import BET_SOCKETS, get_logger
from letsbet.platform.runtime import Runtime
from letsbet.sportsbook.bets.channel import Inbox, bet_channel

log = get_logger(__name__)

router = APIRouter(tags=["bets"])

AUTH_SECONDS = 5.0
MAX_SOCKETS = 10  # per player and replica: tabs and devices, not an unbounded fan-out
MAX_MESSAGE_CHARS = 4096  # a token is about 400
UNAUTHORIZED, FORBIDDEN, AUTH_TIMEOUT, TOO_MANY = 4401, 4403, 4408, 4429
TRY_AGAIN_LATER = 1013


class _Message(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore")


class Auth(_Message):
    action: Literal["auth"]
    token: str = Field(min_length=1, max_length=MAX_MESSAGE_CHARS)


class Ping(_Message):
    action: Literal["ping"]


ClientMessage = TypeAdapter[Auth | Ping](Annotated[Auth | Ping, Field(discriminator="action")])


def parse(raw: str | bytes) -> Auth | Ping | str:
    """The client's message, or the error frame answering it."""
    if len(raw) > MAX_MESSAGE_CHARS:
        return error("invalid_message", f"Messages are at most {MAX_MESSAGE_CHARS} characters.")
    try:
        return ClientMessage.validate_json(raw)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        if first["type"] == "json_invalid":
            return error("invalid_json", "The message is not valid JSON.")
        if first["type"] == "union_tag_not_found":
            return error("invalid_message", "action is required.")
        if first["type"] == "union_tag_invalid":
            return error("unknown_action", "action must be auth or ping.")
        where = ".".join(str(part) for part in first["loc"][1:]) or "message"
        return error("invalid_message", f"{where}: {first['msg']}.")


def error(code: str, message: str) -> str:
    return orjson.dumps({"type": "error", "code": code, "message": message}).decode()


def authenticated(principal: Principal) -> str:
    frame = {
        "type": "authenticated",
        "user_id": str(principal.user_id),
        "expires_at": principal.expires_at.isoformat(),
    }
    return orjson.dumps(frame).decode()


PONG = orjson.dumps({"type": "pong"}).decode()


class Closed(Exception):
    """Close the socket with this code and reason."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class Session:
    """Who the socket belongs to and until when (a re-auth moves the deadline)."""

    __slots__ = ("expires_at", "user_id")

    def __init__(self, principal: Principal) -> None:
        self.user_id = principal.user_id
        self.expires_at = principal.expires_at

    def seconds_left(self) -> float:
        return (self.expires_at - datetime.now(UTC)).total_seconds()


# -- the socket ----------------------------------------------------------------------------------
# The client left mid-send (see odds/ws.py).
_Gone = (WebSocketDisconnect, RuntimeError, OSError)


@router.websocket("/ws/bets")
async def bets_socket(websocket: WebSocket) -> None:
    runtime: Runtime = websocket.app.state.runtime
    channel = bet_channel(runtime)
    await websocket.accept()
    async with runtime.websockets.track(websocket):
        try:
            principal = await _authenticate(websocket, runtime)
            if channel.sockets(principal.user_id) >= MAX_SOCKETS:
                raise Closed(TOO_MANY, "too_many_sockets")
        except Closed as closed:
            await _close(websocket, closed)
            return
        except _Gone:
            return
        await channel.start()  # False while NATS is down: updates resume with the next socket
        inbox = channel.join(principal.user_id)
        session = Session(principal)
        BET_SOCKETS.inc()
        try:
            await _serve(websocket, runtime, inbox, session, principal)
        finally:
            BET_SOCKETS.dec()
            channel.leave(inbox)


async def _serve(
    websocket: WebSocket,
    runtime: Runtime,
    inbox: Inbox,
    session: Session,
    principal: Principal,
) -> None:
    inbox.offer(authenticated(principal))
    tasks = [
        asyncio.create_task(_read(websocket, runtime, inbox, session)),
        asyncio.create_task(_write(websocket, inbox, session)),
        asyncio.create_task(reality.remind(runtime, session.user_id, inbox.offer)),
    ]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            closed = None if task.cancelled() else task.exception()
            if isinstance(closed, Closed):
                await _close(websocket, closed)
    finally:
        for task in tasks:
            task.cancel()
        for outcome in await asyncio.gather(*tasks, return_exceptions=True):
            if isinstance(outcome, Exception) and not isinstance(outcome, (Closed, *_Gone)):
                log.warning("bets_ws.failed", error=repr(outcome))


async def _close(websocket: WebSocket, closed: Closed) -> None:
    try:
        await websocket.close(closed.code, closed.reason)
    except _Gone:
        return


async def _authenticate(websocket: WebSocket, runtime: Runtime) -> Principal:
    try:
        message = await asyncio.wait_for(websocket.receive(), timeout=AUTH_SECONDS)
    except TimeoutError:
        raise Closed(AUTH_TIMEOUT, "auth_timeout") from None
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", 1000))
    parsed = parse(message.get("text") or message.get("bytes") or b"")
    if not isinstance(parsed, Auth):
        raise Closed(UNAUTHORIZED, "unauthorized")
    await _rate_limit(websocket, runtime)
    return await verify(runtime, parsed.token)


async def verify(runtime: Runtime, token: str) -> Principal:
    """The token's player, as a bearer token is checked (signature, expiry, type, logout)."""
    try:
        principal = runtime.signer.verify_access(token)
    except LetsbetError as exc:
        raise Closed(UNAUTHORIZED, exc.code) from None
    try:
        revoked = await runtime.redis.exists(f"auth:revoked:{principal.token_id}")
    except Exception:
        revoked = 0  # the logout denylist is best effort, as for HTTP (platform/http/deps.py)
    if revoked:
        raise Closed(UNAUTHORIZED, "token_revoked")
    return principal


async def _rate_limit(websocket: WebSocket, runtime: Runtime) -> None:
    """A connection counts against the caller's IP `read` limit, like a GET."""
    limiter: RateLimiter = websocket.app.state.rate_limiter
    settings = runtime.settings
    ip = client_ip(websocket.scope, settings.trust_forwarded_for)
    try:
        await limiter.check(
            "read",
            settings.rate_limit_default,
            [f"ip:{ip}"],
            fail_open=settings.rate_limit_fail_open_reads,
        )
    except LetsbetError as exc:
        raise Closed(TRY_AGAIN_LATER, exc.code) from None


async def _read(websocket: WebSocket, runtime: Runtime, inbox: Inbox, session: Session) -> None:
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
        raw = message.get("text")
        if raw is None:
            raw = message.get("bytes") or b""
        parsed = parse(raw)
        if isinstance(parsed, Auth):
            reply = await _reauthenticate(runtime, session, parsed.token)
        else:
            reply = PONG if isinstance(parsed, Ping) else parsed
        if not inbox.offer(reply):
            return  # cut off: the writer closes the socket


async def _reauthenticate(runtime: Runtime, session: Session, token: str) -> str:
    """A fresh token of the same player extends the session; a bad one changes nothing (the
    socket still closes when the current token expires)."""
    try:
        principal = await verify(runtime, token)
    except Closed as refused:
        return error(refused.reason, "This token cannot extend the session.")
    if principal.user_id != session.user_id:
        raise Closed(FORBIDDEN, "user_mismatch")
    session.expires_at = max(session.expires_at, principal.expires_at)
    return authenticated(principal)


async def _write(websocket: WebSocket, inbox: Inbox, session: Session) -> None:
    """The socket's only sender; also closes it when the session's token expires."""
    while True:
        left = session.seconds_left()
        if left <= 0:
            raise Closed(UNAUTHORIZED, "token_expired")
        try:
            item = await asyncio.wait_for(inbox.queue.get(), timeout=left)
        except TimeoutError:
            continue  # re-checked above: a re-auth may have moved the deadline
        if item is None:
            await websocket.close(TRY_AGAIN_LATER, "too slow: reconnect")
            return
        await websocket.send_text(item)
