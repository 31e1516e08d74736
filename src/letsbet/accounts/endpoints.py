"""/api/auth/* and /api/me. Thin: parse, call the service, shape the answer."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from redis.exceptions import RedisError

from letsbet.accounts import repository, service
from letsbet.accounts.domain import Role
from letsbet.accounts.lockout import LoginLockout
from letsbet.accounts.schemas import (
    KycUpdate,
    LoginRequest,
    LogoutRequest,
    RefreshRequest,
    RegisterRequest,
    TokenResponse,
    UserResponse,
)
from letsbet.accounts.tokens import Principal
from letsbet.compliance.aml import service as aml
from letsbet.compliance.audit import service as audit
from letsbet.compliance.audit.deps import staff
from letsbet.compliance.audit.domain import ANONYMOUS_ROLE, Actor
from letsbet.compliance.kyc import service as kyc
from letsbet.compliance.kyc.domain import KycStatus
from letsbet.errors import LetsbetError, NotFound, Unprocessable
from letsbet.platform.http.deps import Conn, CurrentUser, RuntimeDep, Tx, require_role
from letsbet.platform.http.errors import request_id_of
from letsbet.platform.http.middleware import client_ip
from letsbet.platform.http.ratelimit import rate_limit
from letsbet.platform.observability import LOGINS, USERS_REGISTERED, get_logger
from letsbet.platform.runtime import Runtime
from letsbet.tenants import CountryNotAllowed, get_tenant

router = APIRouter(prefix="/api", tags=["accounts"])
# An app-chosen stable id for the install (AML's shared-identity rule); optional, untrusted.
DEVICE_HEADER = "X-Device-Id"
log = get_logger(__name__)


def _user_response(row: Any) -> UserResponse:
    return UserResponse(
        id=row.id,
        phone=row.phone,
        country=row.country_code,
        currency=get_tenant(row.country_code).currency,
        role=row.role,
        status=row.status,
        first_name=row.first_name,
        last_name=row.last_name,
        date_of_birth=row.date_of_birth,
        kyc_verified=row.kyc_status == "verified",
        kyc_status=row.kyc_status,
        created_at=row.created_at,
    )


@router.post(
    "/auth/register",
    status_code=201,
    response_model=UserResponse,
    dependencies=[Depends(rate_limit("auth"))],
)
async def register(
    body: RegisterRequest, request: Request, conn: Tx, runtime: RuntimeDep
) -> UserResponse:
    if body.country not in runtime.settings.allowed_countries:
        raise CountryNotAllowed(f"Registration in {body.country} is not open.")
    user_id = await service.register(
        conn,
        phone=body.phone,
        password=body.password,
        country=body.country,
        date_of_birth=body.date_of_birth,
        first_name=body.first_name,
        last_name=body.last_name,
    )
    USERS_REGISTERED.labels(body.country).inc()
    row = await repository.user_by_id(conn, user_id)
    assert row is not None  # inserted above in this transaction
    await aml.seen(
        conn,
        user_id=user_id,
        country=row.country_code,
        ip=client_ip(request.scope, runtime.settings.trust_forwarded_for),
        device=request.headers.get(DEVICE_HEADER),
        phone=row.phone,
        now=datetime.now(UTC),
    )
    return _user_response(row)


@router.post(
    "/auth/login", response_model=TokenResponse, dependencies=[Depends(rate_limit("auth"))]
)
async def login(
    body: LoginRequest, request: Request, conn: Tx, runtime: RuntimeDep
) -> TokenResponse:
    settings = runtime.settings
    lockout = LoginLockout(
        runtime.redis,
        max_failures=settings.login_max_failures,
        window_seconds=settings.login_lockout_seconds,
    )
    ip = client_ip(request.scope, settings.trust_forwarded_for)
    await lockout.check(body.phone, ip)
    try:
        user_id, role, country = await service.authenticate(
            conn, phone=body.phone, password=body.password, country_hint=body.country
        )
    except LetsbetError as exc:
        LOGINS.labels(exc.code).inc()
        if isinstance(exc, service.InvalidCredentials):
            failures = await lockout.failed(body.phone, ip)
            if failures == settings.login_max_failures:
                await _audit_staff_lockout(request, runtime, body, ip, failures)
        raise
    if country not in settings.allowed_countries:
        raise CountryNotAllowed()
    await lockout.succeeded(body.phone)
    LOGINS.labels("ok").inc()
    await aml.seen(
        conn,
        user_id=user_id,
        country=country,
        ip=ip,
        device=request.headers.get(DEVICE_HEADER),
        now=datetime.now(UTC),
    )
    pair = await service.issue_tokens(
        conn, runtime.signer, user_id=user_id, role=role, country=country
    )
    return _pair(pair)


async def _audit_staff_lockout(
    request: Request, runtime: Runtime, body: LoginRequest, ip: str, failures: int
) -> None:
    """A staff account just got locked out: someone may be guessing an admin's password.
    Its own transaction, since the login's rolls back with the refusal."""
    async with runtime.db.transaction() as conn:
        user = await service.staff_by_phone(conn, body.phone, body.country)
        if user is None:
            return
        actor = Actor(
            user_id=None,
            role=ANONYMOUS_ROLE,
            country=user.country_code,
            request_id=request_id_of(request),
            client_ip=ip,
        )
        await audit.append(
            conn,
            actor,
            action="accounts.staff.locked_out",
            target_type="user",
            target_id=user.id,
            after={"failures": failures, "locked_seconds": runtime.settings.login_lockout_seconds},
        )


