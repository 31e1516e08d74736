"""sportsbook catalogue: sports, competitions, events, markets, outcomes, odds history

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 18:00:41.639953
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sports",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("live_delay_seconds", sa.Integer(), server_default="5", nullable=False),
        sa.Column("sort_order", sa.Integer(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sports")),
    )
    op.create_table(
        "competitions",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("sport_id", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("region", sa.Text(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["sport_id"], ["sports.id"], name=op.f("fk_competitions_sport_id_sports")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_competitions")),
        sa.UniqueConstraint(
            "sport_id", "region", "name", name=op.f("uq_competitions_sport_id_region_name")
        ),
    )
    op.create_table(
        "events",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("sport_id", sa.Text(), nullable=False),
        sa.Column("competition_id", sa.BigInteger(), nullable=False),
        sa.Column("home", sa.Text(), nullable=False),
        sa.Column("away", sa.Text(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.Text(), server_default="scheduled", nullable=False),
        sa.Column(
            "countries",
            postgresql.ARRAY(sa.CHAR(length=2)),
            server_default=sa.text("'{KE,NG,GH}'::bpchar[]"),
            nullable=False,
        ),
        sa.Column("external_id", sa.Text(), nullable=True),
        sa.Column("home_score", sa.Integer(), nullable=True),
        sa.Column("away_score", sa.Integer(), nullable=True),
        sa.Column("max_stake", sa.BigInteger(), nullable=True),
        sa.Column("max_payout", sa.BigInteger(), nullable=True),
        sa.Column("liability_cap", sa.BigInteger(), nullable=True),
        sa.Column("seq", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("home <> away", name=op.f("ck_events_distinct_sides")),
        sa.ForeignKeyConstraint(
            ["competition_id"],
            ["competitions.id"],
            name=op.f("fk_events_competition_id_competitions"),
        ),
        sa.ForeignKeyConstraint(
            ["sport_id"], ["sports.id"], name=op.f("fk_events_sport_id_sports")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
        sa.UniqueConstraint("external_id", name=op.f("uq_events_external_id")),
    )
    op.create_index(op.f("ix_events_competition_id"), "events", ["competition_id"], unique=False)
    op.create_index("ix_events_status_starts_at", "events", ["status", "starts_at"], unique=False)
    op.create_table(
        "markets",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("event_id", sa.BigInteger(), nullable=False),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column("line_hundredths", sa.Integer(), nullable=True),
        sa.Column("status", sa.Text(), server_default="open", nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["event_id"], ["events.id"], name=op.f("fk_markets_event_id_events")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_markets")),
        sa.UniqueConstraint(
            "event_id",
            "type",
            "line_hundredths",
            name=op.f("uq_markets_event_id_type_line_hundredths"),
            postgresql_nulls_not_distinct=True,
        ),
    )
    op.create_table(
        "outcomes",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("market_id", sa.BigInteger(), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("odds_milli", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("result", sa.Text(), nullable=True),
        sa.Column("void_factor", sa.Numeric(precision=6, scale=4), nullable=True),
        sa.Column("dead_heat_factor", sa.Numeric(precision=6, scale=4), nullable=True),
        sa.Column("settled_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "(result IS NULL) = (settled_at IS NULL)", name=op.f("ck_outcomes_settled")
        ),
        sa.ForeignKeyConstraint(
            ["market_id"], ["markets.id"], name=op.f("fk_outcomes_market_id_markets")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outcomes")),
        sa.UniqueConstraint("market_id", "key", name=op.f("uq_outcomes_market_id_key")),
    )
    op.create_table(
        "odds_history",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("outcome_id", sa.BigInteger(), nullable=False),
        sa.Column("odds_milli", sa.Integer(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column(
            "changed_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["outcome_id"], ["outcomes.id"], name=op.f("fk_odds_history_outcome_id_outcomes")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_odds_history")),
    )
    op.create_index(
        "ix_odds_history_outcome_id_id", "odds_history", ["outcome_id", "id"], unique=False
    )

    # Autogenerate leaves out column CHECKs; they are part of the schema, so add them here.
    for table, name, condition in (
        ("sports", "slug", "id ~ '^[a-z][a-z0-9_]{0,31}$'"),
        ("sports", "live_delay_seconds", "live_delay_seconds BETWEEN 0 AND 60"),
        (
            "events",
            "status",
            "status IN ('scheduled','live','suspended','ended','cancelled','postponed')",
        ),
        (
            "events",
            "countries",
            "cardinality(countries) > 0 AND countries <@ ARRAY['KE','NG','GH']::bpchar[]",
        ),
        ("events", "home_score", "home_score >= 0"),
        ("events", "away_score", "away_score >= 0"),
        ("events", "max_stake", "max_stake > 0"),
        ("events", "max_payout", "max_payout > 0"),
        ("events", "liability_cap", "liability_cap > 0"),
        ("markets", "quarter_line", "line_hundredths % 25 = 0"),
        ("markets", "status", "status IN ('open','suspended','closed','settled','cancelled')"),
        ("outcomes", "odds_milli", "odds_milli BETWEEN 1001 AND 1000000"),
        ("outcomes", "result", "result IN ('won','lost')"),
        ("outcomes", "void_factor", "void_factor > 0 AND void_factor <= 1"),
        ("outcomes", "dead_heat_factor", "dead_heat_factor > 0 AND dead_heat_factor < 1"),
        ("odds_history", "odds_milli", "odds_milli BETWEEN 1001 AND 1000000"),
        ("odds_history", "source", "source IN ('admin','feed')"),
    ):
        op.create_check_constraint(op.f(f"ck_{table}_{name}"), table, condition)

    # The sports an operator starts with; a feed or an admin adds more.
    sports = sa.table(
        "sports",
        sa.column("id", sa.Text),
        sa.column("name", sa.Text),
        sa.column("sort_order", sa.Integer),
    )
    op.bulk_insert(
        sports,
        [
            {"id": "football", "name": "Football", "sort_order": 1},
            {"id": "basketball", "name": "Basketball", "sort_order": 2},
            {"id": "tennis", "name": "Tennis", "sort_order": 3},
        ],
    )


def downgrade() -> None:
    op.drop_index("ix_odds_history_outcome_id_id", table_name="odds_history")
    op.drop_table("odds_history")
    op.drop_table("outcomes")
    op.drop_table("markets")
    op.drop_index("ix_events_status_starts_at", table_name="events")
    op.drop_index(op.f("ix_events_competition_id"), table_name="events")
    op.drop_table("events")
    op.drop_table("competitions")
    op.drop_table("sports")
