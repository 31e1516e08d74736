"""Crash games: hash chains (sealed checkpoints, never every link), rounds and bets.

A round row fixes its game hash and crash point when it is created, server side; the API shows
them only once the round has crashed. Multipliers are integer hundredths.
"""

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import UUID

from letsbet.platform.db import country_code_column, metadata

crash_chains = sa.Table(
    "crash_chains",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("game_id", sa.Text, nullable=False),
    sa.Column(
        "length", sa.Integer, sa.CheckConstraint("length > 0", name="length"), nullable=False
    ),
    sa.Column("checkpoint_every", sa.Integer, nullable=False),
    sa.Column("terminating_hash", sa.CHAR(64), nullable=False, unique=True),
    sa.Column("key_check", sa.Text, nullable=False),
    # Pinned by the first round played on the chain; never changed afterwards.
    sa.Column("salt", sa.Text),
    sa.Column("edge", sa.Numeric(5, 2)),
    sa.Column(
        "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    ),
)
sa.Index("ix_crash_chains_game_id_id", crash_chains.c.game_id, crash_chains.c.id)

crash_chain_checkpoints = sa.Table(
    "crash_chain_checkpoints",
    metadata,
    sa.Column("chain_id", sa.BigInteger, sa.ForeignKey("crash_chains.id"), primary_key=True),
    sa.Column("link", sa.Integer, primary_key=True),
    sa.Column("sealed", sa.LargeBinary, nullable=False),
)

crash_rounds = sa.Table(
    "crash_rounds",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("game_id", sa.Text, nullable=False),
    sa.Column("chain_id", sa.BigInteger, sa.ForeignKey("crash_chains.id"), nullable=False),
    sa.Column("game_number", sa.Integer, nullable=False),
    sa.Column(
        "status",
        sa.Text,
        sa.CheckConstraint("status IN ('betting','flying','crashed')", name="status"),
        nullable=False,
    ),
    sa.Column("salt", sa.Text, nullable=False),
    sa.Column("edge", sa.Numeric(5, 2), nullable=False),
    sa.Column("game_hash", sa.CHAR(64), nullable=False),
    sa.Column("crash_point", sa.BigInteger, nullable=False),
    sa.Column("cap_multiplier", sa.BigInteger),
    sa.Column("betting_opens_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("betting_closes_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("started_at", sa.DateTime(timezone=True)),
    sa.Column("crashed_at", sa.DateTime(timezone=True)),
    # One round per link: a hash is never used twice, and the next round takes the next link.
    sa.UniqueConstraint("chain_id", "game_number"),
)
sa.Index("ix_crash_rounds_game_id_id", crash_rounds.c.game_id, crash_rounds.c.id)

crash_bets = sa.Table(
    "crash_bets",
    metadata,
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    sa.Column("round_id", sa.BigInteger, sa.ForeignKey("crash_rounds.id"), nullable=False),
    sa.Column("user_id", UUID(as_uuid=True), sa.ForeignKey("users.id"), nullable=False),
    country_code_column(),
    sa.Column("currency", sa.CHAR(3), nullable=False),
    sa.Column(
        "amount", sa.BigInteger, sa.CheckConstraint("amount > 0", name="amount"), nullable=False
    ),
    sa.Column("stake_tax", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column(
        "auto_cashout",
        sa.BigInteger,
        sa.CheckConstraint("auto_cashout IS NULL OR auto_cashout > 100", name="auto_cashout"),
    ),
    sa.Column(
        "status",
        sa.Text,
        sa.CheckConstraint("status IN ('active','cashed_out','lost')", name="status"),
        nullable=False,
    ),
    sa.Column("cashout_multiplier", sa.BigInteger),
    sa.Column("cashout_kind", sa.Text),  # manual | auto | cap
    sa.Column("payout", sa.BigInteger),  # stake x multiplier, before tax; 0 when lost
    sa.Column("winnings_tax", sa.BigInteger),
    sa.Column("net_payout", sa.BigInteger),  # what the player was credited
    sa.Column("idempotency_key", sa.Text, nullable=False, unique=True),
    sa.Column("request_hash", sa.Text, nullable=False),
    sa.Column("stake_transfer_id", UUID(as_uuid=True)),
    sa.Column("settlement_transfer_id", UUID(as_uuid=True)),
    sa.Column("placed_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("settled_at", sa.DateTime(timezone=True)),
)
sa.Index("ix_crash_bets_round_id_status", crash_bets.c.round_id, crash_bets.c.status)
sa.Index("ix_crash_bets_user_id_placed_at", crash_bets.c.user_id, crash_bets.c.placed_at)
