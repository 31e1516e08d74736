"""`letsbet ledger check`: prove from the postings that no money was created or lost.

Each check is one SQL query that returns the rows that break a rule; an empty result everywhere
means the books are sound. Read-only, safe to run against production at any time (it reads one
REPEATABLE READ snapshot so concurrent transfers cannot produce false breaks).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from letsbet.ledger.domain import OVERDRAFT_TYPES
from letsbet.platform.db import Database

_OVERDRAFTS = sorted(OVERDRAFT_TYPES)
_OVERDRAFT_SQL = ", ".join(f"'{t}'" for t in _OVERDRAFTS)  # fixed identifiers, no user input

# (name, rule in words, query returning one row per break)
CHECKS: tuple[tuple[str, str, str], ...] = (
    (
        "transfer_unbalanced",
        "every transfer's postings sum to zero",
        """SELECT transfer_id::text AS subject, sum(amount) AS value
           FROM ledger_postings GROUP BY transfer_id HAVING sum(amount) <> 0""",
    ),
    (
        "currency_unbalanced",
        "debits equal credits per currency (all postings and all balances sum to zero)",
        """SELECT currency AS subject, sum(balance) AS value FROM ledger_accounts
           GROUP BY currency HAVING sum(balance) <> 0
           UNION ALL
           SELECT currency, sum(amount) FROM ledger_postings
           GROUP BY currency HAVING sum(amount) <> 0""",
    ),
    (
        "balance_mismatch",
        "each account's balance equals the sum of its postings",
        """SELECT a.id::text AS subject, a.balance - coalesce(p.total, 0) AS value
           FROM ledger_accounts a
           LEFT JOIN (SELECT account_id, sum(amount) AS total FROM ledger_postings
                      GROUP BY account_id) p ON p.account_id = a.id
           WHERE a.balance <> coalesce(p.total, 0)""",
    ),
    (
        "running_balance_broken",
        "each posting starts where the account's previous posting ended",
        """SELECT account_id::text || '#' || id::text AS subject, balance_before AS value
           FROM (SELECT id, account_id, balance_before,
                        lag(balance_after, 1, 0::bigint)
                          OVER (PARTITION BY account_id ORDER BY id) AS previous
                 FROM ledger_postings) chain
           WHERE balance_before <> previous""",
    ),
    (
        "player_negative",
        "no player goes below zero except through a clawback ("
        + ", ".join(_OVERDRAFTS)
        + ") or the posting of a hold reserved before it",
        # Postings that left a player below zero by anything but a clawback or a hold's post
        # (money reserved while it was there); and players below their holds who were never
        # clawed back (reserving leaves no posting to trace).
        f"""SELECT p.account_id::text || '#' || p.id::text AS subject, p.balance_after AS value
           FROM ledger_postings p
           JOIN ledger_accounts a ON a.id = p.account_id AND a.kind = 'player_cash'
           JOIN ledger_transfers t ON t.id = p.transfer_id
           WHERE p.amount < 0 AND p.balance_after < 0
             AND t.type NOT IN ({_OVERDRAFT_SQL}) AND t.hold_id IS NULL
           UNION ALL
           SELECT a.id::text, a.balance - a.held FROM ledger_accounts a
           WHERE a.kind = 'player_cash' AND a.balance - a.held < 0
             AND NOT EXISTS (
                 SELECT 1 FROM ledger_postings p JOIN ledger_transfers t ON t.id = p.transfer_id
                 WHERE p.account_id = a.id AND p.amount < 0 AND t.type IN ({_OVERDRAFT_SQL}))""",  # noqa: S608
    ),
    (
        "holds_inconsistent",
        "each account's held amount equals the sum of its pending holds",
        """SELECT a.id::text AS subject, a.held - coalesce(h.total, 0) AS value
           FROM ledger_accounts a
           LEFT JOIN (SELECT account_id, sum(amount) AS total FROM ledger_holds
                      WHERE status = 'pending' GROUP BY account_id) h ON h.account_id = a.id
           WHERE a.held <> coalesce(h.total, 0)""",
    ),
    (
        "transfer_without_postings",
        "every transfer has at least two postings",
        """SELECT t.id::text AS subject, count(p.id) AS value FROM ledger_transfers t
           LEFT JOIN ledger_postings p ON p.transfer_id = t.id
           GROUP BY t.id HAVING count(p.id) < 2""",
    ),
)


@dataclass(frozen=True, slots=True)
class Break:
    check: str
    rule: str
    subject: str
    value: Any


@dataclass(frozen=True, slots=True)
class Report:
    accounts: int
    transfers: int
    postings: int
    breaks: tuple[Break, ...] = field(default=())

    @property
    def sound(self) -> bool:
        return not self.breaks

    def summary(self) -> str:
        verdict = "sound" if self.sound else f"BROKEN: {len(self.breaks)} break(s)"
        return (
            f"ledger {verdict}: {self.accounts} accounts, {self.transfers} transfers, "
            f"{self.postings} postings, {len(CHECKS)} checks"
        )

    def lines(self) -> list[str]:
        out = [self.summary()]
        for item in self.breaks[:1000]:
            out.append(f"  {item.check}: {item.subject} ({item.value}) — rule: {item.rule}")
        if len(self.breaks) > 1000:
            out.append(f"  … and {len(self.breaks) - 1000} more")
        return out


async def check_connection(conn: AsyncConnection) -> Report:
    breaks: list[Break] = []
    for name, rule, query in CHECKS:
        for row in await conn.execute(sa.text(query)):
            breaks.append(Break(name, rule, str(row.subject), row.value))
    counts = (
        await conn.execute(
            sa.text(
                "SELECT (SELECT count(*) FROM ledger_accounts), "
                "(SELECT count(*) FROM ledger_transfers), (SELECT count(*) FROM ledger_postings)"
            )
        )
    ).one()
    return Report(accounts=counts[0], transfers=counts[1], postings=counts[2], breaks=tuple(breaks))


async def check(db: Database) -> Report:
    async with db.connect() as conn:
        await conn.execute(sa.text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY"))
        return await check_connection(conn)
