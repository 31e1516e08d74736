"""KYC use cases: verify a player's id with Smile ID, apply results, staff review.

A check runs in three steps so no transaction waits on the network: (1) validate the id against
the tenant's formats, record the check and set the player pending; (2) call Smile ID; (3) apply
the signed result (the sync answer, or later the async callback) to the check and the player's
status. A result is applied once: a repeated callback for a finished job changes nothing.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from letsbet.compliance.kyc import repository as repo
from letsbet.compliance.kyc import wire
from letsbet.compliance.kyc.client import SmileIdClient
from letsbet.compliance.kyc.domain import (
    KycAlreadyVerified,
    KycAuthorityUnavailable,
    KycIdNumberInvalid,
    KycIdTypeUnsupported,
    KycInProgress,
    KycProviderError,
    KycStatus,
    id_number_hash,
    judge,
    tail,
)
from letsbet.errors import LetsbetError, NotFound
from letsbet.platform.bus.outbox import Event, record
from letsbet.platform.db import Database, run_in_transaction
from letsbet.platform.observability import get_logger
from letsbet.tenants import get_tenant

log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class VerifyRequest:
    user_id: uuid.UUID
    id_type: str
    id_number: str
    first_name: str | None = None
    last_name: str | None = None
    dob: date | None = None
    requested_by: uuid.UUID | None = None  # staff starting it for the player


@dataclass(frozen=True, slots=True)
class CheckView:
    job_id: str
    status: str  # of the check: submitted, verified, rejected, needs_review, retry, error
    kyc_status: str  # of the player, after it
    result_code: str | None
    result_text: str | None


async def verify_user(
    db: Database,
    smile: SmileIdClient,
    request: VerifyRequest,
    *,
    hash_key: str,
    now: datetime,
    callback_url: str | None = None,
) -> CheckView:
    """Check the player's id with Smile ID Enhanced KYC (sync, or async with callback_url)."""
    job_id = uuid.uuid4().hex

    async def begin(conn: AsyncConnection) -> wire.IdRequest:
        user = await repo.lock_user(conn, request.user_id)
        if user is None or user.status != "active":
            raise NotFound("No such active account.")
        tenant = get_tenant(user.country_code)
        id_type = request.id_type.strip().upper()
        id_number = request.id_number.strip()
        if id_type not in tenant.kyc_id_types:
            raise KycIdTypeUnsupported(
                f"{tenant.name} accepts: {', '.join(tenant.kyc_id_types)}.",
                accepted=list(tenant.kyc_id_types),
            )
        if not tenant.id_number_valid(id_type, id_number):
            raise KycIdNumberInvalid(
                f"This is not a valid {id_type} number.", pattern=tenant.kyc_id_types[id_type]
            )
        if user.kyc_status == KycStatus.VERIFIED:
            raise KycAlreadyVerified()
        if user.kyc_status == KycStatus.PENDING:
            raise KycInProgress()
        check_id = uuid.uuid4()
        await repo.insert_check(
            conn,
            id=check_id,
            user_id=user.id,
            country_code=tenant.code,
            job_id=job_id,
            mode="async" if callback_url else "sync",
            id_type=id_type,
            id_number_hash=id_number_hash(hash_key, tenant.code, id_type, id_number),
            id_number_tail=tail(id_number),
            status="submitted",
            requested_by=request.requested_by,
            created_at=now,
        )
        await repo.set_status(
            conn,
            user.id,
            country=tenant.code,
            before=user.kyc_status,
            after=KycStatus.PENDING,
            reason="smile_id.submitted",
            at=now,
            check_id=check_id,
            actor=request.requested_by,
        )
        return wire.IdRequest(
            country=tenant.code,
            id_type=id_type,
            id_number=id_number,
            first_name=request.first_name or user.first_name,
            last_name=request.last_name or user.last_name,
            dob=request.dob or user.date_of_birth,
            job_id=job_id,
            user_id=str(user.id),
        )

    id_request = await run_in_transaction(db, begin)
    try:
        result = await smile.verify(id_request, now, callback_url=callback_url)
    except LetsbetError as exc:
        failure = exc
        await run_in_transaction(db, lambda conn: _failed(conn, job_id, failure, now))
        raise
    if result is None:  # async: the callback brings the result
        return CheckView(job_id, "submitted", KycStatus.PENDING, None, None)
    view = await run_in_transaction(db, lambda conn: apply_result(conn, result, now=now))
    if view.status == "retry":
        raise KycAuthorityUnavailable(job_id=job_id)
    if view.status == "error":
        raise KycProviderError(result.text, smile_code=result.code, job_id=job_id)
    return view


