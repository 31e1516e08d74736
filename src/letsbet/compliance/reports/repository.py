"""The one query behind the tax report: house postings of a country summed per legal day,
transfer type and account, aggregated in PostgreSQL.

It reads the country's house accounts (8 codes x 8 shards, found through the unique index on
(country_code, currency, code, shard)) and, for each, the index on ledger_postings
(account_id, created_at) over the period; the transfer's type comes by primary key. Player
postings are never read: what a player paid or received is implied by the house side.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from letsbet.compliance.reports.domain import Flow
from letsbet.ledger.tables import ledger_accounts, ledger_postings, ledger_transfers


async def house_flows(
    conn: AsyncConnection,
    *,
    country: str,
    currency: str,
    since: datetime,
    until: datetime,
    utc_offset: timedelta,
) -> list[Flow]:
    """Sums of house postings with since <= created_at < until, by local day (UTC + offset),
    transfer type and house account code."""
    p, a, t = ledger_postings, ledger_accounts, ledger_transfers
    local_day = sa.cast(
        sa.func.timezone("UTC", p.c.created_at) + sa.literal(utc_offset, sa.Interval), sa.Date
    ).label("day")
    query = (
        sa.select(local_day, t.c.type, a.c.code, sa.func.sum(p.c.amount).label("amount"))
        .select_from(p.join(a, a.c.id == p.c.account_id).join(t, t.c.id == p.c.transfer_id))
        .where(
            a.c.kind == "house",
            a.c.country_code == country,
            a.c.currency == currency,
            p.c.created_at >= since,
            p.c.created_at < until,
        )
        .group_by(local_day, t.c.type, a.c.code)
    )
    return [
        Flow(day=row.day, type=row.type, account=row.code, amount=int(row.amount))
        for row in (await conn.execute(query)).all()
    ]
