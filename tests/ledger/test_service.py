"""The ledger API on real PostgreSQL: transfers, idempotency, holds, concurrency."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from letsbet.ledger import service
from letsbet.ledger.domain import (
    Entry,
    HoldNotPending,
    HoldStatus,
    House,
    HouseAccount,
    IdempotencyConflict,
    InsufficientFunds,
    PlayerCash,
    TransferSpec,
)
from letsbet.ledger.reconcile import check
from letsbet.ledger.tables import ledger_postings, ledger_transfers
from letsbet.platform.bus.tables import outbox
from letsbet.platform.db import run_in_transaction
from letsbet.platform.runtime import Runtime
from tests.support import create_players

ADJ = House(HouseAccount.ADJUSTMENTS)


def key() -> str:
    return f"test-{uuid.uuid4().hex}"


def spec(
    *entries: Entry, idempotency_key: str | None = None, type: str = "test.move", **kw: object
) -> TransferSpec:
    return TransferSpec(
        idempotency_key=idempotency_key or key(),
        type=type,
        country="KE",
        currency="KES",
        entries=entries,
        **kw,
    )  # type: ignore[arg-type]


async def fund(runtime: Runtime, user: uuid.UUID, amount: int) -> None:
    async with runtime.db.transaction() as conn:
        await service.post_transfer(
            conn, spec(Entry(ADJ, -amount), Entry(PlayerCash(user), amount), type="test.fund")
        )


async def players(runtime: Runtime, n: int = 1) -> list[uuid.UUID]:
    async with runtime.db.transaction() as conn:
        return await create_players(conn, n)


async def balance(runtime: Runtime, user: uuid.UUID) -> service.Wallet:
    async with runtime.db.connect() as conn:
        return await service.wallet(conn, user, "KES")


async def test_transfer_moves_money_with_running_balances(runtime: Runtime) -> None:
    (alice,) = await players(runtime)
    await fund(runtime, alice, 1_000_00)
    async with runtime.db.transaction() as conn:
        transfer = await service.post_transfer(
            conn,
            spec(
                Entry(PlayerCash(alice), -250_00),
                Entry(House(HouseAccount.STAKES_IN_PLAY), 250_00),
                type="bet.stake",
                reference="bet-1",
                metadata={"bet_id": "bet-1"},
            ),
        )
    entry = transfer.entry_for(alice)
    assert (entry.amount, entry.balance_before, entry.balance_after) == (-250_00, 1_000_00, 750_00)
    assert (await balance(runtime, alice)).balance == 750_00
    async with runtime.db.connect() as conn:
        event = (
            await conn.execute(
                sa.select(outbox.c.subject, outbox.c.payload).where(
                    outbox.c.payload["data"]["transfer_id"].astext == str(transfer.id)
                )
            )
        ).one()
    assert event.subject == "ledger.transfer.posted"
    assert {e["amount"] for e in event.payload["data"]["entries"]} == {-250_00, 250_00}


async def test_overdraft_is_refused_and_leaves_nothing(runtime: Runtime) -> None:
    (bob,) = await players(runtime)
    await fund(runtime, bob, 100_00)
    refused = spec(Entry(PlayerCash(bob), -100_01), Entry(ADJ, 100_01))
    with pytest.raises(InsufficientFunds) as caught:
        async with runtime.db.transaction() as conn:
            await service.post_transfer(conn, refused)
    assert caught.value.status_code == 409 and caught.value.code == "insufficient_funds"
    assert (await balance(runtime, bob)).balance == 100_00
    async with runtime.db.connect() as conn:
        stored = await conn.scalar(
            sa.select(sa.func.count())
            .select_from(ledger_transfers)
            .where(ledger_transfers.c.idempotency_key == refused.idempotency_key)
        )
    assert stored == 0  # the key is free: a retry after a deposit may succeed


async def test_replay_returns_the_original_and_conflict_is_refused(runtime: Runtime) -> None:
    (carol,) = await players(runtime)
    first = spec(Entry(ADJ, -50_00), Entry(PlayerCash(carol), 50_00), type="test.fund")
    async with runtime.db.transaction() as conn:
        original = await service.post_transfer(conn, first)
    async with runtime.db.transaction() as conn:
        again = await service.post_transfer(conn, first)
    assert again.replayed and again.id == original.id
    assert again.entry_for(carol).balance_after == 50_00
    assert (await balance(runtime, carol)).balance == 50_00  # credited once
    different = spec(
        Entry(ADJ, -60_00),
        Entry(PlayerCash(carol), 60_00),
        type="test.fund",
        idempotency_key=first.idempotency_key,
    )
    with pytest.raises(IdempotencyConflict):
        async with runtime.db.transaction() as conn:
            await service.post_transfer(conn, different)


async def test_concurrent_replays_credit_once(runtime: Runtime) -> None:
    (dan,) = await players(runtime)
    same = spec(Entry(ADJ, -10_00), Entry(PlayerCash(dan), 10_00), type="test.fund")

    async def post() -> bool:
        transfer = await run_in_transaction(runtime.db, lambda c: service.post_transfer(c, same))
        return transfer.replayed

    results = await asyncio.gather(*(post() for _ in range(20)))
    assert results.count(False) == 1
    assert (await balance(runtime, dan)).balance == 10_00


async def test_transfers_in_one_transaction_commit_or_fail_together(runtime: Runtime) -> None:
    (erin,) = await players(runtime)
    await fund(runtime, erin, 100_00)
    with pytest.raises(InsufficientFunds):
        async with runtime.db.transaction() as conn:
            await service.post_transfer(
                conn, spec(Entry(PlayerCash(erin), -60_00), Entry(ADJ, 60_00))
            )
            await service.post_transfer(
                conn, spec(Entry(PlayerCash(erin), -60_00), Entry(ADJ, 60_00))
            )
    assert (await balance(runtime, erin)).balance == 100_00


async def test_two_hundred_concurrent_debits_never_overdraw(runtime: Runtime) -> None:
    (frank,) = await players(runtime)
    await fund(runtime, frank, 1_000_00)

    async def debit(i: int) -> bool:
        try:
            await run_in_transaction(
                runtime.db,
                lambda c: service.post_transfer(
                    c,
                    spec(
                        Entry(PlayerCash(frank), -7_00),
                        Entry(House(HouseAccount.STAKES_IN_PLAY), 7_00),
                        type="bet.stake",
                    ),
                ),
            )
        except InsufficientFunds:
            return False
        return True

    outcomes = await asyncio.gather(*(debit(i) for i in range(200)))
    assert outcomes.count(True) == 1_000_00 // 7_00  # 142 fit, 58 refused
    assert (await balance(runtime, frank)).balance == 1_000_00 - 142 * 7_00  # exact: 6.00 left
    async with runtime.db.connect() as conn:
        chain = (
            await conn.execute(
                sa.select(ledger_postings.c.balance_before, ledger_postings.c.balance_after)
                .join(ledger_transfers, ledger_transfers.c.id == ledger_postings.c.transfer_id)
                .where(
                    ledger_transfers.c.type == "bet.stake",
                    ledger_postings.c.amount == -7_00,
                    ledger_postings.c.balance_before <= 1_000_00,
                )
                .order_by(ledger_postings.c.id)
            )
        ).all()
    mine = [row for row in chain if row.balance_before - row.balance_after == 7_00]
    assert len(mine) >= 142  # each debit saw the previous one's balance: no lost update


async def test_hold_reserves_posts_partially_and_releases_the_rest(runtime: Runtime) -> None:
    (gina,) = await players(runtime)
    await fund(runtime, gina, 500_00)
    hold_spec = service.HoldSpec(
        idempotency_key=key(),
        type="withdrawal",
        country="KE",
        currency="KES",
        user_id=gina,
        amount=300_00,
    )
    async with runtime.db.transaction() as conn:
        hold = await service.create_hold(conn, hold_spec)
    wallet = await balance(runtime, gina)
    assert (wallet.balance, wallet.held, wallet.available) == (500_00, 300_00, 200_00)

    with pytest.raises(InsufficientFunds):  # only 200 available now
        async with runtime.db.transaction() as conn:
            await service.post_transfer(
                conn, spec(Entry(PlayerCash(gina), -200_01), Entry(ADJ, 200_01))
            )
    async with runtime.db.transaction() as conn:
        replay = await service.create_hold(conn, hold_spec)
    assert replay.replayed and replay.id == hold.id
    assert (await balance(runtime, gina)).held == 300_00  # reserved once

    post_key = key()
    async with runtime.db.transaction() as conn:
        posted = await service.post_hold(
            conn,
            hold_id=hold.id,
            idempotency_key=post_key,
            type="withdrawal.paid",
            amount=250_00,
            credits=[Entry(House(HouseAccount.MPESA_CLEARING), 250_00)],
        )
    assert posted.entry_for(gina).amount == -250_00
    wallet = await balance(runtime, gina)
    assert (wallet.balance, wallet.held, wallet.available) == (250_00, 0, 250_00)
    async with runtime.db.transaction() as conn:
        again = await service.post_hold(
            conn,
            hold_id=hold.id,
            idempotency_key=post_key,
            type="withdrawal.paid",
            amount=250_00,
            credits=[Entry(House(HouseAccount.MPESA_CLEARING), 250_00)],
        )
        assert again.replayed and again.id == posted.id
        stored = await service.get_hold(conn, hold.id)
    assert (stored.status, stored.posted_amount) == (HoldStatus.POSTED, 250_00)
    with pytest.raises(HoldNotPending):
        async with runtime.db.transaction() as conn:
            await service.void_hold(conn, hold.id)


async def test_void_releases_and_is_idempotent(runtime: Runtime) -> None:
    (hal,) = await players(runtime)
    await fund(runtime, hal, 100_00)
    async with runtime.db.transaction() as conn:
        hold = await service.create_hold(
            conn,
            service.HoldSpec(
                idempotency_key=key(),
                type="bet.live",
                country="KE",
                currency="KES",
                user_id=hal,
                amount=100_00,
            ),
        )
    with pytest.raises(InsufficientFunds):
        async with runtime.db.transaction() as conn:
            await service.create_hold(
                conn,
                service.HoldSpec(
                    idempotency_key=key(),
                    type="bet.live",
                    country="KE",
                    currency="KES",
                    user_id=hal,
                    amount=1,
                ),
            )
    async with runtime.db.transaction() as conn:
        voided = await service.void_hold(conn, hold.id)
    async with runtime.db.transaction() as conn:
        twice = await service.void_hold(conn, hold.id)
    assert voided.status == twice.status == HoldStatus.VOIDED and twice.replayed
    wallet = await balance(runtime, hal)
    assert (wallet.balance, wallet.held) == (100_00, 0)
    with pytest.raises(HoldNotPending):
        async with runtime.db.transaction() as conn:
            await service.post_hold(
                conn,
                hold_id=hold.id,
                idempotency_key=key(),
                type="x.y",
                credits=[Entry(ADJ, 100_00)],
            )


async def test_expired_holds_are_released_by_the_worker(runtime: Runtime) -> None:
    from letsbet.ledger.worker import expire_holds

    (ivy,) = await players(runtime)
    await fund(runtime, ivy, 100_00)
    past = datetime.now(UTC) - timedelta(seconds=1)
    async with runtime.db.transaction() as conn:
        hold = await service.create_hold(
            conn,
            service.HoldSpec(
                idempotency_key=key(),
                type="withdrawal",
                country="KE",
                currency="KES",
                user_id=ivy,
                amount=40_00,
                expires_at=past,
            ),
        )
    assert await expire_holds(runtime.db, now=datetime.now(UTC)) >= 1
    async with runtime.db.connect() as conn:
        assert (await service.get_hold(conn, hold.id)).status == HoldStatus.EXPIRED
    assert (await balance(runtime, ivy)).held == 0


async def test_house_accounts_are_sharded_but_sum_correctly(runtime: Runtime) -> None:
    users = await players(runtime, 16)
    for user in users:
        await fund(runtime, user, 10_00)
    async with runtime.db.connect() as conn:
        shards = (
            await conn.execute(
                sa.text(
                    "SELECT count(DISTINCT p.account_id) FROM ledger_postings p "
                    "JOIN ledger_accounts a ON a.id = p.account_id "
                    "WHERE a.kind = 'house' AND a.code = 'adjustments'"
                )
            )
        ).scalar_one()
    assert shards > 1
    report = await check(runtime.db)
    assert report.sound, report.lines()


async def test_a_clawback_may_overdraw_and_later_credits_repay_it(runtime: Runtime) -> None:
    """A result correction takes back winnings the player already withdrew: the balance goes
    below zero, nothing else may lower it further, and deposits repay the debt first."""
    (hana,) = await players(runtime)
    await fund(runtime, hana, 100_00)
    async with runtime.db.transaction() as conn:
        hold = await service.create_hold(
            conn, service.HoldSpec(key(), "withdrawal", "KE", "KES", hana, 60_00)
        )
    revenue = House(HouseAccount.SPORTSBOOK_REVENUE)
    clawback = spec(Entry(PlayerCash(hana), -150_00), Entry(revenue, 150_00), type="bet.resettle")
    with pytest.raises(InsufficientFunds):  # the same debit as anything else is refused
        async with runtime.db.transaction() as conn:
            await service.post_transfer(conn, replace(clawback, type="test.move"))
    async with runtime.db.transaction() as conn:
        await service.post_transfer(conn, clawback)
    wallet = await balance(runtime, hana)
    assert (wallet.balance, wallet.held, wallet.available) == (-50_00, 60_00, -110_00)

    for refused in (
        lambda c: service.post_transfer(c, spec(Entry(PlayerCash(hana), -1), Entry(ADJ, 1))),
        lambda c: service.create_hold(
            c, service.HoldSpec(key(), "withdrawal", "KE", "KES", hana, 1)
        ),
    ):
        with pytest.raises(InsufficientFunds):
            async with runtime.db.transaction() as conn:
                await refused(conn)
    # The withdrawal already on its way still completes (the money has left).
    async with runtime.db.transaction() as conn:
        await service.post_hold(
            conn,
            hold_id=hold.id,
            idempotency_key=key(),
            type="withdrawal.paid",
            credits=[Entry(House(HouseAccount.MPESA_CLEARING), 60_00)],
        )
    await fund(runtime, hana, 200_00)
    assert (await balance(runtime, hana)).available == 90_00
    async with runtime.db.transaction() as conn:  # a replay answers, moves nothing
        assert (await service.post_transfer(conn, clawback)).replayed
    assert (await balance(runtime, hana)).balance == 90_00
    assert (await check(runtime.db)).sound