async def apply_result(conn: AsyncConnection, result: wire.Result, *, now: datetime) -> CheckView:
    """Apply a signed Smile ID result to its check and the player, once."""
    check = await repo.check_by_job(conn, result.job_id, for_update=True)
    if check is None:
        raise NotFound("No such KYC job.", job_id=result.job_id)
    user = await repo.lock_user(conn, check.user_id)
    assert user is not None
    if check.status != "submitted":  # a repeated callback: already applied
        return CheckView(
            check.job_id, check.status, user.kyc_status, check.result_code, check.result_text
        )
    verdict = judge(
        result, first_name=user.first_name, last_name=user.last_name, dob=user.date_of_birth
    )
    await repo.update_check(
        conn,
        check.id,
        status=verdict.check_status,
        smile_job_id=result.smile_job_id,
        result_code=result.code,
        result_text=result.text,
        returned_name=result.full_name,
        returned_dob=result.dob,
        name_match=verdict.name_match,
        dob_match=verdict.dob_match,
        actions=result.actions,
        completed_at=now,
    )
    after = verdict.user_status or await _restored(conn, check.id)
    if user.kyc_status == KycStatus.PENDING:
        await repo.set_status(
            conn,
            user.id,
            country=user.country_code,
            before=user.kyc_status,
            after=after,
            reason=f"smile_id.{result.code}",
            at=now,
            check_id=check.id,
        )
    else:  # staff decided while the job ran; their decision stands
        after = user.kyc_status
    await record(
        conn,
        Event(
            "compliance.kyc.checked",
            {
                "user_id": str(user.id),
                "country": user.country_code,
                "job_id": check.job_id,
                "result_code": result.code,
                "check_status": verdict.check_status,
                "kyc_status": str(after),
            },
        ),
    )
    log.info("kyc.checked", job_id=check.job_id, code=result.code, status=verdict.check_status)
    return CheckView(check.job_id, verdict.check_status, str(after), result.code, result.text)


async def _restored(conn: AsyncConnection, check_id: uuid.UUID) -> KycStatus:
    before = await repo.previous_status(conn, check_id)
    return KycStatus(before) if before and before != KycStatus.PENDING else KycStatus.UNVERIFIED


async def _failed(conn: AsyncConnection, job_id: str, exc: LetsbetError, now: datetime) -> None:
    """The call failed before any result: the check errs, the player is as before."""
    check = await repo.check_by_job(conn, job_id, for_update=True)
    if check is None or check.status != "submitted":
        return
    user = await repo.lock_user(conn, check.user_id)
    status = "retry" if isinstance(exc, KycAuthorityUnavailable) else "error"
    await repo.update_check(
        conn, check.id, status=status, result_text=exc.message, completed_at=now
    )
    if user is not None and user.kyc_status == KycStatus.PENDING:
        await repo.set_status(
            conn,
            user.id,
            country=user.country_code,
            before=user.kyc_status,
            after=await _restored(conn, check.id),
            reason=f"smile_id.{exc.code}",
            at=now,
            check_id=check.id,
        )


async def review(
    conn: AsyncConnection,
    user_id: uuid.UUID,
    *,
    status: KycStatus,
    reason: str,
    actor: uuid.UUID,
    now: datetime,
) -> tuple[str, str, str]:
    """Staff set the player's KYC status (review of needs_review, or an override).
    Returns (country, before, after); the caller audits it."""
    user = await repo.lock_user(conn, user_id)
    if user is None:
        raise NotFound(f"No account {user_id}.")
    if user.kyc_status != status:
        await repo.set_status(
            conn,
            user_id,
            country=user.country_code,
            before=user.kyc_status,
            after=status,
            reason=f"staff: {reason}" if reason else "staff review",
            at=now,
            actor=actor,
        )
    await record(
        conn,
        Event(
            "accounts.kyc.changed",
            {"user_id": str(user_id), "kyc_status": status.value, "by": str(actor)},
        ),
    )
    return user.country_code, user.kyc_status, status.value
