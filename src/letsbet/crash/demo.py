"""Development data for `make run`: a hash chain for every configured game that has none."""

from __future__ import annotations

import secrets

from sqlalchemy.ext.asyncio import AsyncConnection

from letsbet.crash import fairness
from letsbet.crash import repository as repo
from letsbet.crash.chains import store_chain
from letsbet.platform.config import Settings

DEMO_CHAIN_LENGTH = 1_000_000  # about a second to generate; weeks of rounds


async def seed_chains(
    conn: AsyncConnection, settings: Settings, *, length: int = DEMO_CHAIN_LENGTH
) -> list[str]:
    """Create the missing chains; returns the ids of the games that got one."""
    key = fairness.derive_key(settings.crash_chain_secret)
    created = []
    for game_id in settings.crash_game_salts():
        if await repo.latest_chain(conn, game_id) is None:
            chain = fairness.generate_chain(secrets.token_bytes(32), length)
            await store_chain(conn, game_id=game_id, chain=chain, key=key)
            created.append(game_id)
    return created