def _pair(pair: service.TokenPair) -> TokenResponse:
    return TokenResponse(
        access_token=pair.access_token,
        refresh_token=pair.refresh_token,
        token_type=pair.token_type,
        expires_in=pair.expires_in,
    )


@router.post(
    "/auth/refresh", response_model=TokenResponse, dependencies=[Depends(rate_limit("auth"))]
)
async def refresh(body: RefreshRequest, runtime: RuntimeDep) -> TokenResponse:
    # Own transaction: a detected reuse must commit its family revocation, then answer 401.
    reused: LetsbetError | None = None
    async with runtime.db.transaction() as conn:
        try:
            pair = await service.rotate_refresh_token(conn, runtime.signer, body.refresh_token)
        except service.RefreshTokenReused as exc:
            reused = exc
    if reused is not None:
        raise reused
    return _pair(pair)


@router.post("/auth/logout", status_code=204, response_class=Response)
async def logout(
    body: LogoutRequest, principal: CurrentUser, conn: Tx, runtime: RuntimeDep
) -> Response:
    await service.logout(
        conn, runtime.signer, user_id=principal.user_id, refresh_token=body.refresh_token
    )
    # Deny the access token for the rest of its life.
    ttl = max(1, int(principal.expires_at.timestamp() - time.time()))
    try:
        await runtime.redis.set(f"auth:revoked:{principal.token_id}", b"1", ex=ttl)
    except RedisError:
        # The refresh family is revoked (committed below); the access token then dies with
        # its short expiry instead of at once.
        log.warning("auth.logout_denylist_unavailable", user_id=str(principal.user_id))
    return Response(status_code=204)


@router.get("/me", response_model=UserResponse, dependencies=[Depends(rate_limit("read"))])
async def me(principal: CurrentUser, conn: Conn) -> UserResponse:
    row = await repository.user_by_id(conn, principal.user_id)
    if row is None:
        raise NotFound("This account no longer exists.")
    return _user_response(row)


@router.get(
    "/admin/users/{user_id}",
    response_model=UserResponse,
    dependencies=[Depends(rate_limit("read"))],
)
async def admin_get_user(
    user_id: uuid.UUID,
    conn: Conn,
    staff: Annotated[Principal, Depends(require_role(Role.ADMIN, Role.COMPLIANCE))],
) -> UserResponse:
    """Staff look-up of one account (admin and compliance roles)."""
    row = await repository.user_by_id(conn, user_id)
    if row is None:
        raise NotFound(f"No account {user_id}.")
    return _user_response(row)


@router.put(
    "/admin/users/{user_id}/kyc",
    response_model=UserResponse,
    dependencies=[Depends(rate_limit("read"))],
)
async def admin_set_kyc(
    user_id: uuid.UUID,
    body: KycUpdate,
    conn: Tx,
    reviewer: Annotated[Actor, Depends(staff(Role.ADMIN, Role.COMPLIANCE))],
) -> UserResponse:
    """Staff review of an account's KYC (a needs_review result, or an override of Smile ID's):
    set `status` with a `reason`. Recorded in the KYC history and audited."""
    if body.status is not None:
        status = KycStatus(body.status)
    elif body.verified is not None:
        status = KycStatus.VERIFIED if body.verified else KycStatus.UNVERIFIED
    else:
        raise Unprocessable("Send status (or verified) and a reason.")
    assert reviewer.user_id is not None
    country, before, after = await kyc.review(
        conn,
        user_id,
        status=status,
        reason=body.reason,
        actor=reviewer.user_id,
        now=datetime.now(UTC),
    )
    await audit.append(
        conn,
        reviewer,
        action="accounts.kyc.set",
        target_type="user",
        target_id=user_id,
        before={"kyc_status": before, "kyc_verified": before == "verified"},
        after={"kyc_status": after, "kyc_verified": after == "verified", "reason": body.reason},
        country=country,
    )
    log.info("accounts.kyc_set", user_id=str(user_id), status=after, by=str(reviewer.user_id))
    return _user_response(await repository.user_by_id(conn, user_id))
