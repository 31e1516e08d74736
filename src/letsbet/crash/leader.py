"""Leader election for one crash game: the platform's advisory lock (platform/leader.py), one
key per game, so replicas share the games and a standby takes over from a dead leader."""

from __future__ import annotations

from letsbet.platform.db import Database
from letsbet.platform.leader import AdvisoryLock, advisory_key


def lock_key(game_id: str) -> int:
    """A stable signed 64-bit advisory-lock key per game."""
    return advisory_key("crash", game_id)


def game_lock(db: Database, game_id: str) -> AdvisoryLock:
    return AdvisoryLock(db, lock_key(game_id))
