"""/api/responsible-gaming: a player's own controls. Thin: parse, call the service, answer."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Depends
from sqlalchemy.ext.asyncio import AsyncConnection

from letsbet.compliance.responsible_gaming import service
from letsbet.compliance.responsible_gaming.domain import (
    ExclusionCannotBeShortened,
    LimitKind,
    Period,
)
from letsbet.compliance.responsible_gaming.schemas import (
    ControlsOut,
    LimitOut,
    LimitRequest,
    RealityCheckRequest,
    SelfExclusionRequest,
    TimeoutRequest,
)
from letsbet.errors import Unprocessable
from letsbet.platform.http.deps import Conn, CurrentUser, RuntimeDep, Tx
from letsbet.platform.http.ratelimit import rate_limit
from letsbet.platform.money import Money, to_money
from letsbet.tenants import get_tenant

router = APIRouter(prefix="/api/responsible-gaming", tags=["responsible gaming"])


def _fmt(minor: int | None, currency: str) -> str | None:
    return None if minor is None else Money(minor, currency).format()


async def _answer(
    conn: AsyncConnection, principal: CurrentUser, default_minutes: int
) -> ControlsOut:
    currency = get_tenant(principal.country).currency
    controls = await service.controls_of(conn, principal.user_id)
    return ControlsOut(
        currency=currency,
        self_excluded_until=controls.excluded_until,
        self_excluded_permanently=controls.excluded_permanently,
        timeout_until=controls.timeout_until,
        reality_check_minutes=controls.reality_check_minutes or default_minutes,
        limits=[
            LimitOut(
                kind=limit.kind,  # type: ignore[arg-type]
                period=limit.period,  # type: ignore[arg-type]
                amount=_fmt(limit.amount, currency),
                pending_amount=_fmt(limit.pending_amount, currency),
                pending_from=limit.pending_from,
                pending_removal=limit.pending_from is not None and limit.pending_amount is None,
            )
            for limit in controls.limits
        ],
    )


@router.get("", response_model=ControlsOut, dependencies=[Depends(rate_limit("read"))])
async def get_controls(principal: CurrentUser, conn: Conn, runtime: RuntimeDep) -> ControlsOut:
    """Your self-exclusion, time-out, limits (with any raise waiting out its 24 hours)."""
    return await _answer(conn, principal, runtime.settings.rg_reality_check_minutes)


@router.post(
    "/self-exclusion", response_model=ControlsOut, dependencies=[Depends(rate_limit("money"))]
)
async def self_exclude(
    body: SelfExclusionRequest, principal: CurrentUser, conn: Tx, runtime: RuntimeDep
) -> ControlsOut:
    """Exclude yourself for 1-12 months or for good, at once. It cannot be shortened or lifted;
    withdrawals stay open."""
    if body.permanent == (body.months is not None):
        raise Unprocessable("Send either months (1-12) or permanent=true.")
    await service.exclude(
        conn, principal.user_id, principal.country, months=body.months, now=datetime.now(UTC)
    )
    return await _answer(conn, principal, runtime.settings.rg_reality_check_minutes)


@router.delete("/self-exclusion", dependencies=[Depends(rate_limit("money"))])
async def lift_self_exclusion(principal: CurrentUser) -> None:
    """Always refused: a self-exclusion runs its full term (409 exclusion_cannot_be_shortened)."""
    raise ExclusionCannotBeShortened()


@router.post("/time-out", response_model=ControlsOut, dependencies=[Depends(rate_limit("money"))])
async def time_out(
    body: TimeoutRequest, principal: CurrentUser, conn: Tx, runtime: RuntimeDep
) -> ControlsOut:
    """Take a break from 24 hours to six weeks, at once; it cannot be shortened."""
    await service.timeout(
        conn, principal.user_id, principal.country, hours=body.hours, now=datetime.now(UTC)
    )
    return await _answer(conn, principal, runtime.settings.rg_reality_check_minutes)


@router.put(
    "/limits/{kind}/{period}",
    response_model=ControlsOut,
    dependencies=[Depends(rate_limit("money"))],
)
async def set_limit(
    kind: LimitKind,
    period: Period,
    body: LimitRequest,
    principal: CurrentUser,
    conn: Tx,
    runtime: RuntimeDep,
) -> ControlsOut:
    """Set a deposit or loss limit per day, week or month (rolling). Lowering applies at once;
    raising or removing (amount null) only after a 24-hour cooling period."""
    currency = get_tenant(principal.country).currency
    amount = None if body.amount is None else to_money(body.amount, currency).minor
    await service.set_limit(
        conn,
        principal.user_id,
        principal.country,
        kind=kind,
        period=period,
        amount=amount,
        now=datetime.now(UTC),
    )
    return await _answer(conn, principal, runtime.settings.rg_reality_check_minutes)


@router.put(
    "/reality-check", response_model=ControlsOut, dependencies=[Depends(rate_limit("money"))]
)
async def reality_check(
    body: RealityCheckRequest, principal: CurrentUser, conn: Tx, runtime: RuntimeDep
) -> ControlsOut:
    """How often the WebSocket reminds you how long you have been playing (minutes)."""
    await service.set_reality_check(
        conn, principal.user_id, principal.country, minutes=body.minutes, now=datetime.now(UTC)
    )
    return await _answer(conn, principal, runtime.settings.rg_reality_check_minutes)
