"""KYC checks sent to Smile ID and the history of each player's KYC status."""

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, UUID

from letsbet.platform.db import country_code_column, metadata

KYC_STATUSES = ("unverified", "pending", "verified", "rejected", "needs_review")

kyc_checks = sa.Table(
    "kyc_checks",
    metadata,
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    sa.Column("user_id", UUID(as_uuid=True), sa.ForeignKey("users.id"), nullable=False),
    country_code_column(),
    sa.Column("job_id", sa.Text, nullable=False, unique=True),  # our PartnerParams.job_id
    sa.Column("smile_job_id", sa.Text),
    sa.Column(
        "mode", sa.Text, sa.CheckConstraint("mode IN ('sync','async')", name="mode"), nullable=False
    ),
    sa.Column("id_type", sa.Text, nullable=False),
    # The id number itself is not kept: a keyed hash finds one id behind many accounts (AML),
    # the last characters let staff talk about it.
    sa.Column("id_number_hash", sa.CHAR(64), nullable=False),
    sa.Column("id_number_tail", sa.Text, nullable=False),
    sa.Column(
        "status",
        sa.Text,
        sa.CheckConstraint(
            "status IN ('submitted','verified','rejected','needs_review','retry','error')",
            name="status",
        ),
        nullable=False,
    ),
    sa.Column("result_code", sa.Text),
    sa.Column("result_text", sa.Text),
    sa.Column("returned_name", sa.Text),
    sa.Column("returned_dob", sa.Text),
    sa.Column("name_match", sa.Boolean),
    sa.Column("dob_match", sa.Boolean),
    sa.Column("actions", JSONB),
    sa.Column("requested_by", UUID(as_uuid=True)),  # staff who started it for the player
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("completed_at", sa.DateTime(timezone=True)),
)
sa.Index("ix_kyc_checks_user_id_created_at", kyc_checks.c.user_id, kyc_checks.c.created_at)
sa.Index("ix_kyc_checks_id_number_hash", kyc_checks.c.id_number_hash)

kyc_history = sa.Table(
    "kyc_history",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("user_id", UUID(as_uuid=True), sa.ForeignKey("users.id"), nullable=False),
    country_code_column(),
    sa.Column("from_status", sa.Text, nullable=False),
    sa.Column("to_status", sa.Text, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("check_id", UUID(as_uuid=True), sa.ForeignKey("kyc_checks.id")),
    sa.Column("actor_user_id", UUID(as_uuid=True)),  # staff for a review; NULL for Smile ID
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
)
sa.Index("ix_kyc_history_user_id_id", kyc_history.c.user_id, kyc_history.c.id)
