"""payments

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25 19:43:07.228605
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "payments",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("country_code", sa.CHAR(length=2), nullable=False),
        sa.Column("currency", sa.CHAR(length=3), nullable=False),
        sa.Column("direction", sa.Text(), nullable=False),
        sa.Column("provider", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("tax", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("net", sa.BigInteger(), nullable=False),
        sa.Column("tax_regime_id", sa.Text(), nullable=True),
        sa.Column(
            "tax_lines",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
        sa.Column("idempotency_key", sa.Text(), nullable=False),
        sa.Column("request_hash", sa.Text(), nullable=False),
        sa.Column("phone", sa.Text(), nullable=True),
        sa.Column(
            "destination",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("callback_token_hash", sa.Text(), nullable=False),
        sa.Column("provider_reference", sa.Text(), nullable=True),
        sa.Column("provider_request_id", sa.Text(), nullable=True),
        sa.Column("receipt", sa.Text(), nullable=True),
        sa.Column("checkout_url", sa.Text(), nullable=True),
        sa.Column("result_code", sa.Text(), nullable=True),
        sa.Column("result_desc", sa.Text(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("hold_id", sa.UUID(), nullable=True),
        sa.Column("transfer_id", sa.UUID(), nullable=True),
        sa.Column("queries", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_query_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "amount > 0 AND tax >= 0 AND net > 0 AND tax + net = amount",
            name=op.f("ck_payments_split"),
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_payments_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payments")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_payments_idempotency_key")),
    )
    op.create_index(op.f("ix_payments_country_code"), "payments", ["country_code"], unique=False)
    op.create_index(
        "ix_payments_open",
        "payments",
        ["created_at"],
        unique=False,
        postgresql_where=sa.text("status IN ('initiated', 'pending')"),
    )
    op.create_index(
        "ix_payments_user_id_created_at", "payments", ["user_id", "created_at"], unique=False
    )
    op.create_index(
        "uq_payments_provider_receipt",
        "payments",
        ["provider", "receipt"],
        unique=True,
        postgresql_where=sa.text("receipt IS NOT NULL"),
    )
    op.create_index(
        "uq_payments_provider_reference",
        "payments",
        ["provider", "provider_reference"],
        unique=True,
        postgresql_where=sa.text("provider_reference IS NOT NULL"),
    )
    op.add_column(
        "users",
        sa.Column("kyc_verified", sa.Boolean(), server_default=sa.text("false"), nullable=False),
    )

    # Autogenerate leaves out column CHECKs; they are part of the schema, so add them here.
    op.create_check_constraint(
        op.f("ck_payments_country_code"), "payments", "country_code IN ('KE','NG','GH')"
    )
    op.create_check_constraint(
        op.f("ck_payments_direction"), "payments", "direction IN ('deposit','withdrawal')"
    )
    op.create_check_constraint(
        op.f("ck_payments_provider"), "payments", "provider IN ('mpesa','flutterwave')"
    )
    op.create_check_constraint(
        op.f("ck_payments_status"),
        "payments",
        "status IN ('initiated','pending','succeeded','failed','timed_out')",
    )


def downgrade() -> None:
    op.drop_column("users", "kyc_verified")
    op.drop_index(
        "uq_payments_provider_reference",
        table_name="payments",
        postgresql_where=sa.text("provider_reference IS NOT NULL"),
    )
    op.drop_index(
        "uq_payments_provider_receipt",
        table_name="payments",
        postgresql_where=sa.text("receipt IS NOT NULL"),
    )
    op.drop_index("ix_payments_user_id_created_at", table_name="payments")
    op.drop_index(
        "ix_payments_open",
        table_name="payments",
        postgresql_where=sa.text("status IN ('initiated', 'pending')"),
    )
    op.drop_index(op.f("ix_payments_country_code"), table_name="payments")
    op.drop_table("payments")
