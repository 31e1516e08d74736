"""Record domain events inside the caller's transaction (the transactional outbox).

The state change and its event commit together or not at all; the relay publishes later.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from letsbet.platform.bus.tables import outbox


@dataclass(frozen=True, slots=True)
class Event:
    """A domain event. `subject` is `domain.entity.verb` in the past tense."""

    subject: str
    data: dict[str, Any]
    event_id: uuid.UUID = field(default_factory=uuid.uuid4)
    occurred_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def envelope(self) -> dict[str, Any]:
        return {
            "id": str(self.event_id),
            "subject": self.subject,
            "occurred_at": self.occurred_at.isoformat(),
            "data": self.data,
        }

    @staticmethod
    def from_envelope(raw: bytes) -> Event:
        body = orjson.loads(raw)
        return Event(
            subject=body["subject"],
            data=body["data"],
            event_id=uuid.UUID(body["id"]),
            occurred_at=datetime.fromisoformat(body["occurred_at"]),
        )


def outbox_row(event: Event) -> dict[str, Any]:
    """The outbox row of an event (for callers that fold the insert into a larger statement)."""
    return {
        "event_id": event.event_id,
        "subject": event.subject,
        "payload": orjson.loads(orjson.dumps(event.envelope())),
    }


async def record(conn: AsyncConnection, *events: Event) -> None:
    """Append events to the outbox in the caller's transaction.

    No NOTIFY: PostgreSQL serialises the commits of notifying transactions on one global lock,
    which would cap money throughput; the relay polls its partial index instead.
    """
    if not events:
        return
    await conn.execute(sa.insert(outbox), [outbox_row(e) for e in events])
