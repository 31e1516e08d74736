import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import UUID

from letsbet.platform.db import country_code_column, metadata

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    country_code_column(),
    sa.Column("phone", sa.Text, nullable=False, unique=True),  # E.164
    sa.Column("password_hash", sa.Text, nullable=False),
    sa.Column(
        "role",
        sa.Text,
        sa.CheckConstraint("role IN ('player','admin','compliance')", name="role"),
        nullable=False,
        server_default="player",
    ),
    sa.Column(
        "status",
        sa.Text,
        sa.CheckConstraint("status IN ('active','suspended','closed')", name="status"),
        nullable=False,
        server_default="active",
    ),
    sa.Column("first_name", sa.Text),
    sa.Column("last_name", sa.Text),
    sa.Column("date_of_birth", sa.Date, nullable=False),
    # Driven by Smile ID checks and staff review (compliance.kyc); withdrawals need verified.
    sa.Column(
        "kyc_status",
        sa.Text,
        sa.CheckConstraint(
            "kyc_status IN ('unverified','pending','verified','rejected','needs_review')",
            name="kyc_status",
        ),
        nullable=False,
        server_default="unverified",
    ),
    sa.Column(
        "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    ),
    sa.Column(
        "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    ),
)

# One row per refresh token issued. Tokens of one login share a family; presenting a token that
# was already rotated means it leaked, so the whole family is revoked (OAuth 2.0 BCP §4.14).
refresh_tokens = sa.Table(
    "refresh_tokens",
    metadata,
    sa.Column("id", UUID(as_uuid=True), primary_key=True),  # the token's jti
    sa.Column("family_id", UUID(as_uuid=True), nullable=False, index=True),
    sa.Column("user_id", UUID(as_uuid=True), sa.ForeignKey("users.id"), nullable=False, index=True),
    country_code_column(),
    sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("rotated_at", sa.DateTime(timezone=True)),
    sa.Column("revoked_at", sa.DateTime(timezone=True)),
)
