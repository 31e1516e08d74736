"""Bet test helpers: a funded player with a token, placing bets, results and rollbacks through
the API, feeding the settlement consumer, and what a bet moved in the ledger."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import sqlalchemy as sa

from letsbet.accounts.domain import Role
from letsbet.ledger import service as ledger
from letsbet.ledger.domain import Entry, House, HouseAccount, PlayerCash, TransferSpec
from letsbet.ledger.tables import ledger_accounts, ledger_postings, ledger_transfers
from letsbet.platform.bus.consumer import Consumer
from letsbet.platform.bus.outbox import Event
from letsbet.platform.bus.tables import outbox
from letsbet.platform.runtime import Runtime
from letsbet.sportsbook.bets import consumers
from letsbet.tenants import get_tenant
from tests.sportsbook.catalogue.helpers import admin_headers, market_id, outcome_ids
from tests.support import create_players


async def funded_player(
    runtime: Runtime, amount: int = 10_000_00, country: str = "KE"
) -> tuple[uuid.UUID, dict[str, str]]:
    async with runtime.db.transaction() as conn:
        (user_id,) = await create_players(conn, 1, country)
        await move(conn, user_id, amount, country=country, key=f"fund-{user_id}")
    token = runtime.signer.access_token(
        user_id=user_id, role=Role.PLAYER, country=country, now=datetime.now(UTC)
    )
    return user_id, {"Authorization": f"Bearer {token}"}


async def move(
    conn: Any, user_id: uuid.UUID, amount: int, *, country: str = "KE", key: str | None = None
) -> None:
    """Credit (amount > 0: a deposit) or debit (< 0: a withdrawal) a player, against the
    house's adjustments account."""
    await ledger.post_transfer(
        conn,
        TransferSpec(
            idempotency_key=key or f"test-move-{uuid.uuid4()}",
            type="test.fund" if amount > 0 else "test.withdraw",
            country=country,
            currency=get_tenant(country).currency,
            entries=(
                Entry(House(HouseAccount.ADJUSTMENTS), -amount),
                Entry(PlayerCash(user_id), amount),
            ),
        ),
    )


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


async def balance(runtime: Runtime, user_id: uuid.UUID, currency: str = "KES") -> ledger.Wallet:
    async with runtime.db.connect() as conn:
        return await ledger.wallet(conn, user_id, currency)


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


async def post_result(
    client: httpx.AsyncClient,
    runtime: Runtime,
    event: dict[str, Any],
    market_type: str,
    **results: Any,
) -> None:
    """Result one market through the trading API: key="won" / "lost", or
    key=("won", {"void_factor": "0.5"})."""
    ids = outcome_ids(event, market_type)
    outcomes = []
    for key, value in results.items():
        result, extra = (value, {}) if isinstance(value, str) else value
        outcomes.append({"outcome_id": ids[key], "result": result, **extra})
    response = await client.post(
        f"/api/admin/events/{event['id']}/result",
        json={"markets": [{"market_id": market_id(event, market_type), "outcomes": outcomes}]},
        headers=admin_headers(runtime),
    )
    assert response.status_code == 200, response.text


async def rollback_result(
    client: httpx.AsyncClient, runtime: Runtime, event: dict[str, Any], market_type: str
) -> httpx.Response:
    return await client.post(
        f"/api/admin/events/{event['id']}/markets/{market_id(event, market_type)}/rollback-result",
        headers=admin_headers(runtime),
    )


async def bet_transfers(runtime: Runtime, bet_id: Any) -> list[tuple[str, str]]:
    """(type, idempotency key) of every ledger transfer about the bet, in order."""
    async with runtime.db.connect() as conn:
        rows = await conn.execute(
            sa.select(ledger_transfers.c.type, ledger_transfers.c.idempotency_key)
            .where(ledger_transfers.c.reference == str(bet_id))
            .order_by(ledger_transfers.c.created_at, ledger_transfers.c.idempotency_key)
        )
        return [(row.type, row.idempotency_key) for row in rows]


async def bet_money(runtime: Runtime, bet_id: Any) -> dict[str, int]:
    """What all the bet's transfers moved, net, per account ("player" or the house code)."""
    async with runtime.db.connect() as conn:
        rows = await conn.execute(
            sa.select(
                sa.func.coalesce(ledger_accounts.c.code, "player").label("account"),
                sa.func.sum(ledger_postings.c.amount).label("amount"),
            )
            .join(ledger_accounts, ledger_accounts.c.id == ledger_postings.c.account_id)
            .join(ledger_transfers, ledger_transfers.c.id == ledger_postings.c.transfer_id)
            .where(ledger_transfers.c.reference == str(bet_id))
            .group_by("account")
        )
        return {row.account: int(row.amount) for row in rows if row.amount}


def net_by_account(*specs: TransferSpec) -> dict[str, int]:
    """`bet_money` of transfers yet to be posted: what they would move, net, per account."""
    out: dict[str, int] = {}
    for spec in specs:
        for entry in spec.entries:
            account = entry.account
            key = "player" if isinstance(account, PlayerCash) else account.code.value
            out[key] = out.get(key, 0) + entry.amount
    return {k: v for k, v in out.items() if v}


async def bet_events(runtime: Runtime, subject: str, bet_id: Any) -> list[dict[str, Any]]:
    """The `data` of every outbox event with this subject about the bet, oldest first."""
    async with runtime.db.connect() as conn:
        rows = await conn.execute(
            sa.select(outbox.c.payload)
            .where(
                outbox.c.subject == subject,
                outbox.c.payload["data"]["bet_id"].as_string() == str(bet_id),
            )
            .order_by(outbox.c.seq)
        )
        return [dict(row.payload["data"]) for row in rows]
