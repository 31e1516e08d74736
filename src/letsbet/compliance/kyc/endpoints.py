"""/api/kyc: players verify their identity with Smile ID; Smile ID calls back; staff look."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy.ext.asyncio import AsyncConnection

from letsbet.accounts import repository as accounts
from letsbet.accounts.domain import Role
from letsbet.accounts.tokens import Principal
from letsbet.compliance.kyc import repository as repo
from letsbet.compliance.kyc import service, wire
from letsbet.compliance.kyc.domain import KycSignatureInvalid
from letsbet.compliance.kyc.provider import smile_of
from letsbet.compliance.kyc.schemas import (
    CheckOut,
    CheckRecord,
    HistoryRecord,
    KycOut,
    VerifyUserRequest,
)
from letsbet.errors import BadRequest, Forbidden, NotFound
from letsbet.platform.db import run_in_transaction
from letsbet.platform.http.deps import Conn, CurrentUser, RuntimeDep, require_role
from letsbet.platform.http.ratelimit import rate_limit
from letsbet.tenants import get_tenant

router = APIRouter(prefix="/api", tags=["kyc"])
STAFF = (Role.ADMIN, Role.COMPLIANCE)


@router.post(
    "/kyc/verify-user",
    response_model=CheckOut,
    dependencies=[Depends(rate_limit("money"))],
    responses={202: {"model": CheckOut, "description": "Submitted; the result follows."}},
)
async def verify_user(
    body: VerifyUserRequest, principal: CurrentUser, runtime: RuntimeDep, response: Response
) -> CheckOut:
    """Verify an identity with Smile ID Enhanced KYC. Players verify themselves; staff may pass
    user_id. The id number is checked against the country's formats before any call."""
    user_id = principal.user_id
    requested_by = None
    if body.user_id is not None and body.user_id != principal.user_id:
        if principal.role not in STAFF:
            raise Forbidden("Only staff may verify another account.")
        user_id, requested_by = body.user_id, principal.user_id
    smile = smile_of(runtime)
    view = await service.verify_user(
        runtime.db,
        smile.client,
        service.VerifyRequest(
            user_id=user_id,
            id_type=body.id_type,
            id_number=body.id_number,
            first_name=body.first_name,
            last_name=body.last_name,
            dob=body.dob,
            requested_by=requested_by,
        ),
        hash_key=smile.hash_key,
        now=datetime.now(UTC),
        callback_url=smile.callback_url,
    )
    if view.status == "submitted":
        response.status_code = 202
    return _out(view)


def _out(view: service.CheckView) -> CheckOut:
    return CheckOut(
        job_id=view.job_id,
        status=view.status,
        kyc_status=view.kyc_status,
        result_code=view.result_code,
        result_text=view.result_text,
    )


@router.post("/kyc/smile-id/callback", include_in_schema=False)
async def smile_callback(request: Request, runtime: RuntimeDep) -> dict[str, bool]:
    """Smile ID's async result. Untrusted until its signature verifies with our API key; a
    repeated delivery for a finished job changes nothing."""
    try:
        payload: Any = await request.json()
    except ValueError as exc:
        raise BadRequest("Send the Smile ID result as JSON.") from exc
    smile = smile_of(runtime)
    if not isinstance(payload, dict) or not wire.signature_valid(
        smile.api_key, smile.partner_id, payload.get("timestamp"), payload.get("signature")
    ):
        raise KycSignatureInvalid()
    try:
        result = wire.parse_result(payload)
    except ValueError as exc:
        raise BadRequest(f"Not a Smile ID result: {exc}.") from exc
    now = datetime.now(UTC)

    async def work(conn: AsyncConnection) -> service.CheckView:
        return await service.apply_result(conn, result, now=now)

    await run_in_transaction(runtime.db, work)
    return {"received": True}


@router.get("/kyc", response_model=KycOut, dependencies=[Depends(rate_limit("read"))])
async def my_kyc(principal: CurrentUser, conn: Conn) -> KycOut:
    """Your KYC status, the checks made (id numbers masked) and how the status changed."""
    return await _kyc_of(conn, principal.user_id)


@router.get(
    "/admin/kyc/{user_id}", response_model=KycOut, dependencies=[Depends(rate_limit("read"))]
)
async def staff_kyc(
    user_id: uuid.UUID,
    conn: Conn,
    staff: Annotated[Principal, Depends(require_role(*STAFF))],
) -> KycOut:
    """A player's KYC record for review (admin and compliance)."""
    return await _kyc_of(conn, user_id)


async def _kyc_of(conn: AsyncConnection, user_id: uuid.UUID) -> KycOut:
    user = await accounts.user_by_id(conn, user_id)
    if user is None:
        raise NotFound(f"No account {user_id}.")
    return KycOut(
        user_id=user_id,
        kyc_status=user.kyc_status,
        id_types=list(get_tenant(user.country_code).kyc_id_types),
        checks=[
            CheckRecord(
                job_id=c.job_id,
                mode=c.mode,
                id_type=c.id_type,
                id_number=c.id_number_tail,
                status=c.status,
                result_code=c.result_code,
                result_text=c.result_text,
                name_match=c.name_match,
                dob_match=c.dob_match,
                created_at=c.created_at,
                completed_at=c.completed_at,
            )
            for c in await repo.checks_of(conn, user_id)
        ],
        history=[
            HistoryRecord(
                from_status=h.from_status,
                to_status=h.to_status,
                reason=h.reason,
                by_staff=h.actor_user_id is not None,
                at=h.at,
            )
            for h in await repo.history_of(conn, user_id)
        ],
    )
