"""The audit log and its chain head.

`audit_log` is append-only in the database itself: triggers (migration 0006) raise on UPDATE,
DELETE and TRUNCATE, because the application owns the table and REVOKE would not bind it.
`audit_chain_head` is one row (id 1): the seq and hash of the last appended row. Appends lock
it FOR UPDATE, so concurrent appends queue and the chain never forks; its trigger only lets
seq move forward by one.
"""

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, UUID

from letsbet.platform.db import country_code_column, metadata

audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),  # 1, 2, 3, ...
    sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("actor_user_id", UUID(as_uuid=True)),  # None: the system (CLI, a job)
    sa.Column("actor_role", sa.Text, nullable=False),
    country_code_column(),  # the actor's country (the target's for system actions)
    sa.Column("action", sa.Text, nullable=False),
    sa.Column("target_type", sa.Text, nullable=False),
    sa.Column("target_id", sa.Text, nullable=False),
    sa.Column("before", JSONB),
    sa.Column("after", JSONB),
    sa.Column("request_id", sa.Text),
    sa.Column("client_ip", sa.Text),
    sa.Column("prev_hash", sa.CHAR(64), nullable=False),
    sa.Column("hash", sa.CHAR(64), nullable=False),
)
sa.Index("ix_audit_log_actor_user_id_seq", audit_log.c.actor_user_id, audit_log.c.seq)
sa.Index("ix_audit_log_action_seq", audit_log.c.action, audit_log.c.seq)
sa.Index(
    "ix_audit_log_target_type_target_id_seq",
    audit_log.c.target_type,
    audit_log.c.target_id,
    audit_log.c.seq,
)
sa.Index("ix_audit_log_occurred_at", audit_log.c.occurred_at)

audit_chain_head = sa.Table(
    "audit_chain_head",
    metadata,
    sa.Column("id", sa.SmallInteger, primary_key=True, autoincrement=False),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("hash", sa.CHAR(64), nullable=False),
    sa.CheckConstraint("id = 1", name="single_row"),
)
