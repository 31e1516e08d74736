"""What a socket is told when it joins a game: the current round as anyone may see it (the
crash point and hash only once crashed) and its public bets, so a late joiner can draw.

Sockets joining together share one read: a read starts only after every socket waiting for it
had joined the hub, so a frame published meanwhile is either in the read or queued for the
socket (a frame may repeat what the state already shows, never go missing).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from letsbet.crash import protocol
from letsbet.crash import repository as repo
from letsbet.crash.domain import player_alias
from letsbet.crash.fairness import format_multiplier
from letsbet.crash.games import CrashGames, round_state
from letsbet.platform.money import Money


async def read_state(games: CrashGames, game_id: str) -> str:
    """The round_state frame of the game's newest round, encoded."""
    async with games.runtime.db.connect() as conn:
        row = await repo.latest_round(conn, game_id)
        bets = await repo.round_bets(conn, row.id) if row is not None else []
    state = round_state(row, games.clock()) if row is not None else None
    public = [
        {
            "bet_id": str(bet.id),
            "player": player_alias(bet.user_id),
            "amount": Money(bet.amount, bet.currency).format(),
            "currency": bet.currency,
            "status": bet.status,
            "multiplier": (
                None
                if bet.cashout_multiplier is None
                else format_multiplier(bet.cashout_multiplier)
            ),
            "payout": None if bet.payout is None else Money(bet.payout, bet.currency).format(),
        }
        for bet in bets
    ]
    return protocol.round_state(game_id, state, public, time.time_ns() // 1_000_000)


class SharedReads:
    """Coalesces concurrent reads per game: callers arriving before a read starts share it."""

    def __init__(self, read: Callable[[str], Awaitable[str]]) -> None:
        self._read = read
        self._next: dict[str, asyncio.Future[str]] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def get(self, game_id: str) -> str:
        pending = self._next.get(game_id)
        if pending is None:
            pending = self._next[game_id] = asyncio.get_running_loop().create_future()
            pending.add_done_callback(_retrieve)
            task = asyncio.create_task(self._run(game_id, pending))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return await asyncio.shield(pending)

    async def _run(self, game_id: str, pending: asyncio.Future[str]) -> None:
        async with self._locks.setdefault(game_id, asyncio.Lock()):
            # From here on, callers wait for the next read: this one may predate their join.
            if self._next.get(game_id) is pending:
                del self._next[game_id]
            try:
                pending.set_result(await self._read(game_id))
            except Exception as exc:
                pending.set_exception(exc)


def _retrieve(future: asyncio.Future[str]) -> None:
    if not future.cancelled():
        future.exception()  # seen: no "never retrieved" warning when every caller left
