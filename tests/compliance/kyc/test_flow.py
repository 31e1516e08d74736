"""KYC end to end over real HTTP: the api on uvicorn, `letsbet simulate smileid` beside it.

Sync checks, async checks with signed callbacks (forged and repeated ones), the id formats
checked before any call, name/date-of-birth matching, staff review, and the gates the status
opens (withdrawals, betting before KYC)."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from letsbet.accounts.domain import Role
from letsbet.app import create_app
from letsbet.compliance import eligibility
from letsbet.compliance.audit.tables import audit_log
from letsbet.compliance.kyc import provider, wire
from letsbet.compliance.kyc.simulator import State
from letsbet.compliance.kyc.tables import kyc_checks
from letsbet.payments.simulators.common import Running
from letsbet.payments.simulators.run import start_smileid
from letsbet.platform.config import Settings
from letsbet.platform.runtime import Runtime
from letsbet.tenants import get_tenant
from tests.support import free_port, poll_until, random_phone

PASSWORD = "correct horse battery"


@dataclass
class Kyc:
    runtime: Runtime
    api: Running
    smile: Running
    http: httpx.AsyncClient

    @property
    def sim(self) -> State:
        state: State = self.smile.app.state.simulator
        return state

    def use(self, *, asynchronous: bool) -> None:
        """Point the api's Smile ID client at the simulator, sync or async."""
        settings = self.runtime.settings.model_copy(
            update={
                "smile_id_base_url": self.smile.url,
                "smile_id_callback_base_url": self.api.url if asynchronous else "",
            }
        )
        self.runtime.extras[provider._EXTRA_KEY] = provider.build(settings)


@pytest.fixture(scope="module")
async def kyc(settings: Settings) -> AsyncIterator[Kyc]:
    port = free_port()
    smile = await start_smileid()
    runtime = Runtime.create(settings.model_copy(update={"port": port}), role="kyc-test")
    await runtime.start()
    api = await Running(create_app(runtime), "127.0.0.1", port).start()
    http = httpx.AsyncClient(base_url=api.url, timeout=10)
    built = Kyc(runtime, api, smile, http)
    try:
        yield built
    finally:
        await http.aclose()
        await api.stop()
        await smile.stop()
        await provider.close_smile(runtime)
        await runtime.close()


@pytest.fixture
async def sync_kyc(kyc: Kyc) -> Kyc:
    kyc.use(asynchronous=False)
    return kyc


async def _player(http: httpx.AsyncClient, **profile: Any) -> tuple[uuid.UUID, dict[str, str]]:
    phone = random_phone()
    body = {
        "phone": phone,
        "password": PASSWORD,
        "country": "KE",
        "date_of_birth": "1991-04-12",
        "first_name": "Wanjiru",
        "last_name": "Kamau",
        **profile,
    }
    registered = await http.post("/api/auth/register", json=body)
    assert registered.status_code == 201, registered.text
    login = await http.post("/api/auth/login", json={"phone": phone, "password": PASSWORD})
    headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
    return uuid.UUID(registered.json()["id"]), headers


def _staff(runtime: Runtime, role: Role = Role.COMPLIANCE) -> tuple[uuid.UUID, dict[str, str]]:
    staff_id = uuid.uuid4()
    token = runtime.signer.access_token(
        user_id=staff_id, role=role, country="KE", now=datetime.now(UTC)
    )
    return staff_id, {"Authorization": f"Bearer {token}"}


async def _verify(kyc: Kyc, headers: dict[str, str], number: str, **extra: Any) -> httpx.Response:
    body = {"id_type": "NATIONAL_ID", "id_number": number, **extra}
    return await kyc.http.post("/api/kyc/verify-user", json=body, headers=headers)


async def test_a_validated_id_with_matching_names_verifies(sync_kyc: Kyc) -> None:
    user_id, headers = await _player(sync_kyc.http)
    response = await _verify(sync_kyc, headers, "12345678")
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["status"], body["kyc_status"], body["result_code"]) == (
        "verified",
        "verified",
        "1012",
    )
    me = (await sync_kyc.http.get("/api/kyc", headers=headers)).json()
    assert me["kyc_status"] == "verified"
    assert me["checks"][0]["id_number"] == "*****678"  # never the whole number
    assert [h["to_status"] for h in reversed(me["history"])] == ["pending", "verified"]
    again = await _verify(sync_kyc, headers, "12345678")
    assert again.status_code == 409 and again.json()["error"]["code"] == "kyc_already_verified"
    async with sync_kyc.runtime.db.transaction() as conn:
        await eligibility.check(
            conn,
            user_id=user_id,
            country="KE",
            action=eligibility.Action.WITHDRAWAL,
            allowed_countries=["KE"],
        )


