"""crash game: hash chains (sealed checkpoints), rounds, bets

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25 19:41:12.424159
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "crash_chains",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("game_id", sa.Text(), nullable=False),
        sa.Column("length", sa.Integer(), nullable=False),
        sa.Column("checkpoint_every", sa.Integer(), nullable=False),
        sa.Column("terminating_hash", sa.CHAR(length=64), nullable=False),
        sa.Column("key_check", sa.Text(), nullable=False),
        sa.Column("salt", sa.Text(), nullable=True),
        sa.Column("edge", sa.Numeric(precision=5, scale=2), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_crash_chains")),
        sa.UniqueConstraint("terminating_hash", name=op.f("uq_crash_chains_terminating_hash")),
    )
    op.create_index("ix_crash_chains_game_id_id", "crash_chains", ["game_id", "id"], unique=False)
    op.create_table(
        "crash_chain_checkpoints",
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("link", sa.Integer(), nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["chain_id"],
            ["crash_chains.id"],
            name=op.f("fk_crash_chain_checkpoints_chain_id_crash_chains"),
        ),
        sa.PrimaryKeyConstraint("chain_id", "link", name=op.f("pk_crash_chain_checkpoints")),
    )
    op.create_table(
        "crash_rounds",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("game_id", sa.Text(), nullable=False),
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("game_number", sa.Integer(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("salt", sa.Text(), nullable=False),
        sa.Column("edge", sa.Numeric(precision=5, scale=2), nullable=False),
        sa.Column("game_hash", sa.CHAR(length=64), nullable=False),
        sa.Column("crash_point", sa.BigInteger(), nullable=False),
        sa.Column("cap_multiplier", sa.BigInteger(), nullable=True),
        sa.Column("betting_opens_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("betting_closes_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("crashed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["chain_id"], ["crash_chains.id"], name=op.f("fk_crash_rounds_chain_id_crash_chains")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_crash_rounds")),
        sa.UniqueConstraint(
            "chain_id", "game_number", name=op.f("uq_crash_rounds_chain_id_game_number")
        ),
    )
    op.create_index("ix_crash_rounds_game_id_id", "crash_rounds", ["game_id", "id"], unique=False)
    op.create_table(
        "crash_bets",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("round_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("country_code", sa.CHAR(length=2), nullable=False),
        sa.Column("currency", sa.CHAR(length=3), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("stake_tax", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("auto_cashout", sa.BigInteger(), nullable=True),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("cashout_multiplier", sa.BigInteger(), nullable=True),
        sa.Column("cashout_kind", sa.Text(), nullable=True),
        sa.Column("payout", sa.BigInteger(), nullable=True),
        sa.Column("winnings_tax", sa.BigInteger(), nullable=True),
        sa.Column("net_payout", sa.BigInteger(), nullable=True),
        sa.Column("idempotency_key", sa.Text(), nullable=False),
        sa.Column("request_hash", sa.Text(), nullable=False),
        sa.Column("stake_transfer_id", sa.UUID(), nullable=True),
        sa.Column("settlement_transfer_id", sa.UUID(), nullable=True),
        sa.Column("placed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("settled_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["round_id"], ["crash_rounds.id"], name=op.f("fk_crash_bets_round_id_crash_rounds")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_crash_bets_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_crash_bets")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_crash_bets_idempotency_key")),
    )
    op.create_index(
        op.f("ix_crash_bets_country_code"), "crash_bets", ["country_code"], unique=False
    )
    op.create_index(
        "ix_crash_bets_round_id_status", "crash_bets", ["round_id", "status"], unique=False
    )
    op.create_index(
        "ix_crash_bets_user_id_placed_at", "crash_bets", ["user_id", "placed_at"], unique=False
    )

    # Autogenerate leaves out column CHECKs; they are part of the schema, so add them here.
    op.create_check_constraint(op.f("ck_crash_chains_length"), "crash_chains", "length > 0")
    op.create_check_constraint(
        op.f("ck_crash_rounds_status"), "crash_rounds", "status IN ('betting','flying','crashed')"
    )
    op.create_check_constraint(
        op.f("ck_crash_bets_country_code"), "crash_bets", "country_code IN ('KE','NG','GH')"
    )
    op.create_check_constraint(op.f("ck_crash_bets_amount"), "crash_bets", "amount > 0")
    op.create_check_constraint(
        op.f("ck_crash_bets_auto_cashout"),
        "crash_bets",
        "auto_cashout IS NULL OR auto_cashout > 100",
    )
    op.create_check_constraint(
        op.f("ck_crash_bets_status"), "crash_bets", "status IN ('active','cashed_out','lost')"
    )


def downgrade() -> None:
    op.drop_index("ix_crash_bets_user_id_placed_at", table_name="crash_bets")
    op.drop_index("ix_crash_bets_round_id_status", table_name="crash_bets")
    op.drop_index(op.f("ix_crash_bets_country_code"), table_name="crash_bets")
    op.drop_table("crash_bets")
    op.drop_index("ix_crash_rounds_game_id_id", table_name="crash_rounds")
    op.drop_table("crash_rounds")
    op.drop_table("crash_chain_checkpoints")
    op.drop_index("ix_crash_chains_game_id_id", table_name="crash_chains")
    op.drop_table("crash_chains")
