"""/api/wallet* for players and /api/admin/wallets/* for staff. Thin: parse, call, shape."""

from __future__ import annotations

import csv
import hashlib
import io
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response
from fastapi.responses import StreamingResponse
from pydantic import AwareDatetime, Field
from sqlalchemy.ext.asyncio import AsyncConnection

from letsbet.accounts import repository as accounts_repository
from letsbet.accounts.domain import Role
from letsbet.compliance.audit import service as audit
from letsbet.compliance.audit.deps import staff
from letsbet.compliance.audit.domain import Actor
from letsbet.errors import NotFound
from letsbet.ledger import queries, service
from letsbet.ledger.domain import Entry, House, HouseAccount, PlayerCash, TransferSpec
from letsbet.ledger.schemas import (
    AdjustmentRequest,
    AdjustmentResponse,
    TransactionItem,
    TransactionPage,
    WalletResponse,
)
from letsbet.platform.db import run_in_transaction
from letsbet.platform.http.deps import Conn, CurrentUser, RuntimeDep
from letsbet.platform.http.ratelimit import rate_limit
from letsbet.platform.money import Money, to_money
from letsbet.platform.observability import get_logger
from letsbet.tenants import get_tenant

router = APIRouter(prefix="/api", tags=["wallet"])
log = get_logger(__name__)

MAX_PAGE = 200
MAX_TYPE_FILTERS = 20
STATEMENT_BATCH = 500
STATEMENT_DEFAULT_SPAN = timedelta(days=90)
STATEMENT_HEADER = (
    "date",
    "type",
    "reference",
    "amount",
    "balance_before",
    "balance_after",
    "currency",
    "transfer_id",
)
# Cells a spreadsheet would read as a formula (OWASP "CSV injection").
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_LEDGER_KEY_MAX = 128
ADJUSTMENT_TYPE = "adjustment"


class UserNotFound(NotFound):
    code = "user_not_found"
    message = "No such user."


TypeFilter = Annotated[
    list[Annotated[str, Field(min_length=1, max_length=64)]] | None,
    Query(
        alias="type",
        max_length=MAX_TYPE_FILTERS,
        description="Transfer type, exact match; repeat for several (?type=a&type=b).",
    ),
]
Since = Annotated[
    AwareDatetime | None,
    Query(alias="from", description="ISO 8601 with a timezone; inclusive."),
]
Until = Annotated[
    AwareDatetime | None,
    Query(alias="to", description="ISO 8601 with a timezone; exclusive."),
]


def _fmt(minor: int, currency: str) -> str:
    return Money(minor, currency).format()


def _check_range(since: datetime | None, until: datetime | None) -> None:
    if since is not None and until is not None and until < since:
        raise queries.InvalidDateRange()


@router.get("/wallet", response_model=WalletResponse, dependencies=[Depends(rate_limit("read"))])
async def get_wallet(principal: CurrentUser, conn: Conn) -> WalletResponse:
    """The caller's balance, the part held for pending bets and withdrawals, and the rest."""
    currency = get_tenant(principal.country).currency
    wallet = await service.wallet(conn, principal.user_id, currency)
    return WalletResponse(
        currency=currency,
        balance=_fmt(wallet.balance, currency),
        held=_fmt(wallet.held, currency),
        available=_fmt(wallet.available, currency),
    )


@router.get(
    "/wallet/transactions",
    response_model=TransactionPage,
    dependencies=[Depends(rate_limit("read"))],
)
async def list_transactions(
    principal: CurrentUser,
    conn: Conn,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
    types: TypeFilter = None,
    since: Since = None,
    until: Until = None,
) -> TransactionPage:
    """The caller's wallet movements, newest first, `limit` per page."""
    _check_range(since, until)
    after_id = queries.decode_cursor(cursor) if cursor is not None else None
    rows = await queries.player_postings(
        conn,
        user_id=principal.user_id,
        currency=get_tenant(principal.country).currency,
        limit=limit + 1,  # one more tells whether another page exists
        after_id=after_id,
        types=types or (),
        since=since,
        until=until,
    )
    page = rows[:limit]
    more = len(rows) > limit
    return TransactionPage(
        items=[_item(row) for row in page],
        next_cursor=queries.encode_cursor(page[-1].id) if more else None,
    )


def _item(row: Any) -> TransactionItem:
    return TransactionItem(
        id=str(row.id),
        transfer_id=row.transfer_id,
        type=row.type,
        reference=row.reference,
        amount=_fmt(row.amount, row.currency),
        balance_before=_fmt(row.balance_before, row.currency),
        balance_after=_fmt(row.balance_after, row.currency),
        currency=row.currency,
        created_at=row.created_at,
    )


