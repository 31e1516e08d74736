"""Route dependencies: the runtime, a transaction per command, the caller and their role."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Annotated, Any

import structlog
from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncConnection

from letsbet.accounts.domain import Role
from letsbet.accounts.tokens import Principal
from letsbet.errors import Forbidden, LetsbetError, Unauthorized
from letsbet.platform.runtime import Runtime


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


async def _runtime(request: Request) -> Runtime:
    # async: FastAPI runs a plain-def dependency in a worker thread, a thread hop per request.
    return get_runtime(request)


async def transaction(request: Request) -> AsyncIterator[AsyncConnection]:
    """One transaction per command, committed before the response is sent (scope=function)."""
    async with get_runtime(request).db.transaction() as conn:
        yield conn


async def connection(request: Request) -> AsyncIterator[AsyncConnection]:
    """A read-only connection for queries."""
    async with get_runtime(request).db.connect() as conn:
        yield conn


RuntimeDep = Annotated[Runtime, Depends(_runtime)]
Tx = Annotated[AsyncConnection, Depends(transaction, scope="function")]
Conn = Annotated[AsyncConnection, Depends(connection, scope="function")]


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def peek_principal(request: Request) -> Principal | None:
    """The verified caller if a valid access token is present, else None (never raises)."""
    state = request.scope.setdefault("state", {})
    if "principal" in state:
        cached: Principal | None = state["principal"]
        return cached
    token = _bearer(request)
    principal = None
    if token:
        try:
            principal = get_runtime(request).signer.verify_access(token)
        except LetsbetError:
            principal = None
    state["principal"] = principal
    return principal


# Set by the rate limiter, which asks Redis about the denylist in its own round trip.
DENYLIST_CHECKED = "token_denylisted"


def revoked_key(token_id: uuid.UUID) -> str:
    """The logout denylist's Redis key for an access token (set by POST /api/auth/logout)."""
    return f"auth:revoked:{token_id}"


async def current_principal(request: Request) -> Principal:
    token = _bearer(request)
    if token is None:
        raise Unauthorized("Send 'Authorization: Bearer <access token>'; log in to get one.")
    runtime = get_runtime(request)
    state = request.scope.setdefault("state", {})
    # The rate limiter may have verified the token already (peek_principal); reuse it.
    principal: Principal | None = state.get("principal")
    if principal is None:
        principal = runtime.signer.verify_access(token)  # raises invalid/expired
    revoked = state.get(DENYLIST_CHECKED)
    if revoked is None:  # no rate limit on this route asked Redis for us
        try:
            revoked = bool(await runtime.redis.exists(revoked_key(principal.token_id)))
        except Exception:
            revoked = False  # logout denylist is best effort; tokens are short-lived anyway
    if revoked:
        raise Unauthorized("This session has ended; log in again.", code="token_revoked")
    state["principal"] = principal
    state["user_id"] = str(principal.user_id)
    structlog.contextvars.bind_contextvars(
        user_id=str(principal.user_id), country=principal.country
    )
    return principal


CurrentUser = Annotated[Principal, Depends(current_principal)]


def require_role(*roles: Role) -> Callable[..., Coroutine[Any, Any, Principal]]:
    async def dependency(principal: CurrentUser) -> Principal:
        if principal.role not in roles:
            raise Forbidden(f"This needs the {' or '.join(r.value for r in roles)} role.")
        return principal

    return dependency
