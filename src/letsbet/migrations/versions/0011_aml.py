"""AML monitoring: alerts (with the withdrawal-freeze flag) and their status history, and the
identifiers (IP, device id, phone) seen behind each account for the shared-identity rule

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-25 21:21:30.437247
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "account_identifiers",
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("country_code", sa.CHAR(length=2), nullable=False),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('ip','device','phone')", name=op.f("ck_account_identifiers_kind")
        ),
        sa.CheckConstraint(
            "country_code IN ('KE','NG','GH')", name=op.f("ck_account_identifiers_country_code")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_account_identifiers_user_id_users")
        ),
        sa.PrimaryKeyConstraint("user_id", "kind", "value", name=op.f("pk_account_identifiers")),
    )
    op.create_index(
        op.f("ix_account_identifiers_country_code"),
        "account_identifiers",
        ["country_code"],
        unique=False,
    )
    op.create_index(
        "ix_account_identifiers_kind_value", "account_identifiers", ["kind", "value"], unique=False
    )
    op.create_table(
        "aml_alerts",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("country_code", sa.CHAR(length=2), nullable=False),
        sa.Column("rule", sa.Text(), nullable=False),
        sa.Column("severity", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), server_default="open", nullable=False),
        sa.Column("dedupe_key", sa.Text(), nullable=False),
        sa.Column("evidence", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("event_id", sa.UUID(), nullable=False),
        sa.Column("holds_freeze", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "severity IN ('low','medium','high')", name=op.f("ck_aml_alerts_severity")
        ),
        sa.CheckConstraint(
            "status IN ('open','investigating','closed','reported')",
            name=op.f("ck_aml_alerts_status"),
        ),
        sa.CheckConstraint(
            "country_code IN ('KE','NG','GH')", name=op.f("ck_aml_alerts_country_code")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_aml_alerts_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_aml_alerts")),
    )
    op.create_index(
        op.f("ix_aml_alerts_country_code"), "aml_alerts", ["country_code"], unique=False
    )
    op.create_index("ix_aml_alerts_created_at_id", "aml_alerts", ["created_at", "id"], unique=False)
    op.create_index(
        "ix_aml_alerts_frozen",
        "aml_alerts",
        ["user_id"],
        unique=False,
        postgresql_where="holds_freeze",
    )
    op.create_index(
        "uq_aml_alerts_user_rule_key", "aml_alerts", ["user_id", "rule", "dedupe_key"], unique=True
    )
    op.create_table(
        "aml_alert_history",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("alert_id", sa.UUID(), nullable=False),
        sa.Column("country_code", sa.CHAR(length=2), nullable=False),
        sa.Column("from_status", sa.Text(), nullable=True),
        sa.Column("to_status", sa.Text(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("freeze", sa.Boolean(), nullable=True),
        sa.Column("actor_user_id", sa.UUID(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "country_code IN ('KE','NG','GH')", name=op.f("ck_aml_alert_history_country_code")
        ),
        sa.ForeignKeyConstraint(
            ["alert_id"], ["aml_alerts.id"], name=op.f("fk_aml_alert_history_alert_id_aml_alerts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_aml_alert_history")),
    )
    op.create_index(
        "ix_aml_alert_history_alert_id_id", "aml_alert_history", ["alert_id", "id"], unique=False
    )
    op.create_index(
        op.f("ix_aml_alert_history_country_code"),
        "aml_alert_history",
        ["country_code"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_aml_alert_history_country_code"), table_name="aml_alert_history")
    op.drop_index("ix_aml_alert_history_alert_id_id", table_name="aml_alert_history")
    op.drop_table("aml_alert_history")
    op.drop_index("uq_aml_alerts_user_rule_key", table_name="aml_alerts")
    op.drop_index("ix_aml_alerts_frozen", table_name="aml_alerts", postgresql_where="holds_freeze")
    op.drop_index("ix_aml_alerts_created_at_id", table_name="aml_alerts")
    op.drop_index(op.f("ix_aml_alerts_country_code"), table_name="aml_alerts")
    op.drop_table("aml_alerts")
    op.drop_index("ix_account_identifiers_kind_value", table_name="account_identifiers")
    op.drop_index(op.f("ix_account_identifiers_country_code"), table_name="account_identifiers")
    op.drop_table("account_identifiers")
