"""Money for crash bets, through the ledger: the stake at placement, a cash-out's payout, the
stakes of the bets that rode into the crash. Shared by the api (manual cash-outs) and the engine
(auto-cash-outs, the cap, the crash), so a bet settles the same way whoever settles it.

Each bet settles once: the caller has already moved it out of `active` with a compare-and-set
(repository.cash_out / lose_riding) in the same transaction, and every transfer has a key
derived from the bet or the round, so a replay posts nothing twice.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from letsbet.compliance.tax import TaxLine, payout_breakdown, regime_for
from letsbet.crash import repository as repo
from letsbet.crash.curve import payout
from letsbet.crash.domain import CashoutKind
from letsbet.ledger import service as ledger
from letsbet.ledger.domain import (
    Entry,
    House,
    HouseAccount,
    PlayerCash,
    TransferSpec,
    tax_entries,
)
from letsbet.platform.bus.outbox import Event, record
from letsbet.platform.observability import CRASH_CASHOUTS, CRASH_PAYOUTS

Row = repo.Row


def stake_transfer(
    bet_id: uuid.UUID,
    user_id: uuid.UUID,
    *,
    country: str,
    currency: str,
    amount: int,
    tax_lines: Sequence[TaxLine],
) -> TransferSpec:
    """The stake out of the player's cash into stakes in play, less any stake tax."""
    tax = sum(line.amount for line in tax_lines)
    return TransferSpec(
        idempotency_key=f"crash:{bet_id}:stake",
        type="crash.stake",
        country=country,
        currency=currency,
        entries=(
            Entry(PlayerCash(user_id), -amount),
            Entry(House(HouseAccount.STAKES_IN_PLAY), amount - tax),
            *tax_entries(tax_lines),
        ),
        reference=str(bet_id),
        metadata={"bet_id": str(bet_id)},
    )


@dataclass(frozen=True, slots=True)
class CashedOut:
    bet_id: uuid.UUID
    round_id: int
    user_id: uuid.UUID
    currency: str
    amount: int
    multiplier: int
    kind: CashoutKind
    payout: int  # stake x multiplier, before tax
    winnings_tax: int
    net_payout: int  # credited to the player


async def cash_out(
    conn: AsyncConnection,
    bet_id: uuid.UUID,
    *,
    round_id: int,
    game_id: str,
    multiplier: int,
    kind: CashoutKind,
    now: datetime,
) -> CashedOut | None:
    """Cash one riding bet out at `multiplier`; None if it was settled already."""
    bet = await repo.bet_by_id(conn, bet_id)
    if bet is None:
        return None
    gross = payout(bet.amount, multiplier)
    row = await repo.cash_out(
        conn, bet_id, round_id=round_id, multiplier=multiplier, kind=kind, payout=gross, at=now
    )
    if row is None:
        return None
    taxes = payout_breakdown(regime_for(row.country_code, now), stake=row.amount, payout=gross)
    net_stake = row.amount - row.stake_tax
    entries: list[Entry] = [
        Entry(House(HouseAccount.STAKES_IN_PLAY), -net_stake),
        Entry(PlayerCash(row.user_id), taxes.net_payout),
        *tax_entries(taxes.lines),
    ]
    if net_stake != gross:
        entries.append(Entry(House(HouseAccount.CRASH_REVENUE), net_stake - gross))
    transfer = await ledger.post_transfer(
        conn,
        TransferSpec(
            idempotency_key=f"crash:{bet_id}:settle",
            type="crash.cashout",
            country=row.country_code,
            currency=row.currency,
            entries=tuple(entries),
            reference=str(bet_id),
            metadata={"bet_id": str(bet_id), "round_id": round_id, "multiplier": multiplier},
        ),
    )
    await repo.update_bet(
        conn,
        bet_id,
        winnings_tax=taxes.tax,
        net_payout=taxes.net_payout,
        settlement_transfer_id=transfer.id,
    )
    await record(
        conn,
        Event(
            "crash.bet.cashed_out",
            {
                "bet_id": str(bet_id),
                "round_id": round_id,
                "game_id": game_id,
                "user_id": str(row.user_id),
                "country": row.country_code,
                "currency": row.currency,
                "amount": row.amount,
                "multiplier": multiplier,
                "kind": kind.value,
                "payout": gross,
                "winnings_tax": taxes.tax,
                "net_payout": taxes.net_payout,
            },
        ),
    )
    CRASH_CASHOUTS.labels(game_id, kind.value).inc()
    CRASH_PAYOUTS.labels(game_id, row.currency).inc(gross)
    return CashedOut(
        bet_id=bet_id,
        round_id=round_id,
        user_id=row.user_id,
        currency=row.currency,
        amount=row.amount,
        multiplier=multiplier,
        kind=kind,
        payout=gross,
        winnings_tax=taxes.tax,
        net_payout=taxes.net_payout,
    )


async def settle_losses(conn: AsyncConnection, round_id: int, *, now: datetime) -> list[Row]:
    """Every bet still riding at the crash loses: one transfer per country and currency moves
    their net stakes from stakes in play to crash revenue. Returns the bets settled."""
    lost = await repo.lose_riding(conn, round_id, at=now)
    groups: dict[tuple[str, str], list[Any]] = defaultdict(list)
    for bet in lost:
        groups[(bet.country_code, bet.currency)].append(bet)
    for (country, currency), bets in sorted(groups.items()):
        net = sum(bet.amount - bet.stake_tax for bet in bets)
        if net:
            transfer = await ledger.post_transfer(
                conn,
                TransferSpec(
                    idempotency_key=f"crash:round:{round_id}:lost:{country}:{currency}",
                    type="crash.lost",
                    country=country,
                    currency=currency,
                    entries=(
                        Entry(House(HouseAccount.STAKES_IN_PLAY), -net),
                        Entry(House(HouseAccount.CRASH_REVENUE), net),
                    ),
                    reference=f"round:{round_id}",
                    metadata={"round_id": round_id, "bets": len(bets)},
                ),
            )
            await repo.set_settlement_transfer(conn, [bet.id for bet in bets], transfer.id)
    return lost