@pytest.mark.parametrize(
    ("number", "status", "kyc_status", "http_status"),
    [
        ("12341013", "rejected", "rejected", 200),
        ("12341022", "rejected", "rejected", 200),
        ("12341021", "needs_review", "needs_review", 200),
        ("12340099", "needs_review", "needs_review", 200),  # someone else's id
        ("12341015", "retry", "unverified", 503),
        ("12341016", "error", "unverified", 502),
        ("12341014", "error", "unverified", 502),
    ],
)
async def test_result_codes_set_the_status(
    sync_kyc: Kyc, number: str, status: str, kyc_status: str, http_status: int
) -> None:
    _, headers = await _player(sync_kyc.http)
    response = await _verify(sync_kyc, headers, number)
    assert response.status_code == http_status, response.text
    me = (await sync_kyc.http.get("/api/kyc", headers=headers)).json()
    assert (me["checks"][0]["status"], me["kyc_status"]) == (status, kyc_status)
    if number.endswith("0099"):
        assert (me["checks"][0]["name_match"], me["checks"][0]["dob_match"]) == (False, False)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"id_type": "BVN", "id_number": "22212345678"}, "kyc_id_type_unsupported"),
        ({"id_type": "NATIONAL_ID", "id_number": "1234567890"}, "kyc_id_number_invalid"),
        ({"id_type": "PASSPORT", "id_number": "ak12345"}, "kyc_id_number_invalid"),
        ({"id_type": "NATIONAL_ID"}, "validation_error"),
        ({"id_type": "NATIONAL_ID", "id_number": "1", "extra": 1}, "validation_error"),
    ],
)
async def test_formats_are_checked_before_any_call(
    sync_kyc: Kyc, body: dict[str, Any], code: str
) -> None:
    _, headers = await _player(sync_kyc.http)
    jobs = len(sync_kyc.sim.jobs)
    response = await sync_kyc.http.post("/api/kyc/verify-user", json=body, headers=headers)
    assert response.status_code == 422 and response.json()["error"]["code"] == code
    assert len(sync_kyc.sim.jobs) == jobs  # Smile ID was never called


async def test_only_staff_verify_someone_else(sync_kyc: Kyc) -> None:
    target, _ = await _player(sync_kyc.http)
    _, other = await _player(sync_kyc.http)
    refused = await _verify(sync_kyc, other, "12345678", user_id=str(target))
    assert refused.status_code == 403
    _, staff = _staff(sync_kyc.runtime)
    done = await _verify(sync_kyc, staff, "12345678", user_id=str(target))
    assert done.status_code == 200 and done.json()["kyc_status"] == "verified"


async def test_a_wrong_api_key_is_refused_by_smile(kyc: Kyc) -> None:
    settings = kyc.runtime.settings.model_copy(
        update={"smile_id_base_url": kyc.smile.url, "smile_id_api_key": "not-the-key"}
    )
    kyc.runtime.extras[provider._EXTRA_KEY] = provider.build(settings)
    _, headers = await _player(kyc.http)
    response = await _verify(kyc, headers, "12345678")
    assert response.status_code == 502
    assert response.json()["error"]["details"]["smile_code"] == "2205"
    me = (await kyc.http.get("/api/kyc", headers=headers)).json()
    assert (me["kyc_status"], me["checks"][0]["status"]) == ("unverified", "error")


async def test_async_check_applies_a_signed_callback_once(kyc: Kyc) -> None:
    kyc.use(asynchronous=True)
    kyc.sim.switches.duplicates = 3  # Smile ID retries: our handler must not care
    try:
        _, headers = await _player(kyc.http)
        response = await _verify(kyc, headers, "12345678")
        assert response.status_code == 202, response.text
        assert response.json()["kyc_status"] == "pending"
        job_id = response.json()["job_id"]

        async def done() -> Any:
            me = (await kyc.http.get("/api/kyc", headers=headers)).json()
            return me if me["kyc_status"] != "pending" else None

        me = await poll_until(done)
        assert me["kyc_status"] == "verified"
        await poll_until(lambda: _delivered(kyc, 3))
        me = (await kyc.http.get("/api/kyc", headers=headers)).json()
        assert [h["to_status"] for h in reversed(me["history"])] == ["pending", "verified"]
        # The job id is Smile ID's idempotency key too: a second submission is refused (2215).
        stored = kyc.sim.jobs[job_id]
        resend = wire.request_body(
            wire.IdRequest("KE", "NATIONAL_ID", "12345678", "A", "B", None, job_id, "u"),
            partner_id=provider.SIM_PARTNER_ID,
            api_key=provider.SIM_API_KEY,
            now=datetime.now(UTC),
        )
        duplicate = await kyc.http.post(f"{kyc.smile.url}{wire.SYNC_PATH}", json=resend)
        assert duplicate.status_code == 400 and duplicate.json()["code"] == "2215"
        assert kyc.sim.jobs[job_id] is stored
    finally:
        kyc.sim.switches.duplicates = 1


