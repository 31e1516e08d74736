"""Every query on crash chains, rounds and bets. Settlement writes are compare-and-set: an
UPDATE that names the status it expects, so a bet or a round changes state exactly once however
many processes try."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from letsbet.crash.tables import crash_bets, crash_chain_checkpoints, crash_chains, crash_rounds

Row = Any


# -- chains ------------------------------------------------------------------------------------
async def insert_chain(conn: AsyncConnection, **values: Any) -> int:
    return int(
        await conn.scalar(sa.insert(crash_chains).values(**values).returning(crash_chains.c.id))
    )


async def insert_checkpoints(
    conn: AsyncConnection, chain_id: int, sealed: Sequence[tuple[int, bytes]]
) -> None:
    # Batches keep each statement's parameter count far below asyncpg's 32,767 limit.
    for start in range(0, len(sealed), 5000):
        await conn.execute(
            sa.insert(crash_chain_checkpoints),
            [
                {"chain_id": chain_id, "link": link, "sealed": value}
                for link, value in sealed[start : start + 5000]
            ],
        )


async def latest_chain(conn: AsyncConnection, game_id: str) -> Row:
    return (
        await conn.execute(
            sa.select(crash_chains)
            .where(crash_chains.c.game_id == game_id)
            .order_by(crash_chains.c.id.desc())
            .limit(1)
        )
    ).first()


async def chain_by_id(conn: AsyncConnection, chain_id: int) -> Row:
    return (
        await conn.execute(sa.select(crash_chains).where(crash_chains.c.id == chain_id))
    ).first()


async def sealed_checkpoint(conn: AsyncConnection, chain_id: int, link: int) -> bytes | None:
    value = await conn.scalar(
        sa.select(crash_chain_checkpoints.c.sealed).where(
            crash_chain_checkpoints.c.chain_id == chain_id,
            crash_chain_checkpoints.c.link == link,
        )
    )
    return bytes(value) if value is not None else None


async def pin_chain(conn: AsyncConnection, chain_id: int, *, salt: str, edge: Decimal) -> Row:
    """Fix the salt and edge on first use (no-op afterwards); the chain as it now stands."""
    await conn.execute(
        sa.update(crash_chains)
        .where(crash_chains.c.id == chain_id, crash_chains.c.salt.is_(None))
        .values(salt=salt, edge=edge)
    )
    return await chain_by_id(conn, chain_id)


# -- rounds ------------------------------------------------------------------------------------
async def lock_game(conn: AsyncConnection, game_id: str) -> None:
    """Serialise opening rounds of one game (for the transaction), even between two engines
    that both believe they lead."""
    key = sa.func.hashtextextended(f"crash-open:{game_id}", 0)
    await conn.execute(sa.select(sa.func.pg_advisory_xact_lock(key)))


async def latest_round(conn: AsyncConnection, game_id: str, *, for_share: bool = False) -> Row:
    query = (
        sa.select(crash_rounds)
        .where(crash_rounds.c.game_id == game_id)
        .order_by(crash_rounds.c.id.desc())
        .limit(1)
    )
    if for_share:
        # Holds off take-off (an UPDATE of this row) until the bet commits or rolls back.
        query = query.with_for_update(read=True)
    return (await conn.execute(query)).first()


async def round_by_id(conn: AsyncConnection, round_id: int) -> Row:
    return (
        await conn.execute(sa.select(crash_rounds).where(crash_rounds.c.id == round_id))
    ).first()


async def last_round_of_chain(conn: AsyncConnection, chain_id: int) -> Row:
    return (
        await conn.execute(
            sa.select(crash_rounds)
            .where(crash_rounds.c.chain_id == chain_id)
            .order_by(crash_rounds.c.game_number.desc())
            .limit(1)
        )
    ).first()


async def insert_round(conn: AsyncConnection, **values: Any) -> int | None:
    """The new round's id, or None when that link already has a round (another leader)."""
    result = await conn.execute(
        insert(crash_rounds)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["chain_id", "game_number"])
        .returning(crash_rounds.c.id)
    )
    found = result.scalar_one_or_none()
    return int(found) if found is not None else None


