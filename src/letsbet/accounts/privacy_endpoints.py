"""Data protection: GET /api/me/export, POST /api/me/close, POST /api/admin/users/{id}/close.
Thin: parse, call the service, shape the answer."""

from __future__ import annotations

import time
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, ConfigDict, Field
from redis.exceptions import RedisError

from letsbet.accounts import closure, export
from letsbet.accounts.domain import Role
from letsbet.compliance.audit import service as audit
from letsbet.compliance.audit.deps import CallerActor, staff
from letsbet.compliance.audit.domain import Actor
from letsbet.errors import Forbidden
from letsbet.platform.http.deps import CurrentUser, RuntimeDep, Tx
from letsbet.platform.http.ratelimit import rate_limit
from letsbet.platform.http.responses import OrjsonResponse
from letsbet.platform.observability import get_logger

router = APIRouter(prefix="/api", tags=["data protection"])
log = get_logger(__name__)


class CloseRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    password: str = Field(min_length=1, max_length=128)
    reason: str | None = Field(None, max_length=500)


class AdminCloseRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    reason: str = Field(min_length=3, max_length=500)


@router.get(
    "/me/export",
    dependencies=[Depends(rate_limit("auth"))],
    responses={200: {"description": "Every piece of personal data we hold on the caller."}},
)
async def export_my_data(principal: CurrentUser, actor: CallerActor, conn: Tx) -> Response:
    """The caller's personal data as one JSON document (profile, sessions, wallet movements,
    bets, account history); served as an attachment. Each export is audited."""
    data: dict[str, Any] = await export.personal_data(conn, principal.user_id)
    await audit.append(
        conn,
        actor,
        action="accounts.data.export",
        target_type="user",
        target_id=principal.user_id,
        after={"bets": len(data["bets"]), "transactions": len(data["wallet"]["transactions"])},
    )
    return OrjsonResponse(
        data,
        headers={"Content-Disposition": 'attachment; filename="letsbet-personal-data.json"'},
    )


@router.post(
    "/me/close",
    status_code=204,
    response_class=Response,
    dependencies=[Depends(rate_limit("auth"))],
    responses={403: {"description": "password_incorrect"}, 409: {"description": "account_closed"}},
)
async def close_my_account(
    body: CloseRequest,
    principal: CurrentUser,
    actor: CallerActor,
    conn: Tx,
    runtime: RuntimeDep,
) -> Response:
    """Close the caller's account for good: personal data is anonymised at once, the ledger
    and tax records are kept. Needs the password. A remaining balance is paid out by support."""
    if principal.role is not Role.PLAYER:
        raise Forbidden("Staff accounts are closed by an admin.")
    await closure.confirm_password(conn, principal.user_id, body.password)
    await closure.close_account(
        conn, user_id=principal.user_id, actor=actor, reason=body.reason or "closed by player"
    )
    # This access token dies now; the refresh tokens were revoked with the closure.
    ttl = max(1, int(principal.expires_at.timestamp() - time.time()))
    try:
        await runtime.redis.set(f"auth:revoked:{principal.token_id}", b"1", ex=ttl)
    except RedisError:
        log.warning("accounts.close_denylist_unavailable", user_id=str(principal.user_id))
    return Response(status_code=204)


@router.post(
    "/admin/users/{user_id}/close",
    status_code=204,
    response_class=Response,
    dependencies=[Depends(rate_limit("money"))],
    responses={
        404: {"description": "user_not_found"},
        409: {"description": "account_closed, not_a_player"},
    },
)
async def admin_close_account(
    user_id: uuid.UUID,
    body: AdminCloseRequest,
    conn: Tx,
    admin: Annotated[Actor, Depends(staff(Role.ADMIN, Role.COMPLIANCE))],
) -> Response:
    """Close and anonymise a player's account (a data subject's erasure request made to
    support, or a regulator's order). Audited with the reason."""
    await closure.close_account(conn, user_id=user_id, actor=admin, reason=body.reason)
    return Response(status_code=204)
