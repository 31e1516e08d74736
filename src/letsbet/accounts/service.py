"""Account use cases. Each takes the caller's connection first; the caller owns the transaction."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from letsbet.accounts import repository
from letsbet.accounts.domain import Role, normalise_phone, require_adult
from letsbet.accounts.passwords import hash_password, verify_password
from letsbet.accounts.tokens import InvalidToken, TokenSigner
from letsbet.errors import Conflict, Forbidden, Unauthorized
from letsbet.ledger import service as ledger
from letsbet.platform.bus.outbox import Event, record
from letsbet.tenants import get_tenant


class PhoneTaken(Conflict):
    code = "phone_taken"
    message = "An account with this phone number already exists; log in instead."


class InvalidCredentials(Unauthorized):
    code = "invalid_credentials"
    message = "Phone number or password is wrong."


class AccountDisabled(Forbidden):
    code = "account_disabled"
    message = "This account is suspended or closed; contact support."


class RefreshTokenReused(Unauthorized):
    code = "token_reused"
    message = "This refresh token was already used; every session of this login is revoked."


@dataclass(frozen=True, slots=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int
    token_type: str = "bearer"  # noqa: S105 - the OAuth token type, not a secret


async def register(
    conn: AsyncConnection,
    *,
    phone: str,
    password: str,
    country: str,
    date_of_birth: date,
    first_name: str | None = None,
    last_name: str | None = None,
    role: Role = Role.PLAYER,
    today: date | None = None,
) -> uuid.UUID:
    """Create an account; records `accounts.user.registered`."""
    tenant = get_tenant(country)
    e164 = normalise_phone(phone, tenant)
    require_adult(date_of_birth, today or datetime.now(UTC).date(), tenant)
    user_id = uuid.uuid4()
    created = await repository.insert_user(
        conn,
        user_id=user_id,
        phone=e164,
        password_hash=await hash_password(password),
        country=tenant.code,
        role=role.value,
        date_of_birth=date_of_birth,
        first_name=first_name,
        last_name=last_name,
    )
    if not created:
        raise PhoneTaken()
    await ledger.open_wallet(conn, user_id, tenant.code, tenant.currency)
    await record(
        conn,
        Event(
            "accounts.user.registered",
            {"user_id": str(user_id), "country": tenant.code, "role": role.value},
        ),
    )
    return user_id


async def authenticate(
    conn: AsyncConnection, *, phone: str, password: str, country_hint: str | None = None
) -> tuple[uuid.UUID, Role, str]:
    """(user id, role, country) for a correct phone and password, else InvalidCredentials."""
    e164 = _e164_or_none(phone, country_hint)
    user = await repository.user_by_phone(conn, e164) if e164 else None
    ok = await verify_password(user.password_hash if user else None, password)
    if user is None or not ok:
        raise InvalidCredentials()
    if user.status != "active":
        raise AccountDisabled()
    return user.id, Role(user.role), user.country_code


async def staff_by_phone(conn: AsyncConnection, phone: str, country_hint: str | None) -> Any:
    """The staff account (admin or compliance) with this phone, or None."""
    e164 = _e164_or_none(phone, country_hint)
    user = await repository.user_by_phone(conn, e164) if e164 else None
    return user if user is not None and user.role != Role.PLAYER.value else None


def _e164_or_none(phone: str, country_hint: str | None) -> str | None:
    from letsbet.accounts.domain import InvalidPhone
    from letsbet.tenants import TENANTS

    candidates = [TENANTS[country_hint]] if country_hint in TENANTS else list(TENANTS.values())
    for tenant in candidates:
        try:
            return normalise_phone(phone, tenant)
        except InvalidPhone:
            continue
    return None


async def issue_tokens(
    conn: AsyncConnection,
    signer: TokenSigner,
    *,
    user_id: uuid.UUID,
    role: Role,
    country: str,
    family_id: uuid.UUID | None = None,
    now: datetime | None = None,
) -> TokenPair:
    now = now or datetime.now(UTC)
    token_id = uuid.uuid4()
    family_id = family_id or uuid.uuid4()
    await repository.insert_refresh_token(
        conn,
        token_id=token_id,
        family_id=family_id,
        user_id=user_id,
        country=country,
        issued_at=now,
        expires_at=now + signer.refresh_ttl,
    )
    return TokenPair(
        access_token=signer.access_token(user_id=user_id, role=role, country=country, now=now),
        refresh_token=signer.refresh_token(
            user_id=user_id, token_id=token_id, family_id=family_id, now=now
        ),
        expires_in=int(signer.access_ttl.total_seconds()),
    )


async def rotate_refresh_token(
    conn: AsyncConnection, signer: TokenSigner, token: str, now: datetime | None = None
) -> TokenPair:
    """Exchange a refresh token for a new pair. Reuse of a rotated token revokes its family.

    The caller must commit even when RefreshTokenReused is raised, so the revocation sticks;
    the endpoint does this by returning the error after committing.
    """
    now = now or datetime.now(UTC)
    claims = signer.verify_refresh(token)
    row = await repository.lock_refresh_token(conn, claims.token_id)
    if row is None or row.user_id != claims.user_id:
        raise InvalidToken()
    if row.revoked_at is not None:
        raise InvalidToken("This session was revoked; log in again.")
    if row.rotated_at is not None:
        await repository.revoke_family(conn, row.family_id, now)
        await record(
            conn,
            Event(
                "accounts.session.revoked",
                {
                    "user_id": str(row.user_id),
                    "family_id": str(row.family_id),
                    "reason": "refresh_token_reused",
                },
            ),
        )
        raise RefreshTokenReused()
    user = await repository.user_by_id(conn, row.user_id)
    if user is None or user.status != "active":
        raise AccountDisabled()
    await repository.mark_rotated(conn, row.id, now)
    return await issue_tokens(
        conn,
        signer,
        user_id=user.id,
        role=Role(user.role),
        country=user.country_code,
        family_id=row.family_id,
        now=now,
    )


async def logout(
    conn: AsyncConnection,
    signer: TokenSigner,
    *,
    user_id: uuid.UUID,
    refresh_token: str | None,
    now: datetime | None = None,
) -> None:
    """Revoke the refresh-token family of this session (the access token is denied separately)."""
    if not refresh_token:
        return
    claims = signer.verify_refresh(refresh_token)
    if claims.user_id != user_id:
        raise InvalidToken("That refresh token belongs to another account.")
    await repository.revoke_family(conn, claims.family_id, now or datetime.now(UTC))
