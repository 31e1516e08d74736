"""GET /api/admin/liabilities: exposure per event and currency for operators. Thin."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from letsbet.accounts.domain import Role
from letsbet.platform.http import cursor as cursors
from letsbet.platform.http.cursor import InvalidCursor
from letsbet.platform.http.deps import Conn, require_role
from letsbet.platform.http.ratelimit import rate_limit
from letsbet.platform.money import Money
from letsbet.sportsbook.bets import liability
from letsbet.sportsbook.catalogue.schemas import MAX_ID, EventStatus

router = APIRouter(
    prefix="/api/admin",
    tags=["trading"],
    dependencies=[Depends(rate_limit("read")), Depends(require_role(Role.ADMIN))],
)


class LiabilityOut(BaseModel):
    event_id: int
    event_name: str = Field(examples=["Gor Mahia v AFC Leopards"])
    event_status: str
    starts_at: datetime
    currency: str
    exposure: str = Field(description="Potential payout of open and pending bets.")
    liability_cap: str | None = Field(description="The event's cap, if it has one.")


class LiabilityPage(BaseModel):
    items: list[LiabilityOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page.")


@router.get("/liabilities", response_model=LiabilityPage)
async def list_liabilities(
    conn: Conn,
    event_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    status: Annotated[EventStatus | None, Query(description="The event's status.")] = None,
    currency: Annotated[str | None, Query(pattern=r"^[A-Z]{3}$")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> LiabilityPage:
    """Largest exposure first; a multi counts in full on each of its events."""
    rows = await liability.page(
        conn,
        event_id=event_id,
        status=status,
        currency=currency,
        after=_decode(cursor) if cursor else None,
        limit=limit + 1,
    )
    items = [
        LiabilityOut(
            event_id=r.event_id,
            event_name=f"{r.home} v {r.away}",
            event_status=r.status,
            starts_at=r.starts_at,
            currency=r.currency,
            exposure=Money(r.exposure, r.currency).format(),
            liability_cap=(
                None if r.liability_cap is None else Money(r.liability_cap, r.currency).format()
            ),
        )
        for r in rows[:limit]
    ]
    last = rows[limit - 1] if len(rows) > limit else None
    return LiabilityPage(items=items, next_cursor=_encode(last) if last else None)


_CURSOR = re.compile(r"([0-9]{1,19})\|([1-9][0-9]{0,18})\|([A-Z]{3})")


def _encode(row: liability.Liability) -> str:
    return cursors.encode_cursor(f"{row.exposure}|{row.event_id}|{row.currency}")


def _decode(value: str) -> liability.After:
    match = _CURSOR.fullmatch(cursors.decode_cursor(value, max_chars=64))
    if match is None or int(match[1]) >= 2**63 or int(match[2]) > MAX_ID:
        raise InvalidCursor()
    return liability.After(int(match[1]), int(match[2]), match[3])
