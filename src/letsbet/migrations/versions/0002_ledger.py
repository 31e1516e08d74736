"""ledger accounts, transfers, postings and holds

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 17:33:17.402235
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ledger_transfers",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("country_code", sa.CHAR(length=2), nullable=False),
        sa.Column("currency", sa.CHAR(length=3), nullable=False),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column("idempotency_key", sa.Text(), nullable=False),
        sa.Column("request_hash", sa.Text(), nullable=False),
        sa.Column("reference", sa.Text(), nullable=True),
        sa.Column(
            "metadata",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("hold_id", sa.UUID(), nullable=True),
        sa.Column("initiated_by", sa.UUID(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_transfers")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_ledger_transfers_idempotency_key")),
    )
    op.create_index(
        op.f("ix_ledger_transfers_country_code"), "ledger_transfers", ["country_code"], unique=False
    )
    op.create_table(
        "ledger_accounts",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("country_code", sa.CHAR(length=2), nullable=False),
        sa.Column("currency", sa.CHAR(length=3), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("owner_id", sa.UUID(), nullable=True),
        sa.Column("code", sa.Text(), nullable=True),
        sa.Column("shard", sa.SmallInteger(), server_default="0", nullable=False),
        sa.Column("balance", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("held", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("version", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "(kind = 'house') = (code IS NOT NULL)", name=op.f("ck_ledger_accounts_code")
        ),
        sa.CheckConstraint(
            "(kind = 'player_cash') = (owner_id IS NOT NULL)", name=op.f("ck_ledger_accounts_owner")
        ),
        sa.CheckConstraint(
            "kind <> 'player_cash' OR (balance >= 0 AND held <= balance)",
            name=op.f("ck_ledger_accounts_player_not_negative"),
        ),
        sa.CheckConstraint("held >= 0", name=op.f("ck_ledger_accounts_held_not_negative")),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("fk_ledger_accounts_owner_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_accounts")),
    )
    op.create_index(
        op.f("ix_ledger_accounts_country_code"), "ledger_accounts", ["country_code"], unique=False
    )
    op.create_index(
        "uq_ledger_accounts_house",
        "ledger_accounts",
        ["country_code", "currency", "code", "shard"],
        unique=True,
        postgresql_where=sa.text("kind = 'house'"),
    )
    op.create_index(
        "uq_ledger_accounts_player",
        "ledger_accounts",
        ["owner_id", "currency"],
        unique=True,
        postgresql_where=sa.text("kind = 'player_cash'"),
    )
    op.create_table(
        "ledger_holds",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("country_code", sa.CHAR(length=2), nullable=False),
        sa.Column("currency", sa.CHAR(length=3), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column("idempotency_key", sa.Text(), nullable=False),
        sa.Column("request_hash", sa.Text(), nullable=False),
        sa.Column("reference", sa.Text(), nullable=True),
        sa.Column(
            "metadata",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("posted_amount", sa.BigInteger(), nullable=True),
        sa.Column("transfer_id", sa.UUID(), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["ledger_accounts.id"],
            name=op.f("fk_ledger_holds_account_id_ledger_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["transfer_id"],
            ["ledger_transfers.id"],
            name=op.f("fk_ledger_holds_transfer_id_ledger_transfers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_holds")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_ledger_holds_idempotency_key")),
    )
    op.create_index(
        op.f("ix_ledger_holds_country_code"), "ledger_holds", ["country_code"], unique=False
    )
    op.create_index(
        "ix_ledger_holds_pending_account",
        "ledger_holds",
        ["account_id"],
        unique=False,
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_index(
        "ix_ledger_holds_pending_expiry",
        "ledger_holds",
        ["expires_at"],
        unique=False,
        postgresql_where=sa.text("status = 'pending' AND expires_at IS NOT NULL"),
    )
    op.create_table(
        "ledger_postings",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("transfer_id", sa.UUID(), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("country_code", sa.CHAR(length=2), nullable=False),
        sa.Column("currency", sa.CHAR(length=3), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("balance_before", sa.BigInteger(), nullable=False),
        sa.Column("balance_after", sa.BigInteger(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("amount <> 0", name=op.f("ck_ledger_postings_amount_not_zero")),
        sa.CheckConstraint(
            "balance_after = balance_before + amount",
            name=op.f("ck_ledger_postings_running_balance"),
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["ledger_accounts.id"],
            name=op.f("fk_ledger_postings_account_id_ledger_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["transfer_id"],
            ["ledger_transfers.id"],
            name=op.f("fk_ledger_postings_transfer_id_ledger_transfers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_postings")),
    )
    op.create_index(
        "ix_ledger_postings_account_id_id", "ledger_postings", ["account_id", "id"], unique=False
    )
    op.create_index(
        op.f("ix_ledger_postings_country_code"), "ledger_postings", ["country_code"], unique=False
    )
    op.create_index(
        "ix_ledger_postings_transfer_id", "ledger_postings", ["transfer_id"], unique=False
    )

    # Autogenerate leaves out column CHECKs; they are part of the schema, so add them here.
    for table in ("ledger_accounts", "ledger_transfers", "ledger_postings", "ledger_holds"):
        op.create_check_constraint(
            op.f(f"ck_{table}_country_code"), table, "country_code IN ('KE','NG','GH')"
        )
    op.create_check_constraint(
        op.f("ck_ledger_accounts_kind"), "ledger_accounts", "kind IN ('player_cash','house')"
    )
    op.create_check_constraint(
        op.f("ck_ledger_holds_amount_positive"), "ledger_holds", "amount > 0"
    )
    op.create_check_constraint(
        op.f("ck_ledger_holds_status"),
        "ledger_holds",
        "status IN ('pending','posted','voided','expired')",
    )


def downgrade() -> None:
    op.drop_index("ix_ledger_postings_transfer_id", table_name="ledger_postings")
    op.drop_index(op.f("ix_ledger_postings_country_code"), table_name="ledger_postings")
    op.drop_index("ix_ledger_postings_account_id_id", table_name="ledger_postings")
    op.drop_table("ledger_postings")
    op.drop_index(
        "ix_ledger_holds_pending_expiry",
        table_name="ledger_holds",
        postgresql_where=sa.text("status = 'pending' AND expires_at IS NOT NULL"),
    )
    op.drop_index(
        "ix_ledger_holds_pending_account",
        table_name="ledger_holds",
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.drop_index(op.f("ix_ledger_holds_country_code"), table_name="ledger_holds")
    op.drop_table("ledger_holds")
    op.drop_index(
        "uq_ledger_accounts_player",
        table_name="ledger_accounts",
        postgresql_where=sa.text("kind = 'player_cash'"),
    )
    op.drop_index(
        "uq_ledger_accounts_house",
        table_name="ledger_accounts",
        postgresql_where=sa.text("kind = 'house'"),
    )
    op.drop_index(op.f("ix_ledger_accounts_country_code"), table_name="ledger_accounts")
    op.drop_table("ledger_accounts")
    op.drop_index(op.f("ix_ledger_transfers_country_code"), table_name="ledger_transfers")
    op.drop_table("ledger_transfers")
