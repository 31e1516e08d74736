"""WebSocket /ws/bets: a player's own bet updates as they happen (private).

Authentication is the first message, not the URL: a token in a query string would land in
proxy and access logs. Within AUTH_SECONDS of connecting the client sends

    {"action": "auth", "token": "<access token>"}

and gets {"type": "authenticated", "user_id", "expires_at"}, or the socket closes with

    4401 reason invalid_token | token_expired | token_revoked | unauthorized (first message
         was not an auth message)
    4408 reason auth_timeout        nothing arrived in time
    4429 reason too_many_sockets    the player already has MAX_SOCKETS open on this replica
(the token checks and codes are platform/http/socket_auth.py's, shared with /ws/games).

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
from typing import Annotated, Literal

import orjson
from fastapi import APIRouter, WebSocket
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter
from starlette.websockets import WebSocketDisconnect

from letsbet.accounts.tokens import Principal
from letsbet.compliance.responsible_gaming import reality
from letsbet.platform.http.frames import FrameError, parse_frame
from letsbet.platform.http.socket_auth import (
    AUTH_TIMEOUT,
    TOO_MANY,
    TRY_AGAIN_LATER,
    UNAUTHORIZED,
    Auth,
    Closed,
    Gone,
    Session,
    close,
    limit_connection,
    reauthenticate,
    verify,
)
from letsbet.platform.observability import BET_SOCKETS, get_logger
from letsbet.platform.runtime import Runtime
from letsbet.sportsbook.bets.channel import Inbox, bet_channel

log = get_logger(__name__)

router = APIRouter(tags=["bets"])

AUTH_SECONDS = 5.0
MAX_SOCKETS = 10  # per player and replica: tabs and devices, not an unbounded fan-out
MAX_MESSAGE_CHARS = 4096  # a token is about 400


class _Message(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore")


class Ping(_Message):
    action: Literal["ping"]


ClientMessage = TypeAdapter[Auth | Ping](Annotated[Auth | Ping, Field(discriminator="action")])


def parse(raw: str | bytes) -> Auth | Ping | str:
    """The client's message, or the error frame answering it."""
    actions = "auth or ping"
    parsed = parse_frame(ClientMessage, raw, max_chars=MAX_MESSAGE_CHARS, actions=actions)
    return error(parsed.code, parsed.message) if isinstance(parsed, FrameError) else parsed


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


# -- the socket ----------------------------------------------------------------------------------
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
            await close(websocket, closed)
            return
        except Gone:
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
                await close(websocket, closed)
    finally:
        for task in tasks:
            task.cancel()
        for outcome in await asyncio.gather(*tasks, return_exceptions=True):
            if isinstance(outcome, Exception) and not isinstance(outcome, (Closed, *Gone)):
                log.warning("bets_ws.failed", error=repr(outcome))


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
    await limit_connection(websocket, runtime)
    return await verify(runtime, parsed.token)


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
    principal = await reauthenticate(runtime, session, token)
    if isinstance(principal, str):
        return error(principal, "This token cannot extend the session.")
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
