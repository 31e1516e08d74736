"""bets

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 18:04:03.091945
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "bets",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("country_code", sa.CHAR(length=2), nullable=False),
        sa.Column("currency", sa.CHAR(length=3), nullable=False),
        sa.Column("bet_type", sa.Text(), nullable=False),
        sa.Column("system", sa.Text(), nullable=True),
        sa.Column("stake_per_line", sa.BigInteger(), nullable=False),
        sa.Column("line_count", sa.Integer(), nullable=False),
        sa.Column("total_stake", sa.BigInteger(), nullable=False),
        sa.Column("stake_tax", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("potential_return", sa.BigInteger(), nullable=False),
        sa.Column("max_payout", sa.BigInteger(), nullable=True),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("reject_code", sa.Text(), nullable=True),
        sa.Column("odds_change", sa.Text(), nullable=False),
        sa.Column("live", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("idempotency_key", sa.Text(), nullable=False),
        sa.Column("request_hash", sa.Text(), nullable=False),
        sa.Column("stake_transfer_id", sa.UUID(), nullable=True),
        sa.Column("hold_id", sa.UUID(), nullable=True),
        sa.Column("accept_after", sa.DateTime(timezone=True), nullable=True),
        sa.Column("return_amount", sa.BigInteger(), nullable=True),
        sa.Column("winnings_tax", sa.BigInteger(), nullable=True),
        sa.Column("payout", sa.BigInteger(), nullable=True),
        sa.Column("settlement_transfer_id", sa.UUID(), nullable=True),
        sa.Column(
            "placed_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("settled_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "stake_per_line > 0 AND total_stake > 0", name=op.f("ck_bets_stake_positive")
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_bets_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bets")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_bets_idempotency_key")),
    )
    op.create_index(op.f("ix_bets_country_code"), "bets", ["country_code"], unique=False)
    op.create_index(
        "ix_bets_pending_accept_after",
        "bets",
        ["accept_after"],
        unique=False,
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_index("ix_bets_user_id_placed_at", "bets", ["user_id", "placed_at"], unique=False)
    op.create_table(
        "bet_lines",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("bet_id", sa.UUID(), nullable=False),
        sa.Column("line_no", sa.Integer(), nullable=False),
        sa.Column("legs", postgresql.ARRAY(sa.SmallInteger()), nullable=False),
        sa.Column("stake", sa.BigInteger(), nullable=False),
        sa.Column("return_amount", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(["bet_id"], ["bets.id"], name=op.f("fk_bet_lines_bet_id_bets")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bet_lines")),
        sa.UniqueConstraint("bet_id", "line_no", name=op.f("uq_bet_lines_bet_id_line_no")),
    )
    op.create_table(
        "bet_status_history",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("bet_id", sa.UUID(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column(
            "at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["bet_id"], ["bets.id"], name=op.f("fk_bet_status_history_bet_id_bets")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bet_status_history")),
    )
    op.create_index("ix_bet_status_history_bet_id", "bet_status_history", ["bet_id"], unique=False)
    op.create_table(
        "event_liability",
        sa.Column("event_id", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.CHAR(length=3), nullable=False),
        sa.Column("exposure", sa.BigInteger(), server_default="0", nullable=False),
        sa.ForeignKeyConstraint(
            ["event_id"], ["events.id"], name=op.f("fk_event_liability_event_id_events")
        ),
        sa.PrimaryKeyConstraint("event_id", "currency", name=op.f("pk_event_liability")),
    )
    op.create_table(
        "bet_legs",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("bet_id", sa.UUID(), nullable=False),
        sa.Column("leg_no", sa.SmallInteger(), nullable=False),
        sa.Column("event_id", sa.BigInteger(), nullable=False),
        sa.Column("market_id", sa.BigInteger(), nullable=False),
        sa.Column("outcome_id", sa.BigInteger(), nullable=False),
        sa.Column("odds_milli", sa.Integer(), nullable=False),
        sa.Column("seen_odds_milli", sa.Integer(), nullable=False),
        sa.Column("result", sa.Text(), nullable=True),
        sa.Column("void_factor", sa.Numeric(precision=6, scale=4), nullable=True),
        sa.Column("dead_heat_factor", sa.Numeric(precision=6, scale=4), nullable=True),
        sa.ForeignKeyConstraint(["bet_id"], ["bets.id"], name=op.f("fk_bet_legs_bet_id_bets")),
        sa.ForeignKeyConstraint(
            ["event_id"], ["events.id"], name=op.f("fk_bet_legs_event_id_events")
        ),
        sa.ForeignKeyConstraint(
            ["market_id"], ["markets.id"], name=op.f("fk_bet_legs_market_id_markets")
        ),
        sa.ForeignKeyConstraint(
            ["outcome_id"], ["outcomes.id"], name=op.f("fk_bet_legs_outcome_id_outcomes")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bet_legs")),
        sa.UniqueConstraint("bet_id", "leg_no", name=op.f("uq_bet_legs_bet_id_leg_no")),
    )
    op.create_index("ix_bet_legs_market_id", "bet_legs", ["market_id"], unique=False)
    op.create_index("ix_bet_legs_outcome_id", "bet_legs", ["outcome_id"], unique=False)

    # Autogenerate leaves out column CHECKs; they are part of the schema, so add them here.
    op.create_check_constraint(
        op.f("ck_bets_country_code"), "bets", "country_code IN ('KE','NG','GH')"
    )
    op.create_check_constraint(
        op.f("ck_bets_bet_type"), "bets", "bet_type IN ('single','multi','system')"
    )
    op.create_check_constraint(
        op.f("ck_bets_status"),
        "bets",
        "status IN ('pending','open','rejected','won','lost','void','cashed_out')",
    )


def downgrade() -> None:
    op.drop_index("ix_bet_legs_outcome_id", table_name="bet_legs")
    op.drop_index("ix_bet_legs_market_id", table_name="bet_legs")
    op.drop_table("bet_legs")
    op.drop_table("event_liability")
    op.drop_index("ix_bet_status_history_bet_id", table_name="bet_status_history")
    op.drop_table("bet_status_history")
    op.drop_table("bet_lines")
    op.drop_index("ix_bets_user_id_placed_at", table_name="bets")
    op.drop_index(
        "ix_bets_pending_accept_after",
        table_name="bets",
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.drop_index(op.f("ix_bets_country_code"), table_name="bets")
    op.drop_table("bets")
