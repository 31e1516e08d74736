"""AML monitoring on real PostgreSQL and NATS: the consumer, freezes, the admin API."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from letsbet.compliance.aml import consumers
from letsbet.compliance.aml import service as aml
from letsbet.compliance.aml.domain import Kind, PaymentFact
from letsbet.compliance.aml.tables import aml_alerts
from letsbet.platform.bus.consumer import Consumer
from letsbet.platform.bus.outbox import Event
from letsbet.platform.bus.tables import inbox, outbox
from letsbet.platform.runtime import Runtime
from letsbet.tenants import get_tenant
from tests.payments.conftest import Stack
from tests.payments.helpers import (
    Player,
    admin,
    deposit,
    fund,
    player,
    settled,
    verify_kyc,
    withdraw,
)
from tests.support import poll_until

KE = get_tenant("KE")


async def _alerts(runtime: Runtime, user_id: uuid.UUID) -> list[Any]:
    async with runtime.db.connect() as conn:
        result = await conn.execute(
            sa.select(aml_alerts).where(aml_alerts.c.user_id == user_id).order_by(aml_alerts.c.rule)
        )
        return list(result)


async def _succeeded_event(runtime: Runtime, payment_id: str) -> Event:
    async with runtime.db.connect() as conn:
        payload = (
            await conn.execute(
                sa.select(outbox.c.payload).where(
                    outbox.c.subject == "payments.deposit.succeeded",
                    outbox.c.payload["data"]["payment_id"].astext == payment_id,
                )
            )
        ).scalar_one()
    import orjson

    return Event.from_envelope(orjson.dumps(payload))


async def _large_deposit(payments: Stack) -> tuple[Player, Event]:
    user = await player(payments.http)
    await verify_kyc(payments.http, payments.runtime, user)
    response = await deposit(payments.http, user, str(KE.aml.large_deposit // 100))
    assert response.status_code == 201, response.text
    assert (await settled(payments.http, user, response.json()["id"]))["status"] == "succeeded"
    return user, await _succeeded_event(payments.runtime, response.json()["id"])


async def test_consumer_raises_once_on_redelivery(payments: Stack) -> None:
    runtime = payments.runtime
    user, event = await _large_deposit(payments)
    consumer = Consumer(
        runtime.db, runtime.bus, name=consumers.NAME, subject="x", handler=consumers.on_payment
    )
    assert await consumer.handle(event) is True
    assert await consumer.handle(event) is False  # the inbox
    # Another consumer (or an inbox lost to a restore) still raises nothing twice.
    other = Consumer(
        runtime.db, runtime.bus, name="aml-replay", subject="x", handler=consumers.on_payment
    )
    assert await other.handle(event) is True
    [alert] = await _alerts(runtime, user.id)
    assert (alert.rule, alert.severity, alert.status) == ("large_deposit", "medium", "open")
    assert (alert.evidence["amount"], alert.holds_freeze) == (KE.aml.large_deposit, False)


async def test_consumer_reads_the_events_stream(payments: Stack) -> None:
    """Through JetStream: the subject is inside the stream and a re-published copy (a relay
    retry past the duplicate window) changes nothing."""
    runtime = payments.runtime
    user, event = await _large_deposit(payments)
    name = f"aml-test-{uuid.uuid4().hex[:8]}"
    consumer = Consumer(
        runtime.db, runtime.bus, name=name, subject=event.subject, handler=consumers.on_payment
    )
    import orjson

    body = orjson.dumps(event.envelope())
    await runtime.bus.publish(event.subject, body, msg_id=str(event.event_id))
    await runtime.bus.publish(event.subject, body, msg_id=f"{event.event_id}-again")
    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run(stop))

    async def handled() -> bool:
        async with runtime.db.connect() as conn:
            return bool(
                (
                    await conn.execute(
                        sa.select(sa.func.count())
                        .select_from(inbox)
                        .where(inbox.c.consumer == name, inbox.c.event_id == event.event_id)
                    )
                ).scalar_one()
            )

    try:
        await poll_until(handled, timeout=15)
        await poll_until(lambda: _alerts(runtime, user.id), timeout=5)
    finally:
        stop.set()
        await task
        await runtime.bus.js.delete_consumer("EVENTS", name)
    assert [a.rule for a in await _alerts(runtime, user.id)] == ["large_deposit"]


async def test_shared_device_behind_many_accounts(payments: Stack) -> None:
    runtime = payments.runtime
    device = f"dev-{uuid.uuid4().hex}"
    users = []
    for _ in range(KE.aml.shared_accounts):
        user = await player(payments.http)
        response = await payments.http.post(
            "/api/auth/login",
            json={"phone": user.phone, "password": "correct horse battery"},
            headers={"X-Device-Id": device},
        )
        assert response.status_code == 200
        users.append(user)
    fact = PaymentFact(
        uuid.uuid4(), users[0].id, "KE", "KES", Kind.DEPOSIT, 100_00, datetime.now(UTC)
    )
    async with runtime.db.transaction() as conn:
        raised = await aml.monitor(conn, fact, event_id=uuid.uuid4(), now=datetime.now(UTC))
    assert [(r.draft.rule.value, r.draft.severity.value) for r in raised] == [
        ("shared_identity", "medium")
    ]
    evidence = raised[0].draft.evidence
    assert (evidence["identifier"], evidence["accounts"]) == ("device", KE.aml.shared_accounts)
    assert sorted(evidence["other_user_ids"]) == sorted(str(u.id) for u in users[1:])
    async with runtime.db.transaction() as conn:  # once per identifier, not per payment
        assert await aml.monitor(conn, fact, event_id=uuid.uuid4(), now=datetime.now(UTC)) == []


async def test_loopback_and_private_addresses_are_not_identifiers() -> None:
    assert aml.public_ip("127.0.0.1") is None and aml.public_ip("10.1.2.3") is None
    assert aml.public_ip("41.90.64.1") == "41.90.64.1"
    assert aml.public_ip("not an ip") is None
    assert aml.clean_identifier("x" * 129) is None and aml.clean_identifier(" a\n") == "a"


async def _high_alert(runtime: Runtime, user: Player) -> str:
    fact = PaymentFact(
        uuid.uuid4(),
        user.id,
        "KE",
        "KES",
        Kind.WITHDRAWAL,
        KE.aml.very_large_withdrawal,
        datetime.now(UTC),
    )
    async with runtime.db.transaction() as conn:
        raised = await aml.monitor(conn, fact, event_id=uuid.uuid4(), now=datetime.now(UTC))
    [high] = [r for r in raised if r.froze]
    return str(high.alert_id)


async def _patch(payments: Stack, headers: dict[str, str], alert_id: str, **body: Any) -> Any:
    return await payments.http.patch(
        f"/api/admin/aml/alerts/{alert_id}", json=body, headers=headers
    )


async def test_high_alert_freezes_withdrawals_until_closed(payments: Stack) -> None:
    runtime = payments.runtime
    user = await player(payments.http)
    await verify_kyc(payments.http, runtime, user)
    await fund(runtime, user, "KE", "KES", 2_000_00)
    first = await _high_alert(runtime, user)
    second = await _high_alert(runtime, user)
    response = await withdraw(payments.http, user, "500")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "withdrawals_frozen"

    staff = await admin(payments.http, runtime)
    for alert_id in (first, second):
        assert (
            await _patch(payments, staff, alert_id, status="investigating", note="looking")
        ).status_code == 200
    closed = await _patch(payments, staff, first, status="closed", note="salary, documented")
    assert closed.status_code == 200, closed.text
    assert (closed.json()["status"], closed.json()["holds_freeze"]) == ("closed", False)
    # The other high alert still holds its freeze.
    assert (await withdraw(payments.http, user, "500")).json()["error"][
        "code"
    ] == "withdrawals_frozen"
    reported = (await _patch(payments, staff, second, status="reported", note="STR filed")).json()
    assert (reported["status"], reported["holds_freeze"]) == ("reported", True)
    assert (await withdraw(payments.http, user, "500")).status_code == 403
    lifted = (await _patch(payments, staff, second, unfreeze=True, note="FIU cleared")).json()
    assert (lifted["status"], lifted["holds_freeze"]) == ("reported", False)
    assert [(h["from_status"], h["to_status"], h["freeze"]) for h in lifted["history"]] == [
        (None, "open", True),
        ("open", "investigating", None),
        ("investigating", "reported", None),
        ("reported", "reported", False),
    ]
    response = await withdraw(payments.http, user, "500")
    assert response.status_code == 201, response.text

    # Audited, one row per staff change.
    audit = await payments.http.get(
        "/api/admin/audit",
        params={"target_type": "aml_alert", "target_id": second},
        headers=staff,
    )
    assert [e["after"]["status"] for e in reversed(audit.json()["items"])] == [
        "investigating",
        "reported",
        "reported",
    ]


async def test_admin_api_filters_pages_and_refuses_bad_input(payments: Stack) -> None:
    runtime = payments.runtime
    user = await player(payments.http)
    ids = [await _high_alert(runtime, user) for _ in range(3)]
    staff = await admin(payments.http, runtime)
    url = "/api/admin/aml/alerts"

    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"user": str(user.id), "severity": "high", "limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = (await payments.http.get(url, params=params, headers=staff)).json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(ids) and len(seen) == 3
    filtered = await payments.http.get(
        url,
        params={"user": str(user.id), "status": "closed", "rule": "large_withdrawal"},
        headers=staff,
    )
    assert filtered.json()["items"] == []

    assert (await payments.http.get(url, headers=user.headers)).status_code == 403
    assert (await payments.http.get(url)).status_code == 401
    bad = await payments.http.get(url, params={"cursor": "!!"}, headers=staff)
    assert (bad.status_code, bad.json()["error"]["code"]) == (422, "invalid_cursor")
    forged = await payments.http.get(url, params={"cursor": "YWJj"}, headers=staff)
    assert (forged.status_code, forged.json()["error"]["code"]) == (422, "invalid_cursor")
    assert (
        await payments.http.get(url, params={"severity": "huge"}, headers=staff)
    ).status_code == 422

    skip = await _patch(payments, staff, ids[0], status="closed", note="no")
    assert (skip.status_code, skip.json()["error"]["code"]) == (409, "invalid_transition")
    missing = await _patch(payments, staff, str(uuid.uuid4()), status="investigating", note="x")
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "alert_not_found")
    assert (await _patch(payments, staff, ids[0], status="open", note="x")).status_code == 422
    assert (await _patch(payments, staff, ids[0], status="investigating")).status_code == 422
    assert (await _patch(payments, staff, ids[0], note="only a note")).json()["error"]["code"] == (
        "nothing_to_change"
    )
    assert (await _patch(payments, staff, "not-a-uuid", note="x", unfreeze=True)).status_code == 422
    assert (
        await _patch(payments, user.headers, ids[0], status="investigating", note="x")
    ).status_code == 403
