"""`letsbet migrate up|down|status`: Alembic, driven from code (no alembic.ini to keep in sync).

Blocking (Alembic runs its own event loop): call from sync code or via asyncio.to_thread.
"""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

from alembic import command
from alembic.config import Config

from letsbet.platform.db import ensure_database

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def _config(url: str, stdout: io.StringIO | None = None) -> Config:
    config = Config(stdout=stdout) if stdout is not None else Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    asyncio.run(ensure_database(url))
    command.upgrade(_config(url), revision)


def downgrade(url: str, revision: str = "-1") -> None:
    command.downgrade(_config(url), revision)


def status(url: str) -> str:
    out = io.StringIO()
    config = _config(url, out)
    asyncio.run(ensure_database(url))
    command.current(config, verbose=False)
    current = out.getvalue().strip() or "(none: empty database)"
    out.truncate(0)
    out.seek(0)
    command.heads(config)
    return f"current: {current}\nhead:    {out.getvalue().strip()}"


def autogenerate(url: str, message: str) -> None:
    """Developer helper: write a new revision from the difference between tables and DB."""
    command.revision(_config(url), message=message, autogenerate=True)
