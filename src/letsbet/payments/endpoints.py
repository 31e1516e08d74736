"""/api/payments*: deposits, withdrawals, history; provider callbacks and webhooks. Thin."""

from __future__ import annotations

import time
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response

from letsbet.compliance.geo.deps import MoneyLocation
from letsbet.errors import Unavailable
from letsbet.payments import callbacks, deposits, service, withdrawals
from letsbet.payments import repository as repo
from letsbet.payments.domain import PaymentNotFound, mask_phone
from letsbet.payments.gateway import gateway_of
from letsbet.payments.http import ProviderUnavailable
from letsbet.payments.mpesa.wire import ACCEPTED
from letsbet.payments.schemas import DepositRequest, PaymentOut, PaymentPage, WithdrawalRequest
from letsbet.platform.http import cursor as cursors
from letsbet.platform.http.cursor import InvalidCursor
from letsbet.platform.http.deps import Conn, CurrentUser, RuntimeDep
from letsbet.platform.http.middleware import client_ip
from letsbet.platform.http.ratelimit import rate_limit
from letsbet.platform.http.responses import OrjsonResponse
from letsbet.platform.money import Money, to_money
from letsbet.tenants import get_tenant

router = APIRouter(prefix="/api/payments", tags=["payments"])
callback_router = APIRouter(prefix="/api/payments", tags=["payment callbacks"])


class ProviderDown(Unavailable):
    code = "provider_unavailable"
    message = "The payment provider could not be reached; retry shortly."


def _fmt(minor: int, currency: str) -> str:
    return Money(minor, currency).format()


def payment_out(row: Any, *, replayed: bool = False) -> PaymentOut:
    return PaymentOut(
        id=row.id,
        direction=row.direction,
        provider=row.provider,
        status=row.status,
        reason=row.reason,
        currency=row.currency,
        amount=_fmt(row.amount, row.currency),
        tax=_fmt(row.tax, row.currency),
        net=_fmt(row.net, row.currency),
        tax_regime=row.tax_regime_id,
        phone=mask_phone(row.phone) or None,
        provider_reference=row.provider_reference,
        receipt=row.receipt,
        result_code=row.result_code,
        result_desc=row.result_desc,
        checkout_url=row.checkout_url,
        created_at=row.created_at,
        completed_at=row.completed_at,
        replayed=replayed,
    )


async def _answer(runtime: Any, requested: service.Requested, response: Response) -> PaymentOut:
    async with runtime.db.connect() as conn:
        row = await repo.by_id(conn, requested.payment_id)
    assert row is not None
    if requested.replayed:
        response.status_code = 200
    return payment_out(row, replayed=requested.replayed)


@router.post(
    "/deposits",
    status_code=201,
    response_model=PaymentOut,
    dependencies=[Depends(rate_limit("money"))],
    responses={200: {"model": PaymentOut, "description": "A replay of a deposit request."}},
)
async def deposit(
    body: DepositRequest,
    principal: CurrentUser,
    runtime: RuntimeDep,
    response: Response,
    location: MoneyLocation,
) -> PaymentOut:
    """Start a deposit: M-Pesa sends a PIN prompt to your phone (Kenya); Flutterwave answers
    with a checkout_url (Nigeria) or a mobile money prompt (Ghana). Poll GET /api/payments/{id}."""
    tenant = get_tenant(principal.country)
    money = to_money(body.amount, tenant.currency)
    requested = await deposits.request_deposit(
        runtime.db,
        gateway_of(runtime),
        service.PaymentRequest(
            user_id=principal.user_id,
            country=tenant.code,
            amount=money.minor,
            idempotency_key=body.idempotency_key,
            network=body.network,
        ),
        allowed_countries=runtime.settings.allowed_countries,
        location=location,
    )
    return await _answer(runtime, requested, response)


@router.post(
    "/withdrawals",
    status_code=201,
    response_model=PaymentOut,
    dependencies=[Depends(rate_limit("money"))],
    responses={200: {"model": PaymentOut, "description": "A replay of a withdrawal request."}},
)
async def withdraw(
    body: WithdrawalRequest,
    principal: CurrentUser,
    runtime: RuntimeDep,
    response: Response,
    location: MoneyLocation,
) -> PaymentOut:
    """Withdraw to M-Pesa (Kenya) or by Flutterwave transfer: the amount is held at once and
    leaves the wallet when the provider confirms; a failure returns it."""
    tenant = get_tenant(principal.country)
    money = to_money(body.amount, tenant.currency)
    requested = await withdrawals.request_withdrawal(
        runtime.db,
        gateway_of(runtime),
        service.PaymentRequest(
            user_id=principal.user_id,
            country=tenant.code,
            amount=money.minor,
            idempotency_key=body.idempotency_key,
            account_bank=body.account_bank,
            account_number=body.account_number,
        ),
        allowed_countries=runtime.settings.allowed_countries,
        location=location,
    )
    return await _answer(runtime, requested, response)


