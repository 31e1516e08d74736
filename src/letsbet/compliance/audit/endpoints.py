"""GET /api/admin/audit: the audit log for admin and compliance staff. Thin."""

from __future__ import annotations

import re
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import AwareDatetime, Field

from letsbet.accounts.domain import Role
from letsbet.accounts.tokens import Principal
from letsbet.compliance.audit import repository as repo
from letsbet.compliance.audit.schemas import (
    AuditActorOut,
    AuditEntryOut,
    AuditPage,
    AuditTargetOut,
)
from letsbet.errors import Unprocessable
from letsbet.platform.http import cursor as cursors
from letsbet.platform.http.deps import Conn, require_role
from letsbet.platform.http.ratelimit import rate_limit

router = APIRouter(prefix="/api/admin", tags=["compliance"])
MAX_PAGE = 200
_SEQ = re.compile(r"[1-9][0-9]{0,18}")
Name = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_.]*$")]


class InvalidDateRange(Unprocessable):
    code = "invalid_date_range"
    message = "`to` must be after `from`."


def _decode(cursor: str) -> int:
    text = cursors.decode_cursor(cursor, max_chars=32)
    if _SEQ.fullmatch(text) is None or int(text) > 2**63 - 1:
        raise cursors.InvalidCursor()
    return int(text)


def _entry(row: Any) -> AuditEntryOut:
    return AuditEntryOut(
        seq=row.seq,
        occurred_at=row.occurred_at,
        actor=AuditActorOut(user_id=row.actor_user_id, role=row.actor_role),
        country=row.country_code,
        action=row.action,
        target=AuditTargetOut(type=row.target_type, id=row.target_id),
        before=row.before,
        after=row.after,
        request_id=row.request_id,
        client_ip=row.client_ip,
        prev_hash=row.prev_hash,
        hash=row.hash,
    )


@router.get("/audit", response_model=AuditPage, dependencies=[Depends(rate_limit("read"))])
async def list_audit(
    conn: Conn,
    staff: Annotated[Principal, Depends(require_role(Role.ADMIN, Role.COMPLIANCE))],
    actor: uuid.UUID | None = None,
    action: Annotated[list[Name] | None, Query(max_length=20)] = None,
    target_type: Name | None = None,
    target_id: Annotated[str | None, Query(min_length=1, max_length=128)] = None,
    since: Annotated[AwareDatetime | None, Query(alias="from")] = None,
    until: Annotated[AwareDatetime | None, Query(alias="to")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
) -> AuditPage:
    """Audit rows newest first, `limit` per page. Filters: `actor` (a user id), `action`
    (repeat for several), `target_type` and `target_id`, `from` (inclusive) and `to`
    (exclusive) as ISO 8601 times with a zone."""
    if since is not None and until is not None and until <= since:
        raise InvalidDateRange()
    rows = await repo.page(
        conn,
        repo.AuditFilter(
            actor_user_id=actor,
            actions=action or (),
            target_type=target_type,
            target_id=target_id,
            since=since,
            until=until,
        ),
        limit=limit + 1,
        before_seq=_decode(cursor) if cursor is not None else None,
    )
    page = rows[:limit]
    more = len(rows) > limit
    return AuditPage(
        items=[_entry(row) for row in page],
        next_cursor=cursors.encode_cursor(str(page[-1].seq)) if more else None,
    )