@router.get(
    "/wallet/statement.csv",
    response_class=StreamingResponse,
    dependencies=[Depends(rate_limit("read"))],
    responses={200: {"content": {"text/csv": {}}, "description": "The statement as CSV."}},
)
async def download_statement(
    principal: CurrentUser, runtime: RuntimeDep, since: Since = None, until: Until = None
) -> StreamingResponse:
    """The caller's movements in [from, to) as CSV, oldest first (default: the last 90 days)."""
    until = until or datetime.now(UTC)
    since = since or until - STATEMENT_DEFAULT_SPAN
    _check_range(since, until)
    filename = f"letsbet-statement-{since.date().isoformat()}-{until.date().isoformat()}.csv"
    currency = get_tenant(principal.country).currency

    async def fetch(after_id: int | None) -> list[Any]:
        # A short connection per batch: a slow download never pins a pooled connection.
        async with runtime.db.connect() as conn:
            return await queries.player_postings(
                conn,
                user_id=principal.user_id,
                currency=currency,
                limit=STATEMENT_BATCH,
                after_id=after_id,
                oldest_first=True,
                since=since,
                until=until,
            )

    # The first batch is read before the response starts, so an outage is still a clean 503
    # and a typical statement is complete before the first byte goes out.
    first = await fetch(None)
    return StreamingResponse(
        _statement(fetch, first),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


async def _statement(
    fetch: Callable[[int | None], Awaitable[list[Any]]], first: list[Any]
) -> AsyncIterator[bytes]:
    yield _csv([STATEMENT_HEADER])
    rows = first
    while rows:
        yield _csv(_statement_line(row) for row in rows)
        if len(rows) < STATEMENT_BATCH:
            return
        rows = await fetch(rows[-1].id)


def _statement_line(row: Any) -> tuple[str, ...]:
    return (
        row.created_at.isoformat(),
        row.type,
        _neutralise(row.reference or ""),
        _fmt(row.amount, row.currency),
        _fmt(row.balance_before, row.currency),
        _fmt(row.balance_after, row.currency),
        row.currency,
        str(row.transfer_id),
    )


def _neutralise(text: str) -> str:
    """Keep a spreadsheet from running a cell as a formula (prefix it with a quote)."""
    return "'" + text if text.startswith(_FORMULA_PREFIXES) else text


def _csv(lines: Iterable[Iterable[str]]) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(lines)  # RFC 4180 line ends
    return out.getvalue().encode()


# -- staff --------------------------------------------------------------------------------------
@router.post(
    "/admin/wallets/{user_id}/adjustments",
    status_code=201,
    response_model=AdjustmentResponse,
    dependencies=[Depends(rate_limit("money"))],
    responses={200: {"model": AdjustmentResponse, "description": "A replay of an adjustment."}},
)
async def adjust_wallet(
    user_id: uuid.UUID,
    body: AdjustmentRequest,
    response: Response,
    runtime: RuntimeDep,
    admin: Annotated[Actor, Depends(staff(Role.ADMIN))],
) -> AdjustmentResponse:
    """Credit (positive amount) or debit (negative) a player's wallet against the house's
    adjustments account, recorded with the admin's id. A retry with the same idempotency key
    and body answers 200 with the original result (replayed=true)."""
    ledger_key = _adjustment_key(body.idempotency_key)

    async def post(conn: AsyncConnection) -> service.Transfer:
        user = await accounts_repository.user_by_id(conn, user_id)
        if user is None:
            raise UserNotFound(f"No account {user_id}.")
        country = user.country_code
        money = to_money(body.amount, get_tenant(country).currency, allow_negative=True)
        transfer = await service.post_transfer(
            conn,
            TransferSpec(
                idempotency_key=ledger_key,
                type=ADJUSTMENT_TYPE,
                country=country,
                currency=money.currency,
                entries=(
                    Entry(PlayerCash(user_id), money.minor),
                    Entry(House(HouseAccount.ADJUSTMENTS), -money.minor),
                ),
                reference=f"adj-{hashlib.sha256(ledger_key.encode()).hexdigest()[:12]}",
                metadata={"reason": body.reason, "admin_id": str(admin.user_id)},
                initiated_by=admin.user_id,
            ),
        )
        if not transfer.replayed:  # a replay is the same action, audited once
            entry = transfer.entry_for(user_id)
            await audit.append(
                conn,
                admin,
                action="ledger.adjustment",
                target_type="user",
                target_id=user_id,
                before={"balance": entry.balance_before},
                after={
                    "balance": entry.balance_after,
                    "amount": entry.amount,
                    "currency": transfer.currency,
                    "reason": body.reason,
                    "transfer_id": transfer.id,
                },
                country=country,
            )
        return transfer

    # Its own retried transaction (not the Tx dependency) so a deadlock is retried, not a 500.
    transfer = await run_in_transaction(runtime.db, post)
    entry = transfer.entry_for(user_id)
    if transfer.replayed:
        response.status_code = 200
    log.info(
        "ledger.adjustment",
        admin_id=str(admin.user_id),
        user_id=str(user_id),
        transfer_id=str(transfer.id),
        amount=entry.amount,
        currency=transfer.currency,
        replayed=transfer.replayed,
    )
    return AdjustmentResponse(
        transfer_id=transfer.id,
        type=transfer.type,
        amount=_fmt(entry.amount, transfer.currency),
        currency=transfer.currency,
        balance_after=_fmt(entry.balance_after, transfer.currency),
        reason=str(transfer.metadata.get("reason", body.reason)),
        replayed=transfer.replayed,
    )


def _adjustment_key(client_key: str) -> str:
    """The ledger key for a client's key; keys too long for the namespace prefix are hashed so
    the ledger's 128-character limit holds for every key the API accepts."""
    key = f"{ADJUSTMENT_TYPE}:{client_key}"
    if len(key) <= _LEDGER_KEY_MAX:
        return key
    return f"{ADJUSTMENT_TYPE}:sha256:{hashlib.sha256(client_key.encode()).hexdigest()}"
