"""AML alerts, their status history, and the identifiers seen behind accounts.

The withdrawal freeze is a flag on the alert that caused it (`holds_freeze`): a player's
withdrawals are frozen while any of their alerts holds one, so closing one high alert never
unfreezes a player another alert still holds, and eligibility reads one indexed EXISTS.
"""

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, UUID

from letsbet.platform.db import country_code_column, metadata

aml_alerts = sa.Table(
    "aml_alerts",
    metadata,
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    sa.Column("user_id", UUID(as_uuid=True), sa.ForeignKey("users.id"), nullable=False),
    country_code_column(),
    sa.Column("rule", sa.Text, nullable=False),
    sa.Column(
        "severity",
        sa.Text,
        sa.CheckConstraint("severity IN ('low','medium','high')", name="severity"),
        nullable=False,
    ),
    sa.Column(
        "status",
        sa.Text,
        sa.CheckConstraint("status IN ('open','investigating','closed','reported')", name="status"),
        nullable=False,
        server_default="open",
    ),
    sa.Column("dedupe_key", sa.Text, nullable=False),
    sa.Column("evidence", JSONB, nullable=False),
    sa.Column("event_id", UUID(as_uuid=True), nullable=False),  # the event that raised it
    sa.Column("holds_freeze", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)
sa.Index(
    "uq_aml_alerts_user_rule_key",
    aml_alerts.c.user_id,
    aml_alerts.c.rule,
    aml_alerts.c.dedupe_key,
    unique=True,
)
sa.Index("ix_aml_alerts_created_at_id", aml_alerts.c.created_at, aml_alerts.c.id)
sa.Index(
    "ix_aml_alerts_frozen",
    aml_alerts.c.user_id,
    postgresql_where=aml_alerts.c.holds_freeze,
)

aml_alert_history = sa.Table(
    "aml_alert_history",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("alert_id", UUID(as_uuid=True), sa.ForeignKey("aml_alerts.id"), nullable=False),
    country_code_column(),
    sa.Column("from_status", sa.Text),  # NULL when raised
    sa.Column("to_status", sa.Text, nullable=False),
    sa.Column("note", sa.Text, nullable=False),
    sa.Column("freeze", sa.Boolean),  # True: froze withdrawals, False: lifted, NULL: unchanged
    sa.Column("actor_user_id", UUID(as_uuid=True)),  # NULL for the monitoring consumer
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
)
sa.Index("ix_aml_alert_history_alert_id_id", aml_alert_history.c.alert_id, aml_alert_history.c.id)

# Accounts store only their own (unique) phone, so the shared-identity rule needs what else was
# seen with each account: the client IP and device id (X-Device-Id) at registration and login,
# and the phone each payment used. One row per (user, kind, value).
account_identifiers = sa.Table(
    "account_identifiers",
    metadata,
    sa.Column("user_id", UUID(as_uuid=True), sa.ForeignKey("users.id"), primary_key=True),
    sa.Column(
        "kind",
        sa.Text,
        sa.CheckConstraint("kind IN ('ip','device','phone')", name="kind"),
        primary_key=True,
    ),
    sa.Column("value", sa.Text, primary_key=True),
    country_code_column(),
    sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
)
sa.Index(
    "ix_account_identifiers_kind_value", account_identifiers.c.kind, account_identifiers.c.value
)
