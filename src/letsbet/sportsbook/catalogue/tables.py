"""Catalogue schema: sports → competitions → events → markets → outcomes, plus odds history.

Not tenant-scoped: one fixture is offered in several countries, so an event carries the list of
countries where it may be offered (`countries`) instead of a country_code column.

Odds are integer thousandths of decimal odds (`odds_milli`: 2.50 → 2500), exact like money.
Lines are integer hundredths (`line_hundredths`: 2.5 → 250, -0.75 → -75); handicap lines are
the home side's. Bet limits on an event are integer minor units of the bettor's currency
(every tenant currency has two decimals); NULL means "no event-specific limit".
"""

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY

from letsbet.platform.db import metadata
from letsbet.sportsbook.markets import MAX_ODDS_MILLI, MIN_ODDS_MILLI

EVENT_STATUSES = ("scheduled", "live", "suspended", "ended", "cancelled", "postponed")
MARKET_STATUSES = ("open", "suspended", "closed", "settled", "cancelled")


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({','.join(repr(v) for v in values)})"


def _timestamps() -> list[sa.Column[Any]]:
    return [
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
    ]


sports = sa.Table(
    "sports",
    metadata,
    sa.Column(
        "id",
        sa.Text,
        sa.CheckConstraint("id ~ '^[a-z][a-z0-9_]{0,31}$'", name="slug"),
        primary_key=True,
    ),
    sa.Column("name", sa.Text, nullable=False),
    # Live bets wait this long before they are re-priced and accepted (courtsiding defence).
    sa.Column(
        "live_delay_seconds",
        sa.Integer,
        sa.CheckConstraint("live_delay_seconds BETWEEN 0 AND 60", name="live_delay_seconds"),
        nullable=False,
        server_default="5",
    ),
    sa.Column("sort_order", sa.Integer, nullable=False, server_default="0"),
)

competitions = sa.Table(
    "competitions",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("sport_id", sa.Text, sa.ForeignKey("sports.id"), nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("region", sa.Text, nullable=False),  # "England", "Kenya", "International"
    sa.Column(
        "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    ),
    sa.UniqueConstraint("sport_id", "region", "name"),
)

events = sa.Table(
    "events",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("sport_id", sa.Text, sa.ForeignKey("sports.id"), nullable=False),
    sa.Column(
        "competition_id",
        sa.BigInteger,
        sa.ForeignKey("competitions.id"),
        nullable=False,
        index=True,
    ),
    sa.Column("home", sa.Text, nullable=False),
    sa.Column("away", sa.Text, nullable=False),
    sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column(
        "status",
        sa.Text,
        sa.CheckConstraint(_one_of("status", EVENT_STATUSES), name="status"),
        nullable=False,
        server_default="scheduled",
    ),
    # Where the event may be offered; a player sees it only if their country is listed.
    sa.Column(
        "countries",
        ARRAY(sa.CHAR(2)),
        sa.CheckConstraint(
            "cardinality(countries) > 0 AND countries <@ ARRAY['KE','NG','GH']::bpchar[]",
            name="countries",
        ),
        nullable=False,
        server_default=sa.text("'{KE,NG,GH}'::bpchar[]"),
    ),
    sa.Column("external_id", sa.Text, unique=True),  # the data feed's id; NULL for manual events
    sa.Column("home_score", sa.Integer, sa.CheckConstraint("home_score >= 0", name="home_score")),
    sa.Column("away_score", sa.Integer, sa.CheckConstraint("away_score >= 0", name="away_score")),
    # Per-bet and per-event limits in minor units of the bettor's currency; NULL: none set.
    sa.Column("max_stake", sa.BigInteger, sa.CheckConstraint("max_stake > 0", name="max_stake")),
    sa.Column("max_payout", sa.BigInteger, sa.CheckConstraint("max_payout > 0", name="max_payout")),
    sa.Column(
        "liability_cap",
        sa.BigInteger,
        sa.CheckConstraint("liability_cap > 0", name="liability_cap"),
    ),
    # Bumped once per odds or status change of the event or its markets; the live-odds stream
    # orders its messages by it and a reconnecting client resyncs from it.
    sa.Column("seq", sa.BigInteger, nullable=False, server_default="0"),
    *_timestamps(),
    sa.CheckConstraint("home <> away", name="distinct_sides"),
)
sa.Index("ix_events_status_starts_at", events.c.status, events.c.starts_at)

markets = sa.Table(
    "markets",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("event_id", sa.BigInteger, sa.ForeignKey("events.id"), nullable=False),
    sa.Column("type", sa.Text, nullable=False),  # "1x2", "over_under", "asian_handicap", ...
    sa.Column(
        "line_hundredths",
        sa.Integer,
        # Whole, half and quarter lines only: 2.25, 2.5, 2.75, 3.
        sa.CheckConstraint("line_hundredths % 25 = 0", name="quarter_line"),
    ),
    sa.Column(
        "status",
        sa.Text,
        sa.CheckConstraint(_one_of("status", MARKET_STATUSES), name="status"),
        nullable=False,
        server_default="open",
    ),
    *_timestamps(),
    # NULLS NOT DISTINCT (PostgreSQL 15): an event has at most one 1X2 market (line NULL).
    sa.UniqueConstraint("event_id", "type", "line_hundredths", postgresql_nulls_not_distinct=True),
)

outcomes = sa.Table(
    "outcomes",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("market_id", sa.BigInteger, sa.ForeignKey("markets.id"), nullable=False),
    sa.Column("key", sa.Text, nullable=False),  # "home", "draw", "over", "1X", ...
    sa.Column("name", sa.Text, nullable=False),
    sa.Column(
        "odds_milli",
        sa.Integer,
        sa.CheckConstraint(
            f"odds_milli BETWEEN {MIN_ODDS_MILLI} AND {MAX_ODDS_MILLI}", name="odds_milli"
        ),
        nullable=False,
    ),
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
    # Result as Sportradar's bet_settlement gives it: won/lost, plus the share of the stake that
    # is void (0.5 on a half-lost Asian line) and the dead-heat share of a win.
    sa.Column("result", sa.Text, sa.CheckConstraint("result IN ('won','lost')", name="result")),
    sa.Column(
        "void_factor",
        sa.Numeric(6, 4),
        sa.CheckConstraint("void_factor > 0 AND void_factor <= 1", name="void_factor"),
    ),
    sa.Column(
        "dead_heat_factor",
        sa.Numeric(6, 4),
        sa.CheckConstraint(
            "dead_heat_factor > 0 AND dead_heat_factor < 1", name="dead_heat_factor"
        ),
    ),
    sa.Column("settled_at", sa.DateTime(timezone=True)),
    sa.UniqueConstraint("market_id", "key"),
    sa.CheckConstraint("(result IS NULL) = (settled_at IS NULL)", name="settled"),
)

odds_history = sa.Table(
    "odds_history",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("outcome_id", sa.BigInteger, sa.ForeignKey("outcomes.id"), nullable=False),
    sa.Column(
        "odds_milli",
        sa.Integer,
        sa.CheckConstraint(
            f"odds_milli BETWEEN {MIN_ODDS_MILLI} AND {MAX_ODDS_MILLI}", name="odds_milli"
        ),
        nullable=False,
    ),
    sa.Column(
        "source",
        sa.Text,
        sa.CheckConstraint("source IN ('admin','feed')", name="source"),
        nullable=False,
    ),
    sa.Column(
        "changed_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    ),
)
sa.Index("ix_odds_history_outcome_id_id", odds_history.c.outcome_id, odds_history.c.id)
