"""GET/PATCH /api/admin/aml/alerts: compliance staff review AML alerts. Thin."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query

from letsbet.accounts.domain import Role
from letsbet.accounts.tokens import Principal
from letsbet.compliance.aml import repository as repo
from letsbet.compliance.aml import service
from letsbet.compliance.aml.domain import Rule, Status
from letsbet.compliance.aml.schemas import AlertChangeOut, AlertOut, AlertPage, AlertPatch
from letsbet.compliance.audit import service as audit
from letsbet.compliance.audit.deps import staff
from letsbet.compliance.audit.domain import Actor
from letsbet.platform.http import cursor as cursors
from letsbet.platform.http.deps import Conn, Tx, require_role
from letsbet.platform.http.ratelimit import rate_limit
from letsbet.platform.observability import get_logger

router = APIRouter(prefix="/api/admin/aml", tags=["compliance"])
log = get_logger(__name__)
MAX_PAGE = 200
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_CURSOR = re.compile(r"([0-9]{1,18})\.([0-9a-f]{32})")
StatusName = Literal["open", "investigating", "closed", "reported"]
SeverityName = Literal["low", "medium", "high"]
RuleName = Literal[
    "large_deposit", "large_withdrawal", "quick_cashout", "deposit_velocity", "shared_identity"
]
assert set(RuleName.__args__) == {r.value for r in Rule}  # type: ignore[attr-defined]


def _encode(row: Any) -> str:
    micros = (row.created_at - EPOCH) // timedelta(microseconds=1)
    return cursors.encode_cursor(f"{micros}.{row.id.hex}")


def _decode(cursor: str) -> tuple[datetime, uuid.UUID]:
    match = _CURSOR.fullmatch(cursors.decode_cursor(cursor, max_chars=96))
    if match is None:
        raise cursors.InvalidCursor()
    return EPOCH + timedelta(microseconds=int(match[1])), uuid.UUID(hex=match[2])


def _alert(row: Any, changes: list[Any]) -> AlertOut:
    return AlertOut(
        id=row.id,
        user_id=row.user_id,
        country=row.country_code,
        rule=row.rule,
        severity=row.severity,
        status=row.status,
        evidence=row.evidence,
        holds_freeze=row.holds_freeze,
        created_at=row.created_at,
        updated_at=row.updated_at,
        history=[
            AlertChangeOut(
                from_status=c.from_status,
                to_status=c.to_status,
                note=c.note,
                freeze=c.freeze,
                actor_user_id=c.actor_user_id,
                at=c.at,
            )
            for c in changes
        ],
    )


@router.get("/alerts", response_model=AlertPage, dependencies=[Depends(rate_limit("read"))])
async def list_alerts(
    conn: Conn,
    reviewer: Annotated[Principal, Depends(require_role(Role.ADMIN, Role.COMPLIANCE))],
    status: Annotated[list[StatusName] | None, Query(max_length=4)] = None,
    severity: Annotated[list[SeverityName] | None, Query(max_length=3)] = None,
    rule: Annotated[list[RuleName] | None, Query(max_length=5)] = None,
    user: uuid.UUID | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    cursor: Annotated[str | None, Query(max_length=96)] = None,
) -> AlertPage:
    """Alerts newest first with their status history. Filters (repeat for several): `status`,
    `severity`, `rule`; `user` (a player id)."""
    rows = await repo.page(
        conn,
        repo.AlertFilter(
            statuses=status or (), severities=severity or (), rules=rule or (), user_id=user
        ),
        limit=limit + 1,
        before=_decode(cursor) if cursor is not None else None,
    )
    page = rows[:limit]
    changes: dict[uuid.UUID, list[Any]] = {}
    for change in await repo.history(conn, [row.id for row in page]):
        changes.setdefault(change.alert_id, []).append(change)
    return AlertPage(
        items=[_alert(row, changes.get(row.id, [])) for row in page],
        next_cursor=_encode(page[-1]) if len(rows) > limit else None,
    )


@router.patch(
    "/alerts/{alert_id}", response_model=AlertOut, dependencies=[Depends(rate_limit("read"))]
)
async def change_alert(
    alert_id: uuid.UUID,
    body: AlertPatch,
    conn: Tx,
    reviewer: Annotated[Actor, Depends(staff(Role.ADMIN, Role.COMPLIANCE))],
) -> AlertOut:
    """Move an alert (open → investigating → closed | reported; 409 `invalid_transition`
    otherwise) with a note, and/or lift its withdrawal freeze (`unfreeze: true`). Closing as
    `closed` lifts the freeze; `reported` keeps it. Audited."""
    changed = await service.change(
        conn,
        alert_id,
        status=Status(body.status) if body.status is not None else None,
        note=body.note,
        unfreeze=body.unfreeze,
        actor=reviewer.user_id,
        now=datetime.now(UTC),
    )
    await audit.append(
        conn,
        reviewer,
        action="compliance.aml.alert_changed",
        target_type="aml_alert",
        target_id=alert_id,
        before=changed.before,
        after={
            **changed.after,
            "player_frozen": changed.player_frozen,
        },  # the note stays in the alert
        country=changed.country,
    )
    log.info("aml.alert_changed", alert_id=str(alert_id), **changed.after)
    row = await repo.alert(conn, alert_id)
    return _alert(row, await repo.history(conn, [alert_id]))
