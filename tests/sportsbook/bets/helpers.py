"""Bet test helpers: a funded player with a token, placing bets, results through the API."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import sqlalchemy as sa

from letsbet.accounts.domain import Role
from letsbet.ledger import service as ledger
from letsbet.ledger.domain import Entry, House, HouseAccount, PlayerCash, TransferSpec
from letsbet.platform.bus.consumer import Consumer
from letsbet.platform.bus.outbox import Event
from letsbet.platform.bus.tables import outbox
from letsbet.platform.runtime import Runtime
from letsbet.sportsbook.bets import consumers
from tests.support import create_players


async def funded_player(
    runtime: Runtime, amount: int = 10_000_00
) -> tuple[uuid.UUID, dict[str, str]]:
    async with runtime.db.transaction() as conn:
        (user_id,) = await create_players(conn, 1)
        await ledger.post_transfer(
            conn,
            TransferSpec(
                idempotency_key=f"fund-{user_id}",
                type="test.fund",
                country="KE",
                currency="KES",
                entries=(
                    Entry(House(HouseAccount.ADJUSTMENTS), -amount),
                    Entry(PlayerCash(user_id), amount),
                ),
            ),
        )
    token = runtime.signer.access_token(
        user_id=user_id, role=Role.PLAYER, country="KE", now=datetime.now(UTC)
    )
    return user_id, {"Authorization": f"Bearer {token}"}


def bet_body(
    selections: list[tuple[int, str]], stake: str = "100.00", **extra: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "bet_type": "single" if len(selections) == 1 else "multi",
        "selections": [{"outcome_id": o, "odds": odds} for o, odds in selections],
        "stake": stake,
        "idempotency_key": uuid.uuid4().hex,
    }
    body.update(extra)
    return body


async def balance(runtime: Runtime, user_id: uuid.UUID) -> ledger.Wallet:
    async with runtime.db.connect() as conn:
        return await ledger.wallet(conn, user_id, "KES")


def settlement_consumer(runtime: Runtime) -> Consumer:
    """The handler the settlement role runs on the NATS stream, with its inbox."""
    return Consumer(
        runtime.db,
        runtime.bus,
        name="test-settlement",
        subject=consumers.RESULTED,
        handler=consumers.on_market_results,
    )


async def result_events(runtime: Runtime, event_id: int) -> list[Event]:
    """This event's market result and rollback events from the outbox, oldest first."""
    async with runtime.db.connect() as conn:
        rows = (
            await conn.execute(
                sa.select(outbox.c.payload)
                .where(
                    outbox.c.subject.in_(consumers.SUBJECTS),
                    outbox.c.payload["data"]["event_id"].as_integer() == event_id,
                )
                .order_by(outbox.c.seq)
            )
        ).all()
    return [
        Event(
            subject=row.payload["subject"],
            data=row.payload["data"],
            event_id=uuid.UUID(row.payload["id"]),
            occurred_at=datetime.fromisoformat(row.payload["occurred_at"]),
        )
        for row in rows
    ]


async def settle_from_outbox(runtime: Runtime, event_id: int) -> int:
    """Feed this event's result (and rollback) outbox events to the settlement consumer; how
    many it had not seen before."""
    consumer = settlement_consumer(runtime)
    handled = 0
    for event in await result_events(runtime, event_id):
        handled += await consumer.handle(event)
    return handled


async def post(
    client: httpx.AsyncClient, body: dict[str, Any], headers: dict[str, str]
) -> httpx.Response:
    return await client.post("/api/bets", json=body, headers=headers)