async def _delivered(kyc: Kyc, count: int) -> bool:
    return len(kyc.sim.deliverer.delivered) >= count


async def test_a_forged_callback_is_refused(kyc: Kyc) -> None:
    kyc.use(asynchronous=True)
    kyc.sim.switches.callback_delay = 2.0  # keep the real result away while we forge one
    try:
        _, headers = await _player(kyc.http)
        response = await _verify(kyc, headers, "12341013")  # Smile ID will say: not found
        job_id = response.json()["job_id"]
        timestamp = wire.timestamp_of(datetime.now(UTC))
        forged = {
            "ResultCode": "1012",
            "PartnerParams": {"job_id": job_id},
            "FullName": "KAMAU WANJIRU",
            "DOB": "1991-04-12",
            "timestamp": timestamp,
            "signature": wire.sign("guessed-key", provider.SIM_PARTNER_ID, timestamp),
        }
        url = "/api/kyc/smile-id/callback"
        bad = await kyc.http.post(url, json=forged)
        assert bad.status_code == 401 and bad.json()["error"]["code"] == "invalid_signature"
        unsigned = await kyc.http.post(
            url, json={k: v for k, v in forged.items() if k != "signature"}
        )
        assert unsigned.status_code == 401
        assert (await kyc.http.post(url, content=b"{not json")).status_code == 400
        async with kyc.runtime.db.connect() as conn:
            status = await conn.scalar(
                sa.select(kyc_checks.c.status).where(kyc_checks.c.job_id == job_id)
            )
        assert status == "submitted"

        async def final() -> Any:
            me = (await kyc.http.get("/api/kyc", headers=headers)).json()
            return me if me["kyc_status"] != "pending" else None

        assert (await poll_until(final))["kyc_status"] == "rejected"
    finally:
        kyc.sim.switches.callback_delay = 0.05


async def test_staff_review_is_audited_and_gates_withdrawals(sync_kyc: Kyc) -> None:
    user_id, headers = await _player(sync_kyc.http)
    await _verify(sync_kyc, headers, "12341021")  # partial match: needs review
    async with sync_kyc.runtime.db.transaction() as conn:
        with pytest.raises(eligibility.KycRequired):
            await eligibility.check(
                conn,
                user_id=user_id,
                country="KE",
                action=eligibility.Action.WITHDRAWAL,
                allowed_countries=["KE"],
            )
    staff_id, staff = _staff(sync_kyc.runtime)
    record = await sync_kyc.http.get(f"/api/admin/kyc/{user_id}", headers=staff)
    assert record.status_code == 200 and record.json()["kyc_status"] == "needs_review"
    assert (
        await sync_kyc.http.get(f"/api/admin/kyc/{user_id}", headers=headers)
    ).status_code == 403
    reviewed = await sync_kyc.http.put(
        f"/api/admin/users/{user_id}/kyc",
        json={"status": "verified", "reason": "card seen on video call"},
        headers=staff,
    )
    assert reviewed.status_code == 200, reviewed.text
    assert reviewed.json()["kyc_status"] == "verified"
    async with sync_kyc.runtime.db.connect() as conn:
        row = (
            await conn.execute(
                sa.select(audit_log)
                .where(audit_log.c.target_id == str(user_id))
                .order_by(audit_log.c.seq.desc())
                .limit(1)
            )
        ).one()
    assert (row.action, row.actor_user_id) == ("accounts.kyc.set", staff_id)
    assert row.before["kyc_status"] == "needs_review" and row.after["kyc_status"] == "verified"
    history = (await sync_kyc.http.get("/api/kyc", headers=headers)).json()["history"]
    assert history[0]["by_staff"] is True
    bad = await sync_kyc.http.put(
        f"/api/admin/users/{user_id}/kyc", json={"status": "pending"}, headers=staff
    )
    assert bad.status_code == 422


def test_betting_before_kyc_is_a_tenant_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    import letsbet.compliance.eligibility as module

    unverified = eligibility.Inputs("active", date_of_birth=date(1991, 4, 12))
    kenya = get_tenant("KE")
    for action in (eligibility.Action.SPORTS_BET, eligibility.Action.CRASH_BET):
        eligibility.decide(unverified, country="KE", action=action, allowed_countries=["KE"])
    strict = dataclasses.replace(kenya, allow_betting_before_kyc=False)
    monkeypatch.setattr(module, "get_tenant", lambda code: strict)
    for action in (eligibility.Action.SPORTS_BET, eligibility.Action.CRASH_BET):
        with pytest.raises(eligibility.KycRequired):
            eligibility.decide(unverified, country="KE", action=action, allowed_countries=["KE"])
