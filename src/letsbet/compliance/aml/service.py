"""AML use cases: monitor a payment (the consumer), move an alert (staff), record identifiers.

Each takes the caller's connection first; the caller owns the transaction.

Freezing: a high alert sets its `holds_freeze` flag when raised, and eligibility refuses the
player's withdrawals (`withdrawals_frozen`) while any alert of theirs holds one. Staff lift an
alert's hold by closing it as `closed` (no suspicion), or explicitly (`unfreeze`) for an alert
they keep open or have `reported` to the FIU, whose freeze otherwise stays. Another alert still
holding a freeze keeps the player frozen either way.
"""

from __future__ import annotations

import ipaddress
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from letsbet.compliance.aml import repository as repo
from letsbet.compliance.aml.domain import (
    AlertDraft,
    History,
    PaymentFact,
    Severity,
    Status,
    check_transition,
    evaluate,
    releases_freeze,
)
from letsbet.errors import NotFound, Unprocessable
from letsbet.platform.bus.outbox import Event, record
from letsbet.platform.observability import AML_ALERTS, AML_FREEZES, get_logger
from letsbet.tenants import get_tenant

log = get_logger(__name__)
IDENTIFIER_MAX_CHARS = 128


class AlertNotFound(NotFound):
    code = "alert_not_found"
    message = "No such AML alert."


class NothingToChange(Unprocessable):
    code = "nothing_to_change"
    message = "Send a status, or unfreeze: true."


@dataclass(frozen=True, slots=True)
class Raised:
    alert_id: uuid.UUID
    draft: AlertDraft
    froze: bool


async def read_history(conn: AsyncConnection, fact: PaymentFact) -> History:
    """The window the rules need for this payment: deposits and alerts over the longest rule
    window, stakes since the turnover window opened, and shared identifiers."""
    limits = get_tenant(fact.country).aml
    turnover_since = fact.at - limits.turnover_window
    since = fact.at - max(limits.turnover_window, limits.velocity_window)
    return History(
        deposits=tuple(await repo.deposits_since(conn, fact.user_id, since)),
        wagered=await repo.wagered_since(conn, fact.user_id, turnover_since),
        wagered_since=turnover_since,
        shared=tuple(await repo.shared_identifiers(conn, fact.user_id)),
        recent_alerts=tuple(await repo.recent_alerts(conn, fact.user_id, since)),
    )


async def monitor(
    conn: AsyncConnection, fact: PaymentFact, *, event_id: uuid.UUID, now: datetime
) -> list[Raised]:
    """Run every rule on one payment and store the alerts it raises (once each)."""
    history = await read_history(conn, fact)
    drafts = evaluate(fact, history, get_tenant(fact.country).aml)
    return [
        raised
        for draft in drafts
        if (raised := await _raise(conn, fact, draft, event_id=event_id, now=now)) is not None
    ]


async def _raise(
    conn: AsyncConnection,
    fact: PaymentFact,
    draft: AlertDraft,
    *,
    event_id: uuid.UUID,
    now: datetime,
) -> Raised | None:
    alert_id = uuid.uuid4()
    freeze = draft.severity == Severity.HIGH
    inserted = await repo.insert_alert(
        conn,
        id=alert_id,
        user_id=fact.user_id,
        country_code=fact.country,
        rule=draft.rule.value,
        severity=draft.severity.value,
        status=Status.OPEN.value,
        dedupe_key=draft.dedupe_key[:200],
        evidence=dict(draft.evidence),
        event_id=event_id,
        holds_freeze=freeze,
        created_at=now,
        updated_at=now,
    )
    if not inserted:
        return None  # the same pattern was already raised for this player
    await repo.insert_history(
        conn,
        alert_id=alert_id,
        country_code=fact.country,
        from_status=None,
        to_status=Status.OPEN.value,
        note=f"raised by rule {draft.rule.value}",
        freeze=True if freeze else None,
        actor_user_id=None,
        at=now,
    )
    await record(
        conn,
        Event(
            "compliance.aml.alert_raised",
            {
                "alert_id": str(alert_id),
                "user_id": str(fact.user_id),
                "country": fact.country,
                "rule": draft.rule.value,
                "severity": draft.severity.value,
                "withdrawals_frozen": freeze,
            },
        ),
    )
    AML_ALERTS.labels(draft.rule.value, draft.severity.value).inc()
    if freeze:
        AML_FREEZES.labels("placed").inc()
    log.warning(
        "aml.alert_raised",
        alert_id=str(alert_id),
        user_id=str(fact.user_id),
        rule=draft.rule.value,
        severity=draft.severity.value,
        frozen=freeze,
    )
    return Raised(alert_id, draft, freeze)


@dataclass(frozen=True, slots=True)
class Changed:
    country: str
    before: dict[str, Any]
    after: dict[str, Any]
    player_frozen: bool


async def change(
    conn: AsyncConnection,
    alert_id: uuid.UUID,
    *,
    status: Status | None,
    note: str,
    unfreeze: bool,
    actor: uuid.UUID | None,
    now: datetime,
) -> Changed:
    """Staff move an alert (valid transitions only, else 409) and/or lift its freeze."""
    if status is None and not unfreeze:
        raise NothingToChange()
    row = await repo.alert(conn, alert_id, for_update=True)
    if row is None:
        raise AlertNotFound()
    current = Status(row.status)
    target = status or current
    if status is not None:
        check_transition(current, status)
    lift = row.holds_freeze and (unfreeze or releases_freeze(target))
    await repo.update_alert(
        conn,
        alert_id,
        status=target.value,
        holds_freeze=row.holds_freeze and not lift,
        updated_at=now,
    )
    await repo.insert_history(
        conn,
        alert_id=alert_id,
        country_code=row.country_code,
        from_status=current.value,
        to_status=target.value,
        note=note,
        freeze=False if lift else None,
        actor_user_id=actor,
        at=now,
    )
    if lift:
        AML_FREEZES.labels("lifted").inc()
    return Changed(
        country=row.country_code,
        before={"status": current.value, "holds_freeze": row.holds_freeze},
        after={"status": target.value, "holds_freeze": row.holds_freeze and not lift},
        player_frozen=await repo.frozen(conn, row.user_id),
    )


def public_ip(value: str | None) -> str | None:
    """A globally routable address, or None: loopback and private addresses (tests, a proxy
    that hides the client) would tie unrelated accounts together."""
    try:
        address = ipaddress.ip_address((value or "").strip())
    except ValueError:
        return None
    return str(address) if address.is_global else None


def clean_identifier(value: str | None) -> str | None:
    """A header value fit to store (printable, bounded), or None."""
    if value is None:
        return None
    value = value.strip()
    if not value or len(value) > IDENTIFIER_MAX_CHARS or not value.isprintable():
        return None
    return value


async def seen(
    conn: AsyncConnection,
    *,
    user_id: uuid.UUID,
    country: str,
    ip: str | None,
    device: str | None,
    phone: str | None = None,
    now: datetime,
) -> None:
    """Remember the client IP and device id an account registered or logged in from (and its
    own phone at registration, so a payment phone of another account matches it)."""
    identifiers = (
        ("ip", public_ip(ip)),
        ("device", clean_identifier(device)),
        ("phone", clean_identifier(phone)),
    )
    for kind, value in identifiers:
        if value is not None:
            await repo.record_identifier(
                conn, user_id=user_id, country=country, kind=kind, value=value, now=now
            )
