"""`letsbet ledger check` finds every kind of break, and a process killed mid-transfer leaves
nothing half-written."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from letsbet.ledger import service
from letsbet.ledger.domain import Entry, House, HouseAccount, PlayerCash, TransferSpec
from letsbet.ledger.reconcile import check
from letsbet.platform import migrate
from letsbet.platform.config import Settings
from letsbet.platform.db import Database
from tests.support import create_players, drop_database

HOUSE = House(HouseAccount.ADJUSTMENTS)


@pytest.fixture
async def fresh_db(settings: Settings) -> AsyncIterator[Database]:
    """A database of its own: these tests corrupt the books on purpose."""
    base = (settings.resolved_database_url() or "").rsplit("/", 1)[0]
    url = f"{base}/letsbet_reconcile_{uuid.uuid4().hex[:8]}"
    await asyncio.to_thread(migrate.upgrade, url)
    db = Database(url, pool_size=2)
    yield db
    await db.close()
    await drop_database(url)


async def _books(db: Database) -> list[uuid.UUID]:
    async with db.transaction() as conn:
        players = await create_players(conn, 2)
        for i, player in enumerate(players):
            await service.post_transfer(
                conn,
                TransferSpec(
                    f"fund-{i}",
                    "test.fund",
                    "KE",
                    "KES",
                    (Entry(HOUSE, -100_00), Entry(PlayerCash(player), 100_00)),
                ),
            )
        await service.post_transfer(
            conn,
            TransferSpec(
                "move",
                "test.move",
                "KE",
                "KES",
                (Entry(PlayerCash(players[0]), -30_00), Entry(PlayerCash(players[1]), 30_00)),
            ),
        )
        await service.create_hold(
            conn, service.HoldSpec("hold", "test.hold", "KE", "KES", players[1], 20_00)
        )
    return players


def _cli_check(url: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE", "REDIS", "NATS"))}
    # `ledger check` needs only PostgreSQL; the other URLs just keep embedded servers away.
    env.update(DATABASE_URL=url, REDIS_URL="redis://127.0.0.1:1/0", NATS_URL="nats://127.0.0.1:1")
    return subprocess.run(
        [sys.executable, "-m", "letsbet", "ledger", "check"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_sound_books_pass_and_each_break_is_named(fresh_db: Database) -> None:
    players = await _books(fresh_db)
    report = await check(fresh_db)
    assert report.sound and report.transfers == 3 and report.postings == 6
    ok = await asyncio.to_thread(_cli_check, fresh_db.url)
    assert ok.returncode == 0 and ok.stdout.startswith("ledger sound:")

    async with fresh_db.transaction() as conn:
        # Money written around the ledger: a balance bumped, a posting's chain broken,
        # a hold forgotten. The CHECK constraints would refuse a negative player balance.
        await conn.execute(
            sa.text("UPDATE ledger_accounts SET balance = balance + 1 WHERE owner_id = :p"),
            {"p": players[0]},
        )
        await conn.execute(
            sa.text("UPDATE ledger_holds SET status = 'voided' WHERE idempotency_key = 'hold'")
        )
    report = await check(fresh_db)
    names = {b.check for b in report.breaks}
    assert {"balance_mismatch", "currency_unbalanced", "holds_inconsistent"} <= names
    broken = await asyncio.to_thread(_cli_check, fresh_db.url)
    assert broken.returncode == 1
    assert broken.stdout.startswith("ledger BROKEN:")
    assert "balance_mismatch" in broken.stdout and "holds_inconsistent" in broken.stdout


async def test_killed_process_leaves_nothing_half_written(
    fresh_db: Database, tmp_path: Path
) -> None:
    async with fresh_db.transaction() as conn:
        players = await create_players(conn, 4)
    script = tmp_path / "churn.py"
    script.write_text(
        textwrap.dedent(f"""
        import asyncio, itertools, sys, uuid
        from letsbet.ledger import service
        from letsbet.ledger.domain import Entry, House, HouseAccount, PlayerCash, TransferSpec
        from letsbet.platform.db import Database, run_in_transaction
        PLAYERS = [uuid.UUID(p) for p in {[str(p) for p in players]!r}]
        HOUSE = House(HouseAccount.ADJUSTMENTS)
        async def one(i):
            a, b = PLAYERS[i % 4], PLAYERS[(i + 1) % 4]
            entries = ((Entry(HOUSE, -500), Entry(PlayerCash(a), 500)) if i % 3 == 0
                       else (Entry(PlayerCash(a), -100), Entry(PlayerCash(b), 100)))
            spec = TransferSpec(f"churn-{{uuid.uuid4()}}", "test.churn", "KE", "KES", entries)
            try:
                await run_in_transaction(db, lambda c: service.post_transfer(c, spec))
            except Exception:
                pass
        async def main():
            global db
            db = Database({fresh_db.url!r}, pool_size=8)
            for n in itertools.count():
                await asyncio.gather(*(one(n * 8 + k) for k in range(8)))
                if n == 20:
                    print("busy", flush=True)
        asyncio.run(main())
    """)
    )
    process = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        line = await asyncio.to_thread(process.stdout.readline)
        assert line.strip() == "busy", process.stderr.read() if process.stderr else ""
        process.send_signal(signal.SIGKILL)  # mid-flight: transactions are open right now
        process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
    # PostgreSQL rolls back the killed connections' open transactions.
    report = await check(fresh_db)
    assert report.sound, report.lines()
    assert report.transfers > 100


async def test_reconcile_loop_exports_the_verdict(fresh_db: Database) -> None:
    from letsbet.ledger.worker import reconcile_loop
    from letsbet.platform.observability import LEDGER_CHECK_BREAKS, LEDGER_CHECK_SOUND

    await _books(fresh_db)
    LEDGER_CHECK_SOUND.set(-1)
    stop = asyncio.Event()
    task = asyncio.create_task(reconcile_loop(fresh_db, stop, every=0.05))
    try:
        for _ in range(200):
            if LEDGER_CHECK_SOUND._value.get() != -1:
                break
            await asyncio.sleep(0.01)
    finally:
        stop.set()
        await task
    assert LEDGER_CHECK_SOUND._value.get() == 1
    assert LEDGER_CHECK_BREAKS._value.get() == 0


async def test_only_a_clawback_may_leave_a_player_below_zero(fresh_db: Database) -> None:
    players = await _books(fresh_db)
    async with fresh_db.transaction() as conn:
        await service.post_transfer(
            conn,
            TransferSpec(
                "claw",
                "bet.resettle",
                "KE",
                "KES",
                (Entry(PlayerCash(players[0]), -100_00), Entry(HOUSE, 100_00)),
            ),
        )
    report = await check(fresh_db)
    assert report.sound, report.lines()  # 70.00 - 100.00: a debt, and a legitimate one

    async with fresh_db.transaction() as conn:  # as if an ordinary debit had overdrawn her
        await conn.execute(
            sa.text("UPDATE ledger_transfers SET type = 'test.move' WHERE idempotency_key = 'claw'")
        )
    report = await check(fresh_db)
    assert {(b.check, b.value) for b in report.breaks} == {
        ("player_negative", -30_00),  # the posting that went below zero
    }
