"""Catalogue test helpers: callers, an event body with every market type, outbox reads.

Other sportsbook tests may use `create_event` to get a priced event through the trading API.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import sqlalchemy as sa

from letsbet.accounts.domain import Role
from letsbet.platform.bus.tables import outbox
from letsbet.platform.runtime import Runtime

Headers = dict[str, str]


def headers_for(runtime: Runtime, role: Role = Role.PLAYER, country: str = "KE") -> Headers:
    """A valid access token for a made-up user (the catalogue needs no user row)."""
    token = runtime.signer.access_token(
        user_id=uuid.uuid4(), role=role, country=country, now=datetime.now(UTC)
    )
    return {"Authorization": f"Bearer {token}"}


def admin_headers(runtime: Runtime) -> Headers:
    return headers_for(runtime, Role.ADMIN)


def market(type_: str, prices: dict[str, str], line: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": type_,
        "outcomes": [{"key": k, "odds": v} for k, v in prices.items()],
    }
    if line is not None:
        body["line"] = line
    return body


def every_market() -> list[dict[str, Any]]:
    """One market of each type the catalogue knows, line markets included."""
    return [
        market("1x2", {"home": "2.10", "draw": "3.40", "away": "3.25"}),
        market("double_chance", {"1X": "1.30", "12": "1.33", "X2": "1.65"}),
        market("btts", {"yes": "1.80", "no": "1.95"}),
        market("over_under", {"over": "1.90", "under": "1.9"}, line="2.5"),
        market("handicap", {"home": "3.60", "draw": "3.75", "away": "1.85"}, line="-1"),
        market("asian_handicap", {"home": "2.05", "away": "1.80"}, line="-0.75"),
    ]


def event_body(**overrides: Any) -> dict[str, Any]:
    tag = uuid.uuid4().hex[:10]
    body: dict[str, Any] = {
        "sport_id": "football",
        "competition": {"name": f"League {tag}", "region": "Kenya"},
        "home": f"Home {tag}",
        "away": f"Away {tag}",
        "starts_at": (datetime.now(UTC) + timedelta(days=1)).isoformat(),
        "markets": every_market(),
    }
    body.update(overrides)
    return body


async def create_event(
    client: httpx.AsyncClient, runtime: Runtime, **overrides: Any
) -> dict[str, Any]:
    response = await client.post(
        "/api/admin/events", json=event_body(**overrides), headers=admin_headers(runtime)
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def outcome_ids(event: dict[str, Any], market_type: str) -> dict[str, int]:
    """key → outcome id of the event's first market of `market_type`."""
    found = next(m for m in event["markets"] if m["type"] == market_type)
    return {o["key"]: o["id"] for o in found["outcomes"]}


def market_id(event: dict[str, Any], market_type: str) -> int:
    return int(next(m["id"] for m in event["markets"] if m["type"] == market_type))


async def recorded(runtime: Runtime, subject: str, event_id: int) -> list[dict[str, Any]]:
    """The `data` of every outbox event with this subject about this event, oldest first."""
    async with runtime.db.connect() as conn:
        rows = await conn.execute(
            sa.select(outbox.c.payload)
            .where(
                outbox.c.subject == subject,
                outbox.c.payload["data"]["event_id"].as_integer() == event_id,
            )
            .order_by(outbox.c.seq)
        )
        return [dict(row.payload["data"]) for row in rows]
