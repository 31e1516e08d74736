"""KYC through Smile ID: users.kyc_status (replacing the staff-set kyc_verified flag, whose
true rows become verified), the checks sent to Smile ID and the status history

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-25 20:43:55.138664
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "kyc_checks",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("country_code", sa.CHAR(length=2), nullable=False),
        sa.Column("job_id", sa.Text(), nullable=False),
        sa.Column("smile_job_id", sa.Text(), nullable=True),
        sa.Column("mode", sa.Text(), nullable=False),
        sa.Column("id_type", sa.Text(), nullable=False),
        sa.Column("id_number_hash", sa.CHAR(length=64), nullable=False),
        sa.Column("id_number_tail", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("result_code", sa.Text(), nullable=True),
        sa.Column("result_text", sa.Text(), nullable=True),
        sa.Column("returned_name", sa.Text(), nullable=True),
        sa.Column("returned_dob", sa.Text(), nullable=True),
        sa.Column("name_match", sa.Boolean(), nullable=True),
        sa.Column("dob_match", sa.Boolean(), nullable=True),
        sa.Column("actions", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("requested_by", sa.UUID(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "country_code IN ('KE','NG','GH')", name=op.f("ck_kyc_checks_country_code")
        ),
        sa.CheckConstraint("mode IN ('sync','async')", name=op.f("ck_kyc_checks_mode")),
        sa.CheckConstraint(
            "status IN ('submitted','verified','rejected','needs_review','retry','error')",
            name=op.f("ck_kyc_checks_status"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_kyc_checks_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kyc_checks")),
        sa.UniqueConstraint("job_id", name=op.f("uq_kyc_checks_job_id")),
    )
    op.create_index(
        op.f("ix_kyc_checks_country_code"), "kyc_checks", ["country_code"], unique=False
    )
    op.create_index("ix_kyc_checks_id_number_hash", "kyc_checks", ["id_number_hash"], unique=False)
    op.create_index(
        "ix_kyc_checks_user_id_created_at", "kyc_checks", ["user_id", "created_at"], unique=False
    )
    op.create_table(
        "kyc_history",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("country_code", sa.CHAR(length=2), nullable=False),
        sa.Column("from_status", sa.Text(), nullable=False),
        sa.Column("to_status", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("check_id", sa.UUID(), nullable=True),
        sa.Column("actor_user_id", sa.UUID(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["check_id"], ["kyc_checks.id"], name=op.f("fk_kyc_history_check_id_kyc_checks")
        ),
        sa.CheckConstraint(
            "country_code IN ('KE','NG','GH')", name=op.f("ck_kyc_history_country_code")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_kyc_history_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kyc_history")),
    )
    op.create_index(
        op.f("ix_kyc_history_country_code"), "kyc_history", ["country_code"], unique=False
    )
    op.create_index("ix_kyc_history_user_id_id", "kyc_history", ["user_id", "id"], unique=False)
    op.add_column(
        "users", sa.Column("kyc_status", sa.Text(), server_default="unverified", nullable=False)
    )
    op.create_check_constraint(
        op.f("ck_users_kyc_status"),
        "users",
        "kyc_status IN ('unverified','pending','verified','rejected','needs_review')",
    )
    op.execute("UPDATE users SET kyc_status = 'verified' WHERE kyc_verified")
    op.drop_column("users", "kyc_verified")


def downgrade() -> None:
    op.add_column(
        "users",
        sa.Column(
            "kyc_verified",
            sa.BOOLEAN(),
            server_default=sa.text("false"),
            autoincrement=False,
            nullable=False,
        ),
    )
    op.execute("UPDATE users SET kyc_verified = (kyc_status = 'verified')")
    op.drop_column("users", "kyc_status")
    op.drop_index("ix_kyc_history_user_id_id", table_name="kyc_history")
    op.drop_index(op.f("ix_kyc_history_country_code"), table_name="kyc_history")
    op.drop_table("kyc_history")
    op.drop_index("ix_kyc_checks_user_id_created_at", table_name="kyc_checks")
    op.drop_index("ix_kyc_checks_id_number_hash", table_name="kyc_checks")
    op.drop_index(op.f("ix_kyc_checks_country_code"), table_name="kyc_checks")
    op.drop_table("kyc_checks")
