"""Read-side queries for the wallet: the player's postings, keyset-paginated on posting id.

Pages walk the index on ledger_postings (account_id, id): the player's account id is a scalar
subquery (one player_cash account per owner and currency), so the scan starts at the cursor and
stops after `limit` rows however long the history is. The cursor is opaque to clients (base64url
of the last posting id) so its encoding can change without breaking them.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from letsbet.errors import Unprocessable
from letsbet.ledger.tables import ledger_accounts, ledger_postings, ledger_transfers
from letsbet.platform.http import cursor as cursors
from letsbet.platform.http.cursor import InvalidCursor

_POSTING_ID = re.compile(r"[1-9][0-9]{0,18}")
_MAX_BIGINT = 2**63 - 1
_MAX_CURSOR_CHARS = 32


class InvalidDateRange(Unprocessable):
    code = "invalid_date_range"
    message = "`to` must not be before `from`."


def encode_cursor(posting_id: int) -> str:
    return cursors.encode_cursor(str(posting_id))


def decode_cursor(value: str) -> int:
    """The posting id inside a cursor, or InvalidCursor (422) for anything we did not make."""
    text = cursors.decode_cursor(value, max_chars=_MAX_CURSOR_CHARS)
    if _POSTING_ID.fullmatch(text) is None or int(text) > _MAX_BIGINT:
        raise InvalidCursor()
    return int(text)


def _player_account_id(user_id: uuid.UUID, currency: str) -> sa.ScalarSelect[Any]:
    return (
        sa.select(ledger_accounts.c.id)
        .where(
            ledger_accounts.c.kind == "player_cash",
            ledger_accounts.c.owner_id == user_id,
            ledger_accounts.c.currency == currency,
        )
        .scalar_subquery()
    )


async def player_postings(
    conn: AsyncConnection,
    *,
    user_id: uuid.UUID,
    currency: str,
    limit: int,
    after_id: int | None = None,
    oldest_first: bool = False,
    types: Sequence[str] = (),
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[Any]:
    """Up to `limit` postings on the player's wallet, with their transfer's type and reference.

    Newest first by default: `after_id` is the last id of the previous page and the page holds
    smaller ids. With oldest_first the order and the keyset comparison flip. `since` is
    inclusive and `until` exclusive, on the posting's created_at.
    """
    p, t = ledger_postings, ledger_transfers
    query = (
        sa.select(
            p.c.id,
            p.c.transfer_id,
            t.c.type,
            t.c.reference,
            p.c.amount,
            p.c.balance_before,
            p.c.balance_after,
            p.c.currency,
            p.c.created_at,
        )
        .join(t, t.c.id == p.c.transfer_id)
        .where(p.c.account_id == _player_account_id(user_id, currency))
        .limit(limit)
    )
    if oldest_first:
        # account_id is one value; naming it in ORDER BY matches the index's order outright.
        query = query.order_by(p.c.account_id, p.c.id)
        if after_id is not None:
            query = query.where(p.c.id > after_id)
    else:
        query = query.order_by(p.c.account_id.desc(), p.c.id.desc())
        if after_id is not None:
            query = query.where(p.c.id < after_id)
    if types:
        query = query.where(t.c.type.in_(list(types)))
    if since is not None:
        query = query.where(p.c.created_at >= since)
    if until is not None:
        query = query.where(p.c.created_at < until)
    return list((await conn.execute(query)).all())
