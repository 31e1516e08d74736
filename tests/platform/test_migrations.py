"""Migrations: up → down → up on a fresh database; the schema matches the table definitions."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import sqlalchemy as sa

from letsbet.platform import migrate
from letsbet.platform.config import Settings
from letsbet.platform.db import Database
from letsbet.schema import metadata
from tests.support import drop_database


async def _tables(url: str) -> set[str]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    finally:
        await conn.close()
    return {r["tablename"] for r in rows}


async def test_up_down_up(settings: Settings) -> None:
    base = (settings.resolved_database_url() or "").rsplit("/", 1)[0]
    url = f"{base}/letsbet_migrations_{uuid.uuid4().hex[:8]}"
    await asyncio.to_thread(migrate.upgrade, url)
    expected = {t.name for t in metadata.sorted_tables}
    assert expected <= await _tables(url)
    assert "head" in await asyncio.to_thread(migrate.status, url)

    await asyncio.to_thread(migrate.downgrade, url, "base")
    assert await _tables(url) == {"alembic_version"}

    await asyncio.to_thread(migrate.upgrade, url)
    assert expected <= await _tables(url)

    # Every tenant-scoped table carries a NOT NULL, indexed country_code.
    db = Database(url, pool_size=1)
    try:
        async with db.connect() as conn:
            for table in ("users", "refresh_tokens"):
                nullable = await conn.scalar(
                    sa.text(
                        "SELECT is_nullable FROM information_schema.columns "
                        "WHERE table_name = :t AND column_name = 'country_code'"
                    ),
                    {"t": table},
                )
                assert nullable == "NO"
                indexed = await conn.scalar(
                    sa.text(
                        "SELECT count(*) FROM pg_indexes WHERE tablename = :t "
                        "AND indexdef LIKE '%(country_code)%'"
                    ),
                    {"t": table},
                )
                assert indexed == 1
    finally:
        await db.close()
        await drop_database(url)


async def test_no_pending_schema_changes(settings: Settings) -> None:
    """The migrations produce exactly what the table definitions say (no drift)."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    db = Database(settings.resolved_database_url() or "", pool_size=1)
    try:
        async with db.connect() as conn:
            diff = await conn.run_sync(
                lambda sync: compare_metadata(MigrationContext.configure(sync), metadata)
            )
    finally:
        await db.close()
    assert diff == []
