"""Every query on bets, their legs and lines, and per-event liability.

Placement runs two hand-written statements on the driver connection (`platform.db.driver`):
one read (`read_slip`) and one write (`write_bet`), composed with the ledger's and eligibility's
own SQL fragments; everything else here is SQLAlchemy Core.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from letsbet.compliance import eligibility
from letsbet.ledger import repository as ledger_repo
from letsbet.ledger.service import LockPlan
from letsbet.platform.bus.outbox import Event
from letsbet.platform.db import DriverSQL, prefix_params
from letsbet.sportsbook.bets.tables import (
    bet_legs,
    bet_lines,
    bet_status_history,
    bets,
    event_liability,
)
from letsbet.sportsbook.catalogue.tables import events, markets, outcomes, sports


async def selection_rows(conn: AsyncConnection, outcome_ids: Sequence[int]) -> dict[int, Any]:
    """Outcome, market, event and sport of each selection: the server's own current prices."""
    rows = await conn.execute(
        sa.select(
            outcomes.c.id.label("outcome_id"),
            outcomes.c.odds_milli,
            outcomes.c.active,
            markets.c.id.label("market_id"),
            markets.c.status.label("market_status"),
            events.c.id.label("event_id"),
            events.c.status.label("event_status"),
            events.c.starts_at,
            events.c.countries,
            events.c.max_stake,
            events.c.max_payout,
            events.c.liability_cap,
            sports.c.live_delay_seconds,
        )
        .join(markets, markets.c.id == outcomes.c.market_id)
        .join(events, events.c.id == markets.c.event_id)
        .join(sports, sports.c.id == events.c.sport_id)
        .where(outcomes.c.id.in_(list(outcome_ids)))
    )
    return {row.outcome_id: row for row in rows}


async def bet_by_key(conn: AsyncConnection, key: str) -> Any:
    return (await conn.execute(sa.select(bets).where(bets.c.idempotency_key == key))).first()


async def bet_by_id(conn: AsyncConnection, bet_id: uuid.UUID, *, for_update: bool = False) -> Any:
    query = sa.select(bets).where(bets.c.id == bet_id)
    if for_update:
        query = query.with_for_update()
    return (await conn.execute(query)).first()


async def record_status(
    conn: AsyncConnection,
    bet_id: uuid.UUID,
    status: str,
    reason: str | None = None,
    *,
    at: datetime | None = None,
) -> None:
    values: dict[str, Any] = {"bet_id": bet_id, "status": status, "reason": reason}
    if at is not None:
        values["at"] = at
    await conn.execute(sa.insert(bet_status_history).values(**values))


async def update_bet(conn: AsyncConnection, bet_id: uuid.UUID, **values: Any) -> None:
    await conn.execute(sa.update(bets).where(bets.c.id == bet_id).values(**values))


async def restore_exposure(
    conn: AsyncConnection, *, event_id: int, currency: str, amount: int
) -> None:
    """Add a bet back into an event's exposure, uncapped (a settled bet reopened by a rollback
    was accepted under the cap; placement's capped upsert is part of its one write)."""
    statement = insert(event_liability).values(
        event_id=event_id, currency=currency, exposure=amount
    )
    await conn.execute(
        statement.on_conflict_do_update(
            index_elements=[event_liability.c.event_id, event_liability.c.currency],
            set_={"exposure": event_liability.c.exposure + amount},
        )
    )


async def release_exposure(
    conn: AsyncConnection, *, event_ids: Sequence[int], currency: str, amount: int
) -> None:
    await conn.execute(
        sa.update(event_liability)
        .where(
            event_liability.c.event_id.in_(list(event_ids)),
            event_liability.c.currency == currency,
        )
        .values(exposure=sa.func.greatest(event_liability.c.exposure - amount, 0))
    )


async def legs_of(conn: AsyncConnection, bet_id: uuid.UUID) -> list[Any]:
    result = await conn.execute(
        sa.select(bet_legs).where(bet_legs.c.bet_id == bet_id).order_by(bet_legs.c.leg_no)
    )
    return list(result.all())


async def lines_of(conn: AsyncConnection, bet_id: uuid.UUID) -> list[Any]:
    result = await conn.execute(
        sa.select(bet_lines).where(bet_lines.c.bet_id == bet_id).order_by(bet_lines.c.line_no)
    )
    return list(result.all())


async def history_of(conn: AsyncConnection, bet_id: uuid.UUID) -> list[Any]:
    result = await conn.execute(
        sa.select(bet_status_history)
        .where(bet_status_history.c.bet_id == bet_id)
        .order_by(bet_status_history.c.id)
    )
    return list(result.all())