async def take_off(conn: AsyncConnection, round_id: int, *, started_at: datetime) -> bool:
    result = await conn.execute(
        sa.update(crash_rounds)
        .where(crash_rounds.c.id == round_id, crash_rounds.c.status == "betting")
        .values(status="flying", started_at=started_at)
        .returning(crash_rounds.c.id)
    )
    return result.first() is not None


async def set_cap(conn: AsyncConnection, round_id: int, cap: int | None) -> None:
    """The cap as computed at take-off (the round row is locked by the take-off)."""
    await conn.execute(
        sa.update(crash_rounds).where(crash_rounds.c.id == round_id).values(cap_multiplier=cap)
    )


async def raise_cap(conn: AsyncConnection, round_id: int, cap: int | None) -> None:
    """The cap only ever rises (cash-outs lower the liability still to come)."""
    await conn.execute(
        sa.update(crash_rounds)
        .where(
            crash_rounds.c.id == round_id,
            crash_rounds.c.status == "flying",
            crash_rounds.c.cap_multiplier.is_not(None),
        )
        .values(
            cap_multiplier=(
                None if cap is None else sa.func.greatest(crash_rounds.c.cap_multiplier, cap)
            )
        )
    )


async def crash(conn: AsyncConnection, round_id: int, *, crashed_at: datetime) -> bool:
    result = await conn.execute(
        sa.update(crash_rounds)
        .where(crash_rounds.c.id == round_id, crash_rounds.c.status == "flying")
        .values(status="crashed", crashed_at=crashed_at)
        .returning(crash_rounds.c.id)
    )
    return result.first() is not None


async def history(
    conn: AsyncConnection, game_id: str, *, limit: int, before: int | None
) -> list[Row]:
    bets = (
        sa.select(sa.func.count())
        .where(crash_bets.c.round_id == crash_rounds.c.id)
        .scalar_subquery()
        .label("bets")
    )
    query = sa.select(crash_rounds, bets).where(
        crash_rounds.c.game_id == game_id, crash_rounds.c.status == "crashed"
    )
    if before is not None:
        query = query.where(crash_rounds.c.id < before)
    return list((await conn.execute(query.order_by(crash_rounds.c.id.desc()).limit(limit))).all())


# -- bets --------------------------------------------------------------------------------------
async def lock_player_in_round(conn: AsyncConnection, round_id: int, user_id: uuid.UUID) -> None:
    """Serialise one player's bets in one round (the per-round bet count), nobody else's."""
    key = sa.func.hashtextextended(f"crash:{round_id}:{user_id}", 0)
    await conn.execute(sa.select(sa.func.pg_advisory_xact_lock(key)))


async def count_player_bets(conn: AsyncConnection, round_id: int, user_id: uuid.UUID) -> int:
    return int(
        await conn.scalar(
            sa.select(sa.func.count()).where(
                crash_bets.c.round_id == round_id, crash_bets.c.user_id == user_id
            )
        )
        or 0
    )


async def claim_bet(conn: AsyncConnection, **values: Any) -> bool:
    """Insert the bet; False if its idempotency key exists (a replay)."""
    result = await conn.execute(
        insert(crash_bets)
        .values(**values)
        .on_conflict_do_nothing(index_elements=[crash_bets.c.idempotency_key])
        .returning(crash_bets.c.id)
    )
    return result.first() is not None


async def bet_by_key(conn: AsyncConnection, key: str) -> Row:
    return (
        await conn.execute(sa.select(crash_bets).where(crash_bets.c.idempotency_key == key))
    ).first()


async def bet_by_id(conn: AsyncConnection, bet_id: uuid.UUID) -> Row:
    return (await conn.execute(sa.select(crash_bets).where(crash_bets.c.id == bet_id))).first()


