"""Ledger schema: accounts, immutable transfers and postings, two-phase holds.

Balances live on `ledger_accounts` for O(1) reads and row locks, but every change to them is a
posting with balance_before/balance_after, so `letsbet ledger check` can recompute each balance
from its postings and prove nothing was written around the ledger.
"""

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, UUID

from letsbet.platform.db import country_code_column, metadata

ledger_accounts = sa.Table(
    "ledger_accounts",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    country_code_column(),
    sa.Column("currency", sa.CHAR(3), nullable=False),
    sa.Column(
        "kind",
        sa.Text,
        sa.CheckConstraint("kind IN ('player_cash','house')", name="kind"),
        nullable=False,
    ),
    sa.Column("owner_id", UUID(as_uuid=True), sa.ForeignKey("users.id")),  # players only
    sa.Column("code", sa.Text),  # house accounts only: stakes_in_play, mpesa_clearing, ...
    # House accounts are split into shards so concurrent transfers do not queue on one row.
    sa.Column("shard", sa.SmallInteger, nullable=False, server_default="0"),
    sa.Column("balance", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("held", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("version", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column(
        "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    ),
    # No CHECK keeps a player balance at or above zero: a clawback may overdraw it (see
    # domain.OVERDRAFT_TYPES), and `letsbet ledger check` proves nothing else ever does.
    sa.CheckConstraint("held >= 0", name="held_not_negative"),
    sa.CheckConstraint("(kind = 'player_cash') = (owner_id IS NOT NULL)", name="owner"),
    sa.CheckConstraint("(kind = 'house') = (code IS NOT NULL)", name="code"),
)
sa.Index(
    "uq_ledger_accounts_player",
    ledger_accounts.c.owner_id,
    ledger_accounts.c.currency,
    unique=True,
    postgresql_where=ledger_accounts.c.kind == "player_cash",
)
sa.Index(
    "uq_ledger_accounts_house",
    ledger_accounts.c.country_code,
    ledger_accounts.c.currency,
    ledger_accounts.c.code,
    ledger_accounts.c.shard,
    unique=True,
    postgresql_where=ledger_accounts.c.kind == "house",
)

ledger_transfers = sa.Table(
    "ledger_transfers",
    metadata,
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    country_code_column(),
    sa.Column("currency", sa.CHAR(3), nullable=False),
    sa.Column("type", sa.Text, nullable=False),
    sa.Column("idempotency_key", sa.Text, nullable=False, unique=True),
    sa.Column("request_hash", sa.Text, nullable=False),  # sha256 of the canonical request
    sa.Column("reference", sa.Text),
    sa.Column("metadata", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
    sa.Column("hold_id", UUID(as_uuid=True)),  # set when the transfer posts a hold
    sa.Column("initiated_by", UUID(as_uuid=True)),  # staff id for manual adjustments
    sa.Column(
        "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    ),
)

ledger_postings = sa.Table(
    "ledger_postings",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column(
        "transfer_id", UUID(as_uuid=True), sa.ForeignKey("ledger_transfers.id"), nullable=False
    ),
    sa.Column("account_id", sa.BigInteger, sa.ForeignKey("ledger_accounts.id"), nullable=False),
    country_code_column(),
    sa.Column("currency", sa.CHAR(3), nullable=False),
    sa.Column("amount", sa.BigInteger, nullable=False),  # signed: + credit, - debit
    sa.Column("balance_before", sa.BigInteger, nullable=False),
    sa.Column("balance_after", sa.BigInteger, nullable=False),
    sa.Column(
        "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    ),
    sa.CheckConstraint("amount <> 0", name="amount_not_zero"),
    sa.CheckConstraint("balance_after = balance_before + amount", name="running_balance"),
)
sa.Index("ix_ledger_postings_account_id_id", ledger_postings.c.account_id, ledger_postings.c.id)
sa.Index("ix_ledger_postings_transfer_id", ledger_postings.c.transfer_id)

ledger_holds = sa.Table(
    "ledger_holds",
    metadata,
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    sa.Column("account_id", sa.BigInteger, sa.ForeignKey("ledger_accounts.id"), nullable=False),
    country_code_column(),
    sa.Column("currency", sa.CHAR(3), nullable=False),
    sa.Column(
        "amount",
        sa.BigInteger,
        sa.CheckConstraint("amount > 0", name="amount_positive"),
        nullable=False,
    ),
    sa.Column(
        "status",
        sa.Text,
        sa.CheckConstraint("status IN ('pending','posted','voided','expired')", name="status"),
        nullable=False,
    ),
    sa.Column("type", sa.Text, nullable=False),
    sa.Column("idempotency_key", sa.Text, nullable=False, unique=True),
    sa.Column("request_hash", sa.Text, nullable=False),
    sa.Column("reference", sa.Text),
    sa.Column("metadata", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
    sa.Column("expires_at", sa.DateTime(timezone=True)),
    sa.Column(
        "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    ),
    sa.Column("resolved_at", sa.DateTime(timezone=True)),
    sa.Column("posted_amount", sa.BigInteger),
    sa.Column("transfer_id", UUID(as_uuid=True), sa.ForeignKey("ledger_transfers.id")),
)
sa.Index(
    "ix_ledger_holds_pending_expiry",
    ledger_holds.c.expires_at,
    postgresql_where=sa.and_(
        ledger_holds.c.status == "pending", ledger_holds.c.expires_at.is_not(None)
    ),
)
sa.Index(
    "ix_ledger_holds_pending_account",
    ledger_holds.c.account_id,
    postgresql_where=ledger_holds.c.status == "pending",
)
# Tax and GGR reports (compliance/reports) read a country's house accounts over a date range.
sa.Index(
    "ix_ledger_postings_account_id_created_at",
    ledger_postings.c.account_id,
    ledger_postings.c.created_at,
)
