"""Bets as placed: the bet, its legs (prices the server accepted), its expanded lines, its
status history, and per-event liability."""

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, UUID

from letsbet.platform.db import country_code_column, metadata

BET_STATUSES = ("pending", "open", "rejected", "won", "lost", "void", "cashed_out")

bets = sa.Table(
    "bets",
    metadata,
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    sa.Column("user_id", UUID(as_uuid=True), sa.ForeignKey("users.id"), nullable=False),
    country_code_column(),
    sa.Column("currency", sa.CHAR(3), nullable=False),
    sa.Column(
        "bet_type",
        sa.Text,
        sa.CheckConstraint("bet_type IN ('single','multi','system')", name="bet_type"),
        nullable=False,
    ),
    sa.Column("system", sa.Text),  # "2/3" or a named system
    sa.Column("stake_per_line", sa.BigInteger, nullable=False),
    sa.Column("line_count", sa.Integer, nullable=False),
    sa.Column("total_stake", sa.BigInteger, nullable=False),
    sa.Column("stake_tax", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("potential_return", sa.BigInteger, nullable=False),
    sa.Column("max_payout", sa.BigInteger),
    sa.Column(
        "status",
        sa.Text,
        sa.CheckConstraint(
            "status IN ('pending','open','rejected','won','lost','void','cashed_out')",
            name="status",
        ),
        nullable=False,
    ),
    sa.Column("reject_code", sa.Text),
    sa.Column("odds_change", sa.Text, nullable=False),
    sa.Column("live", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("idempotency_key", sa.Text, nullable=False, unique=True),
    sa.Column("request_hash", sa.Text, nullable=False),
    sa.Column("stake_transfer_id", UUID(as_uuid=True)),
    sa.Column("hold_id", UUID(as_uuid=True)),  # live bets wait on a hold, not a debit
    sa.Column("accept_after", sa.DateTime(timezone=True)),  # live delay
    sa.Column("return_amount", sa.BigInteger),
    sa.Column("winnings_tax", sa.BigInteger),
    sa.Column("payout", sa.BigInteger),
    sa.Column("settlement_transfer_id", UUID(as_uuid=True)),
    sa.Column(
        "placed_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    ),
    sa.Column("settled_at", sa.DateTime(timezone=True)),
    sa.CheckConstraint("stake_per_line > 0 AND total_stake > 0", name="stake_positive"),
)
sa.Index("ix_bets_user_id_placed_at", bets.c.user_id, bets.c.placed_at)
sa.Index(
    "ix_bets_pending_accept_after",
    bets.c.accept_after,
    postgresql_where=bets.c.status == "pending",
)

bet_legs = sa.Table(
    "bet_legs",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("bet_id", UUID(as_uuid=True), sa.ForeignKey("bets.id"), nullable=False),
    sa.Column("leg_no", sa.SmallInteger, nullable=False),
    sa.Column("event_id", sa.BigInteger, sa.ForeignKey("events.id"), nullable=False),
    sa.Column("market_id", sa.BigInteger, sa.ForeignKey("markets.id"), nullable=False),
    sa.Column("outcome_id", sa.BigInteger, sa.ForeignKey("outcomes.id"), nullable=False),
    sa.Column("odds_milli", sa.Integer, nullable=False),  # the server's price, accepted
    sa.Column("seen_odds_milli", sa.Integer, nullable=False),  # what the player saw
    sa.Column("result", sa.Text),  # won | lost, once the market is resulted
    sa.Column("void_factor", sa.Numeric(6, 4)),
    sa.Column("dead_heat_factor", sa.Numeric(6, 4)),
    sa.UniqueConstraint("bet_id", "leg_no"),
)
sa.Index("ix_bet_legs_outcome_id", bet_legs.c.outcome_id)
sa.Index("ix_bet_legs_market_id", bet_legs.c.market_id)

bet_lines = sa.Table(
    "bet_lines",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("bet_id", UUID(as_uuid=True), sa.ForeignKey("bets.id"), nullable=False),
    sa.Column("line_no", sa.Integer, nullable=False),
    sa.Column("legs", ARRAY(sa.SmallInteger), nullable=False),
    sa.Column("stake", sa.BigInteger, nullable=False),
    sa.Column("return_amount", sa.BigInteger),
    sa.UniqueConstraint("bet_id", "line_no"),
)

bet_status_history = sa.Table(
    "bet_status_history",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("bet_id", UUID(as_uuid=True), sa.ForeignKey("bets.id"), nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("reason", sa.Text),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
)
sa.Index("ix_bet_status_history_bet_id", bet_status_history.c.bet_id)

# Potential payout exposed per event and currency (open and pending bets); capped per event.
event_liability = sa.Table(
    "event_liability",
    metadata,
    sa.Column("event_id", sa.BigInteger, sa.ForeignKey("events.id"), primary_key=True),
    sa.Column("currency", sa.CHAR(3), primary_key=True),
    sa.Column("exposure", sa.BigInteger, nullable=False, server_default="0"),
)