# -- placement: one read, one write ----------------------------------------------------------
# The read: the idempotency key's bet if any, eligibility's inputs, the ledger accounts of the
# stake locked FOR UPDATE (the ledger's own lock statement, ascending id), and one row per
# selection with its current price, statuses, limits and the event's exposure (read, not
# locked: the write's upsert locks and re-checks it). The aggregate makes exactly one row even
# when no selection exists, so the other answers are never lost. One statement text per number
# of selections and of locked accounts, for the reason `ledger.repository.lock_sql` gives.
@functools.cache
def _read_slip(outcomes: int, lock_sql: str) -> DriverSQL:
    ids = ", ".join(f":outcome_{n}" for n in range(outcomes))
    return DriverSQL(
        "WITH locked AS ("  # noqa: S608 - constant SQL fragments and parameter names, no input
        + lock_sql
        + """), wallet AS (
            SELECT array_agg(id ORDER BY id) AS account_ids,
                   array_agg(kind ORDER BY id) AS account_kinds,
                   array_agg(owner_id ORDER BY id) AS account_owners,
                   array_agg(balance ORDER BY id) AS account_balances,
                   array_agg(held ORDER BY id) AS account_helds,
                   array_agg(version ORDER BY id) AS account_versions
            FROM locked
        )
        SELECT w.*, hit.id AS hit_id, hit.request_hash AS hit_hash, """
        + eligibility.INPUTS_SQL
        + f""",
               o.id AS outcome_id, o.odds_milli, o.active, m.id AS market_id,
               m.status AS market_status, e.id AS event_id, e.status AS event_status,
               e.starts_at, e.countries, e.max_stake, e.max_payout, e.liability_cap,
               s.live_delay_seconds, l.exposure
        FROM wallet AS w
        LEFT JOIN bets AS hit ON hit.idempotency_key = :key
        LEFT JOIN (outcomes AS o
                   JOIN markets AS m ON m.id = o.market_id
                   JOIN events AS e ON e.id = m.event_id
                   JOIN sports AS s ON s.id = e.sport_id
                   LEFT JOIN event_liability AS l
                          ON l.event_id = e.id AND l.currency = :currency)
               ON o.id IN ({ids})
        """
    )


_LEG_COLUMNS = 14  # the selection's columns, last in every row of _READ_SLIP


@dataclass(frozen=True, slots=True)
class SlipLeg:
    """A selection as the server prices it now (the columns of `selection_rows`, and more)."""

    outcome_id: int
    odds_milli: int
    active: bool
    market_id: int
    market_status: str
    event_id: int
    event_status: str
    starts_at: datetime
    countries: list[str]
    max_stake: int | None
    max_payout: int | None
    liability_cap: int | None
    live_delay_seconds: int
    exposure: int | None  # the event's exposure in the bet's currency; None: none yet


@dataclass(frozen=True, slots=True)
class Slip:
    eligibility: eligibility.Inputs
    hit: tuple[uuid.UUID, str] | None  # (bet id, request hash) of the key's bet, if any
    accounts: list[tuple[int, str, uuid.UUID | None, int, int, int]]  # locked, ascending id
    legs: dict[int, SlipLeg]  # by outcome id; missing outcomes are absent


async def read_slip(
    conn: AsyncConnection,
    *,
    key: str,
    user_id: uuid.UUID,
    outcome_ids: Sequence[int],
    currency: str,
    lock: LockPlan,
    now: datetime,
) -> Slip:
    """Everything placement decides on, in one round trip; `lock` is the ledger's lock plan."""
    distinct = list(dict.fromkeys(outcome_ids))
    rows = await _read_slip(len(distinct), lock.sql).fetch(
        conn,
        {
            **lock.values,
            **{f"outcome_{n}": outcome_id for n, outcome_id in enumerate(distinct)},
            "currency": currency,
            "key": key,
            "user_id": user_id,
            "now": now,
        },
    )
    first = rows[0]
    accounts = list(
        zip(
            first["account_ids"] or (),
            first["account_kinds"] or (),
            first["account_owners"] or (),
            first["account_balances"] or (),
            first["account_helds"] or (),
            first["account_versions"] or (),
            strict=True,
        )
    )
    legs = {}
    for row in rows:
        if row["outcome_id"] is not None:
            legs[row["outcome_id"]] = SlipLeg(*tuple(row)[-_LEG_COLUMNS:])
    return Slip(
        eligibility=eligibility.Inputs.of(first),
        hit=(first["hit_id"], first["hit_hash"]) if first["hit_id"] is not None else None,
        accounts=accounts,
        legs=legs,
    )


