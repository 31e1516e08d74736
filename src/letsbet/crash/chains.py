"""Hash chains at rest: the commitment, sealed checkpoints, and rebuilding any link from them.

Storage: a chain of N links keeps N / K sealed checkpoints (K = 1,000 by default: 10,000 rows
for the production 10,000,000, not 10,000,000 rows), and any game's hash is rebuilt from the
checkpoint above it in fewer than K hashes (well under a millisecond). Games consume links in
ascending order, so the reader keeps the segment it last rebuilt and the next K - 1 rounds cost
nothing. Checkpoints are sealed with CRASH_CHAIN_KEY (see `fairness`), so read access to the
database alone does not reveal games still to come.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

from letsbet.crash import fairness
from letsbet.crash import repository as repo

Row = repo.Row


class ChainKeyMismatch(RuntimeError):
    """CRASH_CHAIN_KEY is not the key this chain was sealed with."""


class ChainExhausted(RuntimeError):
    """Every link of the game's newest chain is played: create a new chain."""


class ChainBroken(RuntimeError):
    """A rebuilt link does not hash to the link before it (tampering or a bug): stop."""


@dataclass(frozen=True, slots=True)
class StoredChain:
    id: int
    game_id: str
    terminating_hash: str
    length: int


async def store_chain(
    conn: AsyncConnection, *, game_id: str, chain: fairness.Chain, key: bytes
) -> StoredChain:
    """Persist a generated chain: its commitment and its sealed checkpoints (not its links)."""
    terminating = chain.terminating_hash
    chain_id = await repo.insert_chain(
        conn,
        game_id=game_id,
        length=chain.length,
        checkpoint_every=chain.every,
        terminating_hash=terminating,
        key_check=fairness.key_check(key, terminating),
    )
    await repo.insert_checkpoints(
        conn,
        chain_id,
        [
            (link, fairness.seal(key, terminating, link, value))
            for link, value in sorted(chain.checkpoints.items())
        ],
    )
    return StoredChain(chain_id, game_id, terminating, chain.length)


class ChainReader:
    """Game hashes from sealed checkpoints, one cached segment per chain."""

    def __init__(self, key: bytes) -> None:
        self.key = key
        # chain id -> (lowest link, hashes from the checkpoint down to it)
        self._segments: dict[int, tuple[int, int, list[str]]] = {}

    async def link(self, conn: AsyncConnection, chain: Row, n: int) -> str:
        """h_n of the chain (game n's hash)."""
        if n > chain.length:
            raise ChainExhausted(f"chain {chain.id} of game {chain.game_id} has {chain.length}")
        if fairness.key_check(self.key, chain.terminating_hash) != chain.key_check:
            raise ChainKeyMismatch(f"chain {chain.id} was sealed with another CRASH_CHAIN_KEY")
        top = fairness.checkpoint_for(n, length=chain.length, every=chain.checkpoint_every)
        cached = self._segments.get(chain.id)
        if cached is None or cached[0] != top:
            sealed = await repo.sealed_checkpoint(conn, chain.id, top)
            if sealed is None:
                raise ChainBroken(f"chain {chain.id} lacks checkpoint {top}")
            value = fairness.unseal(self.key, chain.terminating_hash, top, sealed)
            bottom = (top - 1) // chain.checkpoint_every * chain.checkpoint_every + 1
            cached = (top, bottom, fairness.links_down(value, top, bottom))
            self._segments[chain.id] = cached
        return cached[2][top - n]
