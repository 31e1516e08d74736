"""A player's personal data as one JSON document (a data subject's access request: Kenya's
Data Protection Act 2019 s.26, Nigeria's NDPA 2023 s.34, Ghana's Data Protection Act 2012
s.32, and portability).

What is in it: the profile, sessions (one per login: when issued, rotated, revoked), the wallet
and every movement on it, every bet with its legs, lines and status history, and the audit
trail of changes to the account. What is not: password hashes, token ids, idempotency keys and
request hashes (internal secrets or plumbing), and the identity of staff who acted.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from letsbet.accounts import repository
from letsbet.compliance.audit import repository as audit_repo
from letsbet.compliance.kyc import repository as kyc_repo
from letsbet.compliance.responsible_gaming import repository as rg_repo
from letsbet.errors import NotFound
from letsbet.ledger import queries
from letsbet.ledger import service as ledger
from letsbet.platform.money import Money
from letsbet.sportsbook.bets.tables import bet_legs, bet_lines, bet_status_history, bets
from letsbet.tenants import get_tenant

FORMAT = "letsbet.personal-data.v1"
_BATCH = 1000


def _fmt(minor: int | None, currency: str) -> str | None:
    return None if minor is None else Money(minor, currency).format()


def _odds(milli: int) -> str:
    return f"{milli // 1000}.{milli % 1000:03d}".rstrip("0").rstrip(".")


async def personal_data(conn: AsyncConnection, user_id: uuid.UUID) -> dict[str, Any]:
    user = await repository.user_by_id(conn, user_id)
    if user is None:
        raise NotFound("This account no longer exists.")
    currency = get_tenant(str(user.country_code)).currency
    return {
        "format": FORMAT,
        "exported_at": datetime.now(UTC).isoformat(),
        "profile": {
            "id": str(user.id),
            "phone": user.phone,
            "country": user.country_code,
            "role": user.role,
            "status": user.status,
            "first_name": user.first_name,
            "last_name": user.last_name,
            "date_of_birth": user.date_of_birth.isoformat(),
            "created_at": user.created_at.isoformat(),
            "updated_at": user.updated_at.isoformat(),
        },
        "sessions": [
            {
                "issued_at": _iso(s.issued_at),
                "expires_at": _iso(s.expires_at),
                "rotated_at": _iso(s.rotated_at),
                "revoked_at": _iso(s.revoked_at),
            }
            for s in await repository.sessions_of(conn, user_id)
        ],
        "kyc": {
            "status": user.kyc_status,
            "checks": [
                {
                    "id_type": c.id_type,
                    "id_number": c.id_number_tail,
                    "status": c.status,
                    "result": c.result_text,
                    "name_returned": c.returned_name,
                    "date_of_birth_returned": c.returned_dob,
                    "at": _iso(c.created_at),
                }
                for c in await kyc_repo.checks_of(conn, user_id, limit=1000)
            ],
        },
        "responsible_gaming": [
            {"control": h.control, "before": h.before, "after": h.after, "at": _iso(h.at)}
            for h in await rg_repo.history(conn, user_id, limit=1000)
        ],
        "wallet": await _wallet(conn, user_id, currency),
        "bets": await _bets(conn, user_id),
        "account_history": [
            {
                "at": _iso(row.occurred_at),
                "action": row.action,
                "before": row.before,
                "after": row.after,
            }
            for row in await audit_repo.about_target(conn, "user", str(user_id))
        ],
    }


def _iso(at: Any) -> str | None:
    return None if at is None else str(at.isoformat())


async def _wallet(conn: AsyncConnection, user_id: uuid.UUID, currency: str) -> dict[str, Any]:
    wallet = await ledger.wallet(conn, user_id, currency)
    movements: list[dict[str, Any]] = []
    after_id: int | None = None
    while True:
        rows = await queries.player_postings(
            conn,
            user_id=user_id,
            currency=currency,
            limit=_BATCH,
            after_id=after_id,
            oldest_first=True,
        )
        movements.extend(
            {
                "at": row.created_at.isoformat(),
                "type": row.type,
                "reference": row.reference,
                "amount": _fmt(row.amount, row.currency),
                "balance_after": _fmt(row.balance_after, row.currency),
                "transfer_id": str(row.transfer_id),
            }
            for row in rows
        )
        if len(rows) < _BATCH:
            break
        after_id = rows[-1].id
    return {
        "currency": currency,
        "balance": _fmt(wallet.balance, currency),
        "held": _fmt(wallet.held, currency),
        "available": _fmt(wallet.available, currency),
        "transactions": movements,
    }


async def _bets(conn: AsyncConnection, user_id: uuid.UUID) -> list[dict[str, Any]]:
    rows = (
        await conn.execute(
            sa.select(bets).where(bets.c.user_id == user_id).order_by(bets.c.placed_at, bets.c.id)
        )
    ).all()
    ids = [row.id for row in rows]
    legs: dict[uuid.UUID, list[dict[str, Any]]] = {i: [] for i in ids}
    lines: dict[uuid.UUID, list[dict[str, Any]]] = {i: [] for i in ids}
    history: dict[uuid.UUID, list[dict[str, Any]]] = {i: [] for i in ids}
    currency = {row.id: row.currency for row in rows}
    if ids:
        for leg in await conn.execute(
            sa.select(bet_legs).where(bet_legs.c.bet_id.in_(ids)).order_by(bet_legs.c.leg_no)
        ):
            legs[leg.bet_id].append(
                {
                    "event_id": leg.event_id,
                    "market_id": leg.market_id,
                    "outcome_id": leg.outcome_id,
                    "odds": _odds(leg.odds_milli),
                    "result": leg.result,
                }
            )
        for line in await conn.execute(
            sa.select(bet_lines).where(bet_lines.c.bet_id.in_(ids)).order_by(bet_lines.c.line_no)
        ):
            lines[line.bet_id].append(
                {
                    "legs": list(line.legs),
                    "stake": _fmt(line.stake, currency[line.bet_id]),
                    "return": _fmt(line.return_amount, currency[line.bet_id]),
                }
            )
        h = bet_status_history
        for change in await conn.execute(
            sa.select(h).where(h.c.bet_id.in_(ids)).order_by(h.c.at, h.c.id)
        ):
            history[change.bet_id].append(
                {"status": change.status, "reason": change.reason, "at": change.at.isoformat()}
            )
    return [
        {
            "id": str(row.id),
            "placed_at": row.placed_at.isoformat(),
            "bet_type": row.bet_type,
            "system": row.system,
            "status": row.status,
            "currency": row.currency,
            "total_stake": _fmt(row.total_stake, row.currency),
            "stake_tax": _fmt(row.stake_tax, row.currency),
            "potential_return": _fmt(row.potential_return, row.currency),
            "return": _fmt(row.return_amount, row.currency),
            "winnings_tax": _fmt(row.winnings_tax, row.currency),
            "payout": _fmt(row.payout, row.currency),
            "settled_at": _iso(row.settled_at),
            "legs": legs[row.id],
            "lines": lines[row.id],
            "status_history": history[row.id],
        }
        for row in rows
    ]