# The write: the bet (claiming its idempotency key; nothing else is written if a concurrent
# request with the key committed first), each event's exposure upserted in ascending event id
# (two slips on the same events lock those rows in the same order: no deadlock), legs, lines,
# the first status, the stake's ledger transfer (or a live bet's hold), and the events. The
# answer says whether the key was claimed and how many events stayed within their cap; the
# caller rolls back when one did not.
_BET_CTES = """
    bet AS (
        INSERT INTO bets (id, user_id, country_code, currency, bet_type, system,
                          stake_per_line, line_count, total_stake, stake_tax, potential_return,
                          max_payout, status, odds_change, live, idempotency_key, request_hash,
                          stake_transfer_id, hold_id, accept_after, placed_at)
        VALUES (:bet_id, :user_id, :country, :currency, :bet_type, :system,
                :stake_per_line, :line_count, :total_stake, :stake_tax, :potential_return,
                :max_payout, :status, :odds_change, :live, :bet_key, :bet_hash,
                :stake_transfer_id, :hold_id, :accept_after, :placed_at)
        ON CONFLICT (idempotency_key) DO NOTHING
        RETURNING id
    ), gate AS (
        SELECT id FROM bet
    ), exposure AS (
        INSERT INTO event_liability AS l (event_id, currency, exposure)
        SELECT x.event_id, :currency, :potential_return
        FROM unnest(CAST(:liability_events AS bigint[])) AS x(event_id)
        WHERE EXISTS (SELECT 1 FROM gate)
        ORDER BY x.event_id
        ON CONFLICT (event_id, currency) DO UPDATE SET exposure = l.exposure + EXCLUDED.exposure
        RETURNING l.event_id, l.exposure
    ), legs AS (
        INSERT INTO bet_legs (bet_id, leg_no, event_id, market_id, outcome_id, odds_milli,
                              seen_odds_milli)
        SELECT gate.id, x.n - 1, x.event_id, x.market_id, x.outcome_id, x.odds, x.seen
        FROM gate,
             unnest(CAST(:leg_events AS bigint[]), CAST(:leg_markets AS bigint[]),
                    CAST(:leg_outcomes AS bigint[]), CAST(:leg_odds AS int[]),
                    CAST(:leg_seen AS int[]))
             WITH ORDINALITY AS x(event_id, market_id, outcome_id, odds, seen, n)
        RETURNING 1
    ), lines AS (
        INSERT INTO bet_lines (bet_id, line_no, legs, stake)
        SELECT gate.id, x.n - 1, CAST(x.legs AS smallint[]), :stake_per_line
        FROM gate, unnest(CAST(:lines AS text[])) WITH ORDINALITY AS x(legs, n)
        RETURNING 1
    ), history AS (
        INSERT INTO bet_status_history (bet_id, status, at)
        SELECT gate.id, :status, :placed_at FROM gate
        RETURNING 1
    ),"""


def _bet_answer(stake_cte: str) -> str:
    return f"""
    SELECT (SELECT count(*) FROM bet) AS claimed,
           (SELECT count(*) FROM {stake_cte}) AS staked,
           (SELECT count(*)
            FROM exposure AS x
            JOIN unnest(CAST(:liability_events AS bigint[]), CAST(:liability_caps AS bigint[]))
                 AS c(event_id, cap) ON c.event_id = x.event_id
            WHERE c.cap IS NULL OR x.exposure <= c.cap) AS within_cap
    """  # noqa: S608 - a CTE name of ours, no input


_WRITE_STAKED_BET = DriverSQL(
    "WITH"
    + _BET_CTES
    + prefix_params(ledger_repo.TRANSFER_CTES, "t_")
    + ","
    + ledger_repo.OUTBOX_CTE
    + _bet_answer("transfer")
)
_WRITE_HELD_BET = DriverSQL(
    "WITH"
    + _BET_CTES
    + prefix_params(ledger_repo.HOLD_CTES, "h_")
    + ","
    + ledger_repo.OUTBOX_CTE
    + _bet_answer("hold")
)


@dataclass(frozen=True, slots=True)
class Written:
    claimed: bool  # False: a concurrent request with the key committed first; nothing written
    within_cap: int  # events whose exposure stayed within their liability cap


async def write_bet(
    conn: AsyncConnection,
    bet: Mapping[str, Any],
    *,
    legs: Sequence[Mapping[str, Any]],
    lines: Sequence[tuple[int, ...]],
    caps: Mapping[int, int | None],
    transfer: Mapping[str, Any] | None = None,
    hold: Mapping[str, Any] | None = None,
    events: Sequence[Event],
) -> Written:
    """Write a placed bet with its stake transfer (`ledger.repository.transfer_values`) or its
    hold (`hold_values`) and its outbox rows, in one round trip. `caps` maps each event of the
    bet to its liability cap (None: uncapped)."""
    event_ids = sorted(caps)
    values: dict[str, Any] = {
        **bet,
        "liability_events": event_ids,
        "liability_caps": [caps[e] for e in event_ids],
        "leg_events": [leg["event_id"] for leg in legs],
        "leg_markets": [leg["market_id"] for leg in legs],
        "leg_outcomes": [leg["outcome_id"] for leg in legs],
        "leg_odds": [leg["odds_milli"] for leg in legs],
        "leg_seen": [leg["seen_odds_milli"] for leg in legs],
        "lines": ["{" + ",".join(map(str, line)) + "}" for line in lines],
        **ledger_repo.outbox_values(events),
    }
    if transfer is not None:
        statement = _WRITE_STAKED_BET
        values.update({"t_" + k: v for k, v in transfer.items()})
    else:
        assert hold is not None
        statement = _WRITE_HELD_BET
        values.update({"h_" + k: v for k, v in hold.items()})
    row = await statement.fetchrow(conn, values)
    if row["claimed"] and not row["staked"]:
        # The stake's ledger key was taken (a fresh bet id's: never). Fail, never take a bet
        # without its stake; the caller's rollback undoes the bet row.
        raise RuntimeError(f"bet {bet['bet_id']} written without its stake")
    return Written(claimed=bool(row["claimed"]), within_cap=int(row["within_cap"]))
