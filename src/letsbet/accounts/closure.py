"""Account closure: the player's personal data is overwritten, their money records are kept.

What the law asks of us (Kenya's Data Protection Act 2019 s.40, Nigeria's NDPA 2023 s.34,
Ghana's Data Protection Act 2012 s.33: erasure on request) meets what tax and AML law asks
(keep transaction records for years). So the account row stays, with its id, because the
ledger, the bets and the tax records refer to it; what identifies the person goes:

    phone          "closed:<user id>"  unique (the column is), not a phone, says nothing
    first/last     NULL
    date_of_birth  1900-01-01          (the column is NOT NULL)
    password_hash  "!"                 matches no password
and every refresh token is revoked. The old phone number is free for a new registration
(numbers are recycled by carriers). Nothing personal was ever copied elsewhere: the ledger,
bets, outbox and audit log hold user ids only, and Redis lockout keys hold a hash of the phone.

A closed account cannot log in (its phone no longer exists), refresh a session (status), bet,
deposit or withdraw (compliance.eligibility: status must be active). A remaining balance is
paid out by staff by hand (see docs/operations.md, "Closed accounts"); open bets settle into
the wallet as usual.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from letsbet.accounts import repository
from letsbet.accounts.domain import Role
from letsbet.accounts.passwords import verify_password
from letsbet.compliance.audit import service as audit
from letsbet.compliance.audit.domain import Actor
from letsbet.compliance.kyc.tables import kyc_checks
from letsbet.errors import Conflict, Forbidden, NotFound
from letsbet.platform.bus.outbox import Event, record
from letsbet.platform.observability import ACCOUNTS_CLOSED

PLACEHOLDER_DATE_OF_BIRTH = date(1900, 1, 1)
UNUSABLE_PASSWORD_HASH = "!"  # noqa: S105 - not a hash: argon2 verifies nothing against it
ANONYMISED_FIELDS = ("phone", "first_name", "last_name", "date_of_birth", "password_hash")


class AccountNotFound(NotFound):
    code = "user_not_found"
    message = "No such user."


class AccountAlreadyClosed(Conflict):
    code = "account_closed"
    message = "This account is already closed."


class NotAPlayer(Conflict):
    code = "not_a_player"
    message = "Only player accounts are closed this way; staff accounts are managed by admins."


class PasswordIncorrect(Forbidden):
    code = "password_incorrect"
    message = "The password is wrong; the account stays open."


def placeholder_phone(user_id: uuid.UUID) -> str:
    return f"closed:{user_id}"


async def confirm_password(conn: AsyncConnection, user_id: uuid.UUID, password: str) -> None:
    """PasswordIncorrect unless `password` is the account's (a stolen token alone must not
    be enough to erase an account)."""
    user = await repository.user_by_id(conn, user_id)
    if user is None:
        raise AccountNotFound()
    if not await verify_password(str(user.password_hash), password):
        raise PasswordIncorrect()


async def close_account(
    conn: AsyncConnection,
    *,
    user_id: uuid.UUID,
    actor: Actor,
    reason: str,
    now: datetime | None = None,
) -> None:
    """Close and anonymise a player account in the caller's transaction; records
    `accounts.user.closed` and an audit row (no personal data in either)."""
    now = now or datetime.now(UTC)
    user = await repository.lock_user(conn, user_id)
    if user is None:
        raise AccountNotFound()
    if user.role != Role.PLAYER.value:
        raise NotAPlayer()
    if user.status == "closed":
        raise AccountAlreadyClosed()
    await repository.anonymise_user(
        conn,
        user_id,
        phone=placeholder_phone(user_id),
        password_hash=UNUSABLE_PASSWORD_HASH,
        date_of_birth=PLACEHOLDER_DATE_OF_BIRTH,
        at=now,
    )
    # What the ID authority told us about the person goes too; the keyed id hash stays (AML).
    await conn.execute(
        sa.update(kyc_checks)
        .where(kyc_checks.c.user_id == user_id)
        .values(returned_name=None, returned_dob=None)
    )
    sessions = await repository.revoke_all_refresh_tokens(conn, user_id, now)
    by = "player" if actor.user_id == user_id else "staff"
    await record(
        conn,
        Event(
            "accounts.user.closed",
            {"user_id": str(user_id), "country": user.country_code, "by": by},
        ),
    )
    await audit.append(
        conn,
        actor,
        action="accounts.user.close",
        target_type="user",
        target_id=user_id,
        before={"status": user.status},
        after={
            "status": "closed",
            "anonymised": list(ANONYMISED_FIELDS),
            "sessions_revoked": sessions,
            "reason": reason,
        },
        country=user.country_code,
    )
    ACCOUNTS_CLOSED.labels(by).inc()
