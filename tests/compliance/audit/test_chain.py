"""The chain in PostgreSQL: concurrent appends never fork it, the database refuses changes,
and tampering (with the triggers bypassed) is named by `letsbet audit verify`."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from letsbet.compliance.audit import service
from letsbet.compliance.audit.domain import Actor
from letsbet.platform import migrate
from letsbet.platform.config import Settings
from letsbet.platform.db import Database
from tests.support import drop_database

ADMIN = Actor(user_id=uuid.uuid4(), role="admin", country="KE", request_id="r", client_ip="1.2.3.4")


@pytest.fixture
async def fresh_db(settings: Settings) -> AsyncIterator[Database]:
    """A database of its own: these tests break the chain on purpose."""
    base = (settings.resolved_database_url() or "").rsplit("/", 1)[0]
    url = f"{base}/letsbet_audit_{uuid.uuid4().hex[:8]}"
    await asyncio.to_thread(migrate.upgrade, url)
    db = Database(url, pool_size=10)
    yield db
    await db.close()
    await drop_database(url)


async def _append(db: Database, n: int) -> int:
    async with db.transaction() as conn:
        # Some work first, as a real action would, so the transactions overlap.
        await conn.execute(sa.text("SELECT pg_sleep(0.001)"))
        return await service.append(
            conn,
            ADMIN,
            action="test.action",
            target_type="thing",
            target_id=n,
            before={"n": n},
            after={"n": n + 1, "password": "never stored"},
        )


def _cli_verify(url: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE", "REDIS", "NATS"))}
    env.update(DATABASE_URL=url, REDIS_URL="redis://127.0.0.1:1/0", NATS_URL="nats://127.0.0.1:1")
    return subprocess.run(
        [sys.executable, "-m", "letsbet", "audit", "verify"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def _tamper(db: Database, sql: str) -> None:
    """Write around the triggers as a superuser could (replica mode skips ordinary triggers)."""
    async with db.transaction() as conn:
        await conn.execute(sa.text("SET LOCAL session_replication_role = replica"))
        await conn.execute(sa.text(sql))


async def test_concurrent_appends_make_one_unbroken_chain(fresh_db: Database) -> None:
    seqs = await asyncio.gather(*(_append(fresh_db, n) for n in range(60)))
    assert sorted(seqs) == list(range(1, 61))
    report = await service.verify(fresh_db, batch=7)  # several batches
    assert report.sound and report.rows == 60 and report.head_seq == 60
    async with fresh_db.connect() as conn:
        stored = await conn.scalar(sa.text("SELECT after FROM audit_log WHERE seq = 1"))
        times = (
            await conn.execute(sa.text("SELECT occurred_at FROM audit_log ORDER BY seq"))
        ).all()
    assert stored["password"] == "***"
    assert [t[0] for t in times] == sorted(t[0] for t in times)
    ok = await asyncio.to_thread(_cli_verify, fresh_db.url)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip() == "audit chain sound: 60 rows, head at seq 60"


async def test_an_empty_chain_is_sound(fresh_db: Database) -> None:
    report = await service.verify(fresh_db)
    assert report.sound and report.rows == 0 and report.head_seq == 0


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE audit_log SET after = '{}' WHERE seq = 1",
        "DELETE FROM audit_log WHERE seq = 2",
        "TRUNCATE audit_log",
        "UPDATE audit_chain_head SET seq = 0",
        "DELETE FROM audit_chain_head",
        "TRUNCATE audit_chain_head",
    ],
)
async def test_the_database_refuses_changes(fresh_db: Database, sql: str) -> None:
    for n in range(2):
        await _append(fresh_db, n)
    with pytest.raises(DBAPIError, match="refused"):
        async with fresh_db.transaction() as conn:
            await conn.execute(sa.text(sql))
    assert (await service.verify(fresh_db)).sound


async def test_a_tampered_row_is_named_by_verify(fresh_db: Database) -> None:
    for n in range(5):
        await _append(fresh_db, n)
    await _tamper(fresh_db, """UPDATE audit_log SET after = '{"n": 999}' WHERE seq = 3""")
    report = await service.verify(fresh_db)
    assert report.broken is not None
    assert (report.broken.seq, report.broken.reason) == (3, "hash_mismatch")
    broken = await asyncio.to_thread(_cli_verify, fresh_db.url)
    assert broken.returncode == 1
    assert broken.stdout.startswith("audit chain broken at seq 3: hash_mismatch")


async def test_a_deleted_row_and_a_cut_tail_are_named(fresh_db: Database) -> None:
    for n in range(5):
        await _append(fresh_db, n)
    await _tamper(fresh_db, "DELETE FROM audit_log WHERE seq = 5")
    report = await service.verify(fresh_db)
    assert report.broken is not None
    assert (report.broken.seq, report.broken.reason) == (5, "head_mismatch")
    await _tamper(fresh_db, "DELETE FROM audit_log WHERE seq = 2")
    report = await service.verify(fresh_db)
    assert report.broken is not None
    assert (report.broken.seq, report.broken.reason) == (2, "seq_gap")