def _cursor(row: Any) -> str:
    return cursors.encode_cursor(f"{row.created_at.isoformat()}|{row.id}")


def _decode(cursor: str) -> tuple[datetime, uuid.UUID]:
    text = cursors.decode_cursor(cursor, max_chars=120)
    try:
        stamp, _, ident = text.partition("|")
        when = datetime.fromisoformat(stamp)
        if when.tzinfo is None:
            raise ValueError("naive")
        return when, uuid.UUID(ident)
    except ValueError:
        raise InvalidCursor() from None


@router.get("", response_model=PaymentPage, dependencies=[Depends(rate_limit("read"))])
async def history(
    principal: CurrentUser,
    conn: Conn,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=120)] = None,
    direction: Literal["deposit", "withdrawal"] | None = None,
    status: Literal["initiated", "pending", "succeeded", "failed", "timed_out"] | None = None,
) -> PaymentPage:
    """Your deposits and withdrawals, newest first, with status, references and taxes."""
    rows = await repo.history(
        conn,
        user_id=principal.user_id,
        limit=limit + 1,
        before=_decode(cursor) if cursor else None,
        directions=[direction] if direction else [],
        statuses=[status] if status else [],
    )
    page = rows[:limit]
    return PaymentPage(
        items=[payment_out(r) for r in page],
        next_cursor=_cursor(page[-1]) if len(rows) > limit else None,
    )


@router.get("/{payment_id}", response_model=PaymentOut, dependencies=[Depends(rate_limit("read"))])
async def get_payment(payment_id: uuid.UUID, principal: CurrentUser, conn: Conn) -> PaymentOut:
    row = await repo.by_id(conn, payment_id)
    if row is None or row.user_id != principal.user_id:
        raise PaymentNotFound()
    return payment_out(row)


# -- provider callbacks (no auth: verified by token, IP, hash and look-ups; see callbacks.py) ----
def _ip(request: Request, runtime: Any) -> str:
    return client_ip(request.scope, runtime.settings.trust_forwarded_for)


@callback_router.post("/mpesa/stk/{payment_id}/{token}", include_in_schema=False)
async def mpesa_stk(
    payment_id: uuid.UUID, token: str, request: Request, runtime: RuntimeDep
) -> OrjsonResponse:
    received = time.perf_counter()
    await callbacks.on_stk_callback(
        runtime.db,
        payment_id=payment_id,
        token=token,
        raw=await request.body(),
        source_ip=_ip(request, runtime),
        allowed_ips=runtime.settings.mpesa_callback_allowed_ips,
        received=received,
    )
    return OrjsonResponse(ACCEPTED)


@callback_router.post("/mpesa/b2c/{payment_id}/{token}/{kind}", include_in_schema=False)
async def mpesa_b2c(
    payment_id: uuid.UUID,
    token: str,
    kind: Literal["result", "timeout"],
    request: Request,
    runtime: RuntimeDep,
) -> OrjsonResponse:
    received = time.perf_counter()
    await callbacks.on_b2c_callback(
        runtime.db,
        payment_id=payment_id,
        token=token,
        raw=await request.body(),
        timed_out=kind == "timeout",
        source_ip=_ip(request, runtime),
        allowed_ips=runtime.settings.mpesa_callback_allowed_ips,
        received=received,
    )
    return OrjsonResponse(ACCEPTED)


@callback_router.post("/flutterwave/webhook", include_in_schema=False)
async def flutterwave_webhook(request: Request, runtime: RuntimeDep) -> OrjsonResponse:
    received = time.perf_counter()
    try:
        result = await callbacks.on_flutterwave_webhook(
            runtime.db,
            gateway_of(runtime),
            raw=await request.body(),
            verif_hash=request.headers.get("verif-hash"),
            signature=request.headers.get("flutterwave-signature"),
            received=received,
        )
    except ProviderUnavailable:
        raise ProviderDown() from None  # 503: Flutterwave retries, and so does the reconciler
    return OrjsonResponse({"status": "success", "outcome": result.outcome})


@callback_router.get("/flutterwave/return", include_in_schema=False)
async def flutterwave_return() -> OrjsonResponse:
    """Where the hosted checkout sends the player back; the webhook does the crediting."""
    return OrjsonResponse(
        {"status": "received", "message": "Payment received; your wallet updates shortly."}
    )