async def bet_with_round(conn: AsyncConnection, bet_id: uuid.UUID) -> Row:
    query = (
        sa.select(
            crash_bets,
            crash_rounds.c.game_id,
            crash_rounds.c.status.label("round_status"),
            crash_rounds.c.started_at,
            crash_rounds.c.crash_point,
            crash_rounds.c.cap_multiplier,
        )
        .join(crash_rounds, crash_rounds.c.id == crash_bets.c.round_id)
        .where(crash_bets.c.id == bet_id)
    )
    return (await conn.execute(query)).first()


async def update_bet(conn: AsyncConnection, bet_id: uuid.UUID, **values: Any) -> None:
    await conn.execute(sa.update(crash_bets).where(crash_bets.c.id == bet_id).values(**values))


async def cash_out(
    conn: AsyncConnection,
    bet_id: uuid.UUID,
    *,
    round_id: int,
    multiplier: int,
    kind: str,
    payout: int,
    at: datetime,
) -> Row:
    """active -> cashed_out, once: the bet row, or None if it was settled already (or is not
    in this round). The row stays locked until the caller's transaction ends."""
    result = await conn.execute(
        sa.update(crash_bets)
        .where(
            crash_bets.c.id == bet_id,
            crash_bets.c.round_id == round_id,
            crash_bets.c.status == "active",
        )
        .values(
            status="cashed_out",
            cashout_multiplier=multiplier,
            cashout_kind=kind,
            payout=payout,
            settled_at=at,
        )
        .returning(crash_bets)
    )
    return result.first()


async def lose_riding(conn: AsyncConnection, round_id: int, *, at: datetime) -> list[Row]:
    """Every bet still riding at the crash: active -> lost, once."""
    result = await conn.execute(
        sa.update(crash_bets)
        .where(crash_bets.c.round_id == round_id, crash_bets.c.status == "active")
        .values(status="lost", payout=0, winnings_tax=0, net_payout=0, settled_at=at)
        .returning(crash_bets)
    )
    return list(result.all())


async def set_settlement_transfer(
    conn: AsyncConnection, bet_ids: Sequence[uuid.UUID], transfer_id: uuid.UUID
) -> None:
    await conn.execute(
        sa.update(crash_bets)
        .where(crash_bets.c.id.in_(list(bet_ids)))
        .values(settlement_transfer_id=transfer_id)
    )


async def riding(conn: AsyncConnection, round_id: int) -> list[Row]:
    result = await conn.execute(
        sa.select(crash_bets.c.id, crash_bets.c.auto_cashout)
        .where(crash_bets.c.round_id == round_id, crash_bets.c.status == "active")
        .order_by(crash_bets.c.id)
    )
    return list(result.all())


async def exposures(conn: AsyncConnection, round_id: int) -> list[Row]:
    result = await conn.execute(
        sa.select(
            crash_bets.c.currency,
            crash_bets.c.amount,
            crash_bets.c.auto_cashout,
            crash_bets.c.status,
            crash_bets.c.payout,
        ).where(crash_bets.c.round_id == round_id)
    )
    return list(result.all())


async def round_bets(conn: AsyncConnection, round_id: int) -> list[Row]:
    result = await conn.execute(
        sa.select(crash_bets)
        .where(crash_bets.c.round_id == round_id)
        .order_by(crash_bets.c.placed_at, crash_bets.c.id)
    )
    return list(result.all())


async def returns_by_currency(conn: AsyncConnection, game_id: str, *, rounds: int) -> list[Row]:
    """Stakes and payouts of settled bets over the game's last `rounds` rounds."""
    recent = (
        sa.select(crash_rounds.c.id)
        .where(crash_rounds.c.game_id == game_id)
        .order_by(crash_rounds.c.id.desc())
        .limit(rounds)
        .scalar_subquery()
    )
    result = await conn.execute(
        sa.select(
            crash_bets.c.currency,
            sa.func.sum(crash_bets.c.amount).label("stakes"),
            sa.func.sum(crash_bets.c.payout).label("payouts"),
        )
        .where(crash_bets.c.round_id.in_(recent), crash_bets.c.status != "active")
        .group_by(crash_bets.c.currency)
    )
    return list(result.all())
