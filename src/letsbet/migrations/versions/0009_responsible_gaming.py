"""responsible gaming: a player's controls (self-exclusion, time-out, reality check), deposit
and loss limits with pending raises, and the history of every change

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-25 20:36:09.944728
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rg_controls",
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("country_code", sa.CHAR(length=2), nullable=False),
        sa.Column("excluded_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "excluded_permanently", sa.Boolean(), server_default=sa.text("false"), nullable=False
        ),
        sa.Column("excluded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("timeout_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reality_check_minutes", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "country_code IN ('KE','NG','GH')", name=op.f("ck_rg_controls_country_code")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_rg_controls_user_id_users")
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_rg_controls")),
    )
    op.create_index(
        op.f("ix_rg_controls_country_code"), "rg_controls", ["country_code"], unique=False
    )
    op.create_table(
        "rg_history",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("country_code", sa.CHAR(length=2), nullable=False),
        sa.Column("control", sa.Text(), nullable=False),
        sa.Column("before", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("after", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "country_code IN ('KE','NG','GH')", name=op.f("ck_rg_history_country_code")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_rg_history_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rg_history")),
    )
    op.create_index(
        op.f("ix_rg_history_country_code"), "rg_history", ["country_code"], unique=False
    )
    op.create_index("ix_rg_history_user_id_id", "rg_history", ["user_id", "id"], unique=False)
    op.create_table(
        "rg_limits",
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("period", sa.Text(), nullable=False),
        sa.Column("country_code", sa.CHAR(length=2), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=True),
        sa.Column("pending_amount", sa.BigInteger(), nullable=True),
        sa.Column("pending_from", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "amount IS NULL OR amount > 0", name=op.f("ck_rg_limits_amount_positive")
        ),
        sa.CheckConstraint(
            "country_code IN ('KE','NG','GH')", name=op.f("ck_rg_limits_country_code")
        ),
        sa.CheckConstraint("kind IN ('deposit','loss')", name=op.f("ck_rg_limits_kind")),
        sa.CheckConstraint("period IN ('day','week','month')", name=op.f("ck_rg_limits_period")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_rg_limits_user_id_users")),
        sa.PrimaryKeyConstraint("user_id", "kind", "period", name=op.f("pk_rg_limits")),
    )
    op.create_index(op.f("ix_rg_limits_country_code"), "rg_limits", ["country_code"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_rg_limits_country_code"), table_name="rg_limits")
    op.drop_table("rg_limits")
    op.drop_index("ix_rg_history_user_id_id", table_name="rg_history")
    op.drop_index(op.f("ix_rg_history_country_code"), table_name="rg_history")
    op.drop_table("rg_history")
    op.drop_index(op.f("ix_rg_controls_country_code"), table_name="rg_controls")
    op.drop_table("rg_controls")
