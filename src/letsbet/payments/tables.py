"""Payments schema: one row per deposit or withdrawal, with the provider's references.

Uniqueness does the exactly-once work: one payment per (user, idempotency key), one per provider
reference (CheckoutRequestID, OriginatorConversationID, tx_ref, transfer reference) and one per
provider receipt (MpesaReceiptNumber, TransactionID, flw_ref), so a replayed callback can never
attach to a second payment.
"""

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, UUID

from letsbet.platform.db import country_code_column, metadata

payments = sa.Table(
    "payments",
    metadata,
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    sa.Column("user_id", UUID(as_uuid=True), sa.ForeignKey("users.id"), nullable=False),
    country_code_column(),
    sa.Column("currency", sa.CHAR(3), nullable=False),
    sa.Column(
        "direction",
        sa.Text,
        sa.CheckConstraint("direction IN ('deposit','withdrawal')", name="direction"),
        nullable=False,
    ),
    sa.Column(
        "provider",
        sa.Text,
        sa.CheckConstraint("provider IN ('mpesa','flutterwave')", name="provider"),
        nullable=False,
    ),
    sa.Column(
        "status",
        sa.Text,
        sa.CheckConstraint(
            "status IN ('initiated','pending','succeeded','failed','timed_out')", name="status"
        ),
        nullable=False,
    ),
    # Minor units. Deposit: gross paid in, tax (excise), net credited. Withdrawal: gross held
    # and debited, tax (withholding), net sent.
    sa.Column("amount", sa.BigInteger, nullable=False),
    sa.Column("tax", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("net", sa.BigInteger, nullable=False),
    sa.Column("tax_regime_id", sa.Text),
    # The tax lines priced at request time: [{kind, account, rate, taxable, amount}]; the
    # ledger postings are made from these, so a later regime change cannot alter a payment.
    sa.Column("tax_lines", JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")),
    sa.Column("idempotency_key", sa.Text, nullable=False, unique=True),  # user id + client key
    sa.Column("request_hash", sa.Text, nullable=False),
    sa.Column("phone", sa.Text),  # E.164 the provider pays from / to
    sa.Column("destination", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
    sa.Column("callback_token_hash", sa.Text, nullable=False),  # sha256 of the URL token
    sa.Column("provider_reference", sa.Text),
    sa.Column("provider_request_id", sa.Text),  # MerchantRequestID / ConversationID / flw id
    sa.Column("receipt", sa.Text),
    sa.Column("checkout_url", sa.Text),
    sa.Column("result_code", sa.Text),
    sa.Column("result_desc", sa.Text),
    sa.Column("reason", sa.Text),
    sa.Column("hold_id", UUID(as_uuid=True)),
    sa.Column("transfer_id", UUID(as_uuid=True)),
    sa.Column("queries", sa.Integer, nullable=False, server_default="0"),
    sa.Column("last_query_at", sa.DateTime(timezone=True)),
    sa.Column(
        "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    ),
    sa.Column(
        "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    ),
    sa.Column("completed_at", sa.DateTime(timezone=True)),
    sa.CheckConstraint("amount > 0 AND tax >= 0 AND net > 0 AND tax + net = amount", name="split"),
)
sa.Index(
    "uq_payments_provider_reference",
    payments.c.provider,
    payments.c.provider_reference,
    unique=True,
    postgresql_where=payments.c.provider_reference.is_not(None),
)
sa.Index(
    "uq_payments_provider_receipt",
    payments.c.provider,
    payments.c.receipt,
    unique=True,
    postgresql_where=payments.c.receipt.is_not(None),
)
sa.Index("ix_payments_user_id_created_at", payments.c.user_id, payments.c.created_at)
sa.Index(
    "ix_payments_open",
    payments.c.created_at,
    postgresql_where=payments.c.status.in_(["initiated", "pending"]),
)
