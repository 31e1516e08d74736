"""Audit rows for trading actions: the event's state before and after, reduced to what changed.

Every trading endpoint wraps its service call in `audited(...)`: one row per action, in the
action's transaction, whatever the action touched (status, kick-off, limits, score, markets,
odds, results). The snapshot locks the event row first, as the services do, so nothing can
change it between the two snapshots.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from letsbet.compliance.audit import service as audit
from letsbet.compliance.audit.domain import Actor, diff, jsonable
from letsbet.sportsbook.catalogue import repository as repo
from letsbet.sportsbook.catalogue.service import LIMIT_FIELDS, format_factor


async def snapshot(conn: AsyncConnection, event_id: int) -> dict[str, Any] | None:
    """The event's tradable state (None if there is no such event), locked."""
    event = await repo.lock_event(conn, event_id)
    if event is None:
        return None
    markets = await repo.markets_of(conn, event_id)
    outcomes: dict[int, dict[str, Any]] = {m.id: {} for m in markets}
    for o in await repo.outcomes_of(conn, [m.id for m in markets]):
        outcomes[o.market_id][str(o.id)] = {
            "odds_milli": o.odds_milli,
            "active": o.active,
            "result": o.result,
            "void_factor": format_factor(o.void_factor),
            "dead_heat_factor": format_factor(o.dead_heat_factor),
        }
    state: dict[str, Any] = {
        "status": event.status,
        "starts_at": event.starts_at,
        "score": None if event.home_score is None else [event.home_score, event.away_score],
        "countries": list(event.countries),
        **{name: getattr(event, name) for name in LIMIT_FIELDS},
        "markets": {
            str(m.id): {
                "type": m.type,
                "line_hundredths": m.line_hundredths,
                "status": m.status,
                "outcomes": outcomes[m.id],
            }
            for m in markets
        },
    }
    result: dict[str, Any] = jsonable(state)  # type: ignore[assignment]
    return result


@dataclass(slots=True)
class Target:
    """What the action is about; a create sets `event_id` once the event exists."""

    event_id: int | None = None


@asynccontextmanager
async def audited(
    conn: AsyncConnection,
    actor: Actor,
    action: str,
    *,
    event_id: int | None = None,
    market_id: int | None = None,
) -> AsyncIterator[Target]:
    """Snapshot, run the body, snapshot again, append the difference. The row names the
    market when the action is about one, else the event. If the body raises, nothing is
    appended (and the transaction rolls back anyway)."""
    target = Target(event_id)
    if market_id is not None:
        owner = await repo.lock_event_of_market(conn, market_id)
        target.event_id = None if owner is None else int(owner.id)
    before = await snapshot(conn, target.event_id) if target.event_id is not None else None
    yield target
    assert target.event_id is not None, "the audited action did not name its event"
    after = await snapshot(conn, target.event_id)
    old, new = diff(before, after)
    changed = new if isinstance(new, dict) else {}
    await audit.append(
        conn,
        actor,
        action=action,
        target_type="event" if market_id is None else "market",
        target_id=target.event_id if market_id is None else market_id,
        before=old,
        after=new if market_id is None else {"event_id": target.event_id, **changed},
    )
