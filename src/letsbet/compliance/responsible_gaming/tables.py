"""A player's responsible-gaming controls and their history."""

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, UUID

from letsbet.platform.db import country_code_column, metadata

# One row per player who ever set a control; eligibility reads it with the user row.
rg_controls = sa.Table(
    "rg_controls",
    metadata,
    sa.Column("user_id", UUID(as_uuid=True), sa.ForeignKey("users.id"), primary_key=True),
    country_code_column(),
    sa.Column("excluded_until", sa.DateTime(timezone=True)),
    sa.Column("excluded_permanently", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("excluded_at", sa.DateTime(timezone=True)),
    sa.Column("timeout_until", sa.DateTime(timezone=True)),
    sa.Column("reality_check_minutes", sa.Integer),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

rg_limits = sa.Table(
    "rg_limits",
    metadata,
    sa.Column("user_id", UUID(as_uuid=True), sa.ForeignKey("users.id"), primary_key=True),
    sa.Column(
        "kind",
        sa.Text,
        sa.CheckConstraint("kind IN ('deposit','loss')", name="kind"),
        primary_key=True,
    ),
    sa.Column(
        "period",
        sa.Text,
        sa.CheckConstraint("period IN ('day','week','month')", name="period"),
        primary_key=True,
    ),
    country_code_column(),
    sa.Column("amount", sa.BigInteger),  # in force; NULL: none
    sa.Column("pending_amount", sa.BigInteger),  # a raise (NULL: removal) waiting to cool
    sa.Column("pending_from", sa.DateTime(timezone=True)),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("amount IS NULL OR amount > 0", name="amount_positive"),
)

# Every change a player made, for compliance staff and the player's data export.
rg_history = sa.Table(
    "rg_history",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("user_id", UUID(as_uuid=True), sa.ForeignKey("users.id"), nullable=False),
    country_code_column(),
    sa.Column("control", sa.Text, nullable=False),  # self_exclusion, timeout, limit.deposit.day...
    sa.Column("before", JSONB),
    sa.Column("after", JSONB),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
)
sa.Index("ix_rg_history_user_id_id", rg_history.c.user_id, rg_history.c.id)
