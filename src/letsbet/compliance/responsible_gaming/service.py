"""Responsible-gaming use cases: a player sets their own controls; they bind at once.

Each takes the caller's connection first and runs in the caller's transaction; each change is
recorded in rg_history and as an outbox event (compliance.responsible_gaming.changed). The
controls themselves are enforced by compliance.eligibility on every money path.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from letsbet.compliance.responsible_gaming import repository as repo
from letsbet.compliance.responsible_gaming.domain import (
    NO_LIMIT,
    Exclusion,
    InvalidControl,
    Limit,
    LimitKind,
    Period,
    change_limit,
    self_exclude,
    take_timeout,
)
from letsbet.platform.bus.outbox import Event, record

MIN_REALITY_CHECK_MINUTES = 10
MAX_REALITY_CHECK_MINUTES = 24 * 60


@dataclass(frozen=True, slots=True)
class LimitView:
    kind: str
    period: str
    amount: int | None
    pending_amount: int | None
    pending_from: datetime | None


@dataclass(frozen=True, slots=True)
class Controls:
    excluded_until: datetime | None
    excluded_permanently: bool
    timeout_until: datetime | None
    reality_check_minutes: int | None
    limits: tuple[LimitView, ...]


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


async def _changed(
    conn: AsyncConnection,
    user_id: uuid.UUID,
    country: str,
    control: str,
    before: dict[str, Any],
    after: dict[str, Any],
    now: datetime,
) -> None:
    await repo.add_history(
        conn, user_id=user_id, country=country, control=control, before=before, after=after, at=now
    )
    await record(
        conn,
        Event(
            "compliance.responsible_gaming.changed",
            {"user_id": str(user_id), "country": country, "control": control, "after": after},
        ),
    )


async def exclude(
    conn: AsyncConnection, user_id: uuid.UUID, country: str, *, months: int | None, now: datetime
) -> Exclusion:
    """Self-exclude for `months` (1-12) or for good (None); effective at once."""
    row = await repo.lock_controls(conn, user_id, country, now)
    current = Exclusion(row.excluded_until, row.excluded_permanently)
    new = self_exclude(current, months=months, now=now)
    await repo.update_controls(
        conn,
        user_id,
        excluded_until=new.until,
        excluded_permanently=new.permanent,
        excluded_at=now,
        updated_at=now,
    )
    await _changed(
        conn,
        user_id,
        country,
        "self_exclusion",
        {"until": _iso(current.until), "permanent": current.permanent},
        {"until": _iso(new.until), "permanent": new.permanent},
        now,
    )
    return new


async def timeout(
    conn: AsyncConnection, user_id: uuid.UUID, country: str, *, hours: int, now: datetime
) -> datetime:
    """Take a time-out of `hours` (24 h to six weeks); effective at once."""
    row = await repo.lock_controls(conn, user_id, country, now)
    until = take_timeout(row.timeout_until, hours=hours, now=now)
    await repo.update_controls(conn, user_id, timeout_until=until, updated_at=now)
    await _changed(
        conn,
        user_id,
        country,
        "timeout",
        {"until": _iso(row.timeout_until)},
        {"until": _iso(until)},
        now,
    )
    return until


async def set_limit(
    conn: AsyncConnection,
    user_id: uuid.UUID,
    country: str,
    *,
    kind: LimitKind,
    period: Period,
    amount: int | None,
    now: datetime,
) -> Limit:
    """Set, lower (at once), raise or remove (after 24 hours) a deposit or loss limit."""
    await repo.lock_controls(conn, user_id, country, now)  # serialises a player's changes
    current = (await repo.limits(conn, user_id)).get((kind.value, period.value), NO_LIMIT)
    new = change_limit(current, amount, now)
    await repo.save_limit(
        conn, user_id=user_id, country=country, kind=kind, period=period, limit=new, now=now
    )
    await _changed(
        conn,
        user_id,
        country,
        f"limit.{kind.value}.{period.value}",
        _limit_json(current),
        _limit_json(new),
        now,
    )
    return new


async def set_reality_check(
    conn: AsyncConnection, user_id: uuid.UUID, country: str, *, minutes: int | None, now: datetime
) -> None:
    """How often a session reminder is sent (None: the platform default)."""
    if (
        minutes is not None
        and not MIN_REALITY_CHECK_MINUTES <= minutes <= MAX_REALITY_CHECK_MINUTES
    ):
        raise InvalidControl(
            f"Reality checks come every {MIN_REALITY_CHECK_MINUTES} to"
            f" {MAX_REALITY_CHECK_MINUTES} minutes."
        )
    row = await repo.lock_controls(conn, user_id, country, now)
    await repo.update_controls(conn, user_id, reality_check_minutes=minutes, updated_at=now)
    await _changed(
        conn,
        user_id,
        country,
        "reality_check",
        {"minutes": row.reality_check_minutes},
        {"minutes": minutes},
        now,
    )


async def controls_of(conn: AsyncConnection, user_id: uuid.UUID) -> Controls:
    row = await repo.controls(conn, user_id)
    limits = await repo.limits(conn, user_id)
    return Controls(
        excluded_until=row.excluded_until if row else None,
        excluded_permanently=bool(row.excluded_permanently) if row else False,
        timeout_until=row.timeout_until if row else None,
        reality_check_minutes=row.reality_check_minutes if row else None,
        limits=tuple(
            LimitView(kind, period, limit.amount, limit.pending_amount, limit.pending_from)
            for (kind, period), limit in sorted(limits.items())
        ),
    )


def _limit_json(limit: Limit) -> dict[str, Any]:
    return {
        "amount": limit.amount,
        "pending_amount": limit.pending_amount,
        "pending_from": _iso(limit.pending_from),
    }
