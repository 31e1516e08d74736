"""Authentication of WebSockets, shared by /ws/bets and /ws/games/{id}: one way to check a token
on a socket, as a bearer token is checked on HTTP (signature, issuer, audience, expiry, type, then
the Redis logout denylist), and the close codes that say why.

    4401 invalid_token | token_expired | token_revoked | unauthorized
    4403 user_mismatch       a re-auth with another player's token
    4408 auth_timeout        (sockets that require a first auth message)
    4429 too_many_sockets    the player already has the maximum open on this replica
    1013 rate_limited        too many connections from this IP (try again later)

A socket's session runs until its token's expiry; a fresh token of the same player sent as
{"action": "auth", "token"} extends it (`reauthenticate`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from fastapi import WebSocket
from pydantic import BaseModel, ConfigDict, Field
from starlette.websockets import WebSocketDisconnect

from letsbet.accounts.tokens import Principal
from letsbet.errors import LetsbetError
from letsbet.platform.http.middleware import client_ip
from letsbet.platform.http.ratelimit import RateLimiter
from letsbet.platform.runtime import Runtime

UNAUTHORIZED, FORBIDDEN, AUTH_TIMEOUT, TOO_MANY = 4401, 4403, 4408, 4429
TRY_AGAIN_LATER = 1013
MAX_TOKEN_CHARS = 4096  # a token is about 400

# The client left mid-send: starlette raises WebSocketDisconnect or, after a close,
# RuntimeError; uvicorn may raise its ClientDisconnected (an OSError).
Gone = (WebSocketDisconnect, RuntimeError, OSError)


class Auth(BaseModel):
    """{"action": "auth", "token": "<access token>"}"""

    model_config = ConfigDict(strict=True, extra="ignore")

    action: Literal["auth"]
    token: str = Field(min_length=1, max_length=MAX_TOKEN_CHARS)


class Closed(Exception):
    """Close the socket with this code and reason."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class Session:
    """Who the socket belongs to and until when (a re-auth moves the deadline)."""

    __slots__ = ("country", "expires_at", "user_id")

    def __init__(self, principal: Principal) -> None:
        self.user_id = principal.user_id
        self.country = principal.country
        self.expires_at = principal.expires_at

    def seconds_left(self) -> float:
        return (self.expires_at - datetime.now(UTC)).total_seconds()


async def verify(runtime: Runtime, token: str) -> Principal:
    """The token's player, as a bearer token is checked; Closed(4401, code) otherwise."""
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


async def reauthenticate(runtime: Runtime, session: Session, token: str) -> Principal | str:
    """A fresh token of the same player extends the session: its principal, or the code of a
    bad token (which changes nothing). Another player's token is Closed(4403 user_mismatch)."""
    try:
        principal = await verify(runtime, token)
    except Closed as refused:
        return refused.reason
    if principal.user_id != session.user_id:
        raise Closed(FORBIDDEN, "user_mismatch")
    session.expires_at = max(session.expires_at, principal.expires_at)
    return principal


async def limit_connection(websocket: WebSocket, runtime: Runtime) -> None:
    """A connection counts against the caller's IP `read` limit, like a GET; Closed(1013)."""
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


async def close(websocket: WebSocket, closed: Closed) -> None:
    try:
        await websocket.close(closed.code, closed.reason)
    except Gone:
        return
