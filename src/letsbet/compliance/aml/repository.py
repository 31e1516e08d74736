"""Every AML query: the history window the rules read, alerts, their history, identifiers."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from letsbet.compliance.aml.domain import Kind, PaymentFact, Shared
from letsbet.compliance.aml.tables import account_identifiers, aml_alert_history, aml_alerts
from letsbet.compliance.reports.products import PRODUCTS
from letsbet.ledger.tables import ledger_accounts, ledger_postings, ledger_transfers
from letsbet.payments.tables import payments

STAKE_TYPES = sorted(t for product in PRODUCTS for t in product.stake_types)
MAX_SHARED = 50  # other accounts listed per identifier (evidence), enough to pass any threshold


async def record_identifier(
    conn: AsyncConnection, *, user_id: uuid.UUID, country: str, kind: str, value: str, now: datetime
) -> None:
    stmt = insert(account_identifiers).values(
        user_id=user_id,
        kind=kind,
        value=value,
        country_code=country,
        first_seen_at=now,
        last_seen_at=now,
    )
    await conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["user_id", "kind", "value"],
            set_={"last_seen_at": stmt.excluded.last_seen_at},
        )
    )


async def payment(conn: AsyncConnection, payment_id: uuid.UUID) -> Any:
    result = await conn.execute(
        sa.select(payments.c.id, payments.c.phone, payments.c.country_code).where(
            payments.c.id == payment_id
        )
    )
    return result.first()


async def deposits_since(
    conn: AsyncConnection, user_id: uuid.UUID, since: datetime
) -> list[PaymentFact]:
    """The player's succeeded deposits created after `since`, oldest first."""
    result = await conn.execute(
        sa.select(
            payments.c.id,
            payments.c.country_code,
            payments.c.currency,
            payments.c.amount,
            payments.c.created_at,
        )
        .where(
            payments.c.user_id == user_id,
            payments.c.created_at > since,
            payments.c.direction == "deposit",
            payments.c.status == "succeeded",
        )
        .order_by(payments.c.created_at)
    )
    return [
        PaymentFact(
            row.id,
            user_id,
            row.country_code,
            row.currency,
            Kind.DEPOSIT,
            row.amount,
            row.created_at,
        )
        for row in result
    ]


async def wagered_since(conn: AsyncConnection, user_id: uuid.UUID, since: datetime) -> int:
    """Stakes the player's wallet paid since `since`, from the ledger (every product's stake
    transfer types, so a new game counts without a change here)."""
    result = await conn.execute(
        sa.select(sa.func.coalesce(sa.func.sum(-ledger_postings.c.amount), 0))
        .select_from(
            ledger_postings.join(
                ledger_accounts, ledger_accounts.c.id == ledger_postings.c.account_id
            ).join(ledger_transfers, ledger_transfers.c.id == ledger_postings.c.transfer_id)
        )
        .where(
            ledger_accounts.c.owner_id == user_id,
            ledger_accounts.c.kind == "player_cash",
            ledger_postings.c.created_at > since,
            ledger_transfers.c.type.in_(STAKE_TYPES),
        )
    )
    return int(result.scalar_one())


async def shared_identifiers(conn: AsyncConnection, user_id: uuid.UUID) -> list[Shared]:
    """Each identifier of the player that other accounts were also seen with."""
    mine = account_identifiers.alias("mine")
    other = account_identifiers.alias("other")
    result = await conn.execute(
        sa.select(
            mine.c.kind,
            mine.c.value,
            sa.func.array_agg(sa.distinct(other.c.user_id)).label("others"),
        )
        .select_from(
            mine.join(
                other,
                sa.and_(
                    other.c.kind == mine.c.kind,
                    other.c.value == mine.c.value,
                    other.c.user_id != mine.c.user_id,
                ),
            )
        )
        .where(mine.c.user_id == user_id)
        .group_by(mine.c.kind, mine.c.value)
        .order_by(mine.c.kind, mine.c.value)
    )
    return [Shared(row.kind, row.value, tuple(sorted(row.others))[:MAX_SHARED]) for row in result]


async def recent_alerts(
    conn: AsyncConnection, user_id: uuid.UUID, since: datetime
) -> list[tuple[str, str, datetime]]:
    result = await conn.execute(
        sa.select(aml_alerts.c.rule, aml_alerts.c.dedupe_key, aml_alerts.c.created_at).where(
            aml_alerts.c.user_id == user_id, aml_alerts.c.created_at > since
        )
    )
    return [(row.rule, row.dedupe_key, row.created_at) for row in result]


async def insert_alert(conn: AsyncConnection, **values: Any) -> bool:
    """Insert unless (user, rule, dedupe key) exists; True if inserted."""
    result = await conn.execute(
        insert(aml_alerts)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["user_id", "rule", "dedupe_key"])
        .returning(aml_alerts.c.id)
    )
    return result.first() is not None


async def insert_history(conn: AsyncConnection, **values: Any) -> None:
    await conn.execute(sa.insert(aml_alert_history).values(**values))


async def alert(conn: AsyncConnection, alert_id: uuid.UUID, *, for_update: bool = False) -> Any:
    query = sa.select(aml_alerts).where(aml_alerts.c.id == alert_id)
    result = await conn.execute(query.with_for_update() if for_update else query)
    return result.first()


async def update_alert(conn: AsyncConnection, alert_id: uuid.UUID, **values: Any) -> None:
    await conn.execute(sa.update(aml_alerts).where(aml_alerts.c.id == alert_id).values(**values))


async def frozen(conn: AsyncConnection, user_id: uuid.UUID) -> bool:
    result = await conn.execute(
        sa.select(sa.exists().where(aml_alerts.c.user_id == user_id, aml_alerts.c.holds_freeze))
    )
    return bool(result.scalar_one())


async def history(conn: AsyncConnection, alert_ids: Sequence[uuid.UUID]) -> list[Any]:
    if not alert_ids:
        return []
    result = await conn.execute(
        sa.select(aml_alert_history)
        .where(aml_alert_history.c.alert_id.in_(alert_ids))
        .order_by(aml_alert_history.c.alert_id, aml_alert_history.c.id)
    )
    return list(result)


@dataclass(frozen=True, slots=True)
class AlertFilter:
    statuses: Sequence[str] = ()
    severities: Sequence[str] = ()
    rules: Sequence[str] = ()
    user_id: uuid.UUID | None = None


async def page(
    conn: AsyncConnection,
    where: AlertFilter,
    *,
    limit: int,
    before: tuple[datetime, uuid.UUID] | None = None,
) -> list[Any]:
    """Alerts newest first (created_at, id), `limit` rows after the `before` key."""
    query = sa.select(aml_alerts)
    if where.statuses:
        query = query.where(aml_alerts.c.status.in_(where.statuses))
    if where.severities:
        query = query.where(aml_alerts.c.severity.in_(where.severities))
    if where.rules:
        query = query.where(aml_alerts.c.rule.in_(where.rules))
    if where.user_id is not None:
        query = query.where(aml_alerts.c.user_id == where.user_id)
    if before is not None:
        query = query.where(
            sa.tuple_(aml_alerts.c.created_at, aml_alerts.c.id) < sa.tuple_(*before)
        )
    query = query.order_by(aml_alerts.c.created_at.desc(), aml_alerts.c.id.desc()).limit(limit)
    return list(await conn.execute(query))
