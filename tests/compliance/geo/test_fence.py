"""The geofence on the money endpoints, through the ASGI app with real client addresses:
a forged country header from an untrusted peer changes nothing; unknown places fail closed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from letsbet.app import create_app
from letsbet.platform.config import Settings
from letsbet.platform.runtime import Runtime
from tests.compliance.geo.mmdb import write_country_db
from tests.sportsbook.bets.helpers import bet_body, funded_player
from tests.sportsbook.catalogue.helpers import admin_headers, event_body, outcome_ids

PROXY = "10.0.0.5"


@pytest.fixture(scope="module")
async def fenced(
    settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Runtime]:
    db = write_country_db(tmp_path_factory.mktemp("fence") / "countries.mmdb")
    runtime = Runtime.create(
        settings.model_copy(
            update={
                "geo_enforce": True,
                "geoip_db_path": db,
                "geo_trusted_proxies": ["10.0.0.0/8"],
            }
        ),
        role="geo-test",
    )
    await runtime.start()
    try:
        yield runtime
    finally:
        await runtime.close()


def _client(runtime: Runtime, peer: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(
        app=create_app(runtime), raise_app_exceptions=False, client=(peer, 40000)
    )
    return httpx.AsyncClient(transport=transport, base_url="http://test")


async def _event(runtime: Runtime) -> tuple[int, str]:
    async with _client(runtime, "192.0.2.10") as client:
        created = await client.post(
            "/api/admin/events", json=event_body(), headers=admin_headers(runtime)
        )
    assert created.status_code == 201, created.text
    event = created.json()
    home = outcome_ids(event, "1x2")["home"]
    odds = next(o["odds"] for m in event["markets"] for o in m["outcomes"] if o["id"] == home)
    return home, odds


@pytest.mark.parametrize(
    ("peer", "headers", "code"),
    [
        ("192.0.2.10", {}, None),  # in Kenya
        ("192.0.2.10", {"cf-ipcountry": "NG"}, None),  # an untrusted header changes nothing
        ("198.51.100.7", {"cf-ipcountry": "KE"}, "location_mismatch"),  # forged, from Nigeria
        ("198.51.100.7", {"x-forwarded-for": "192.0.2.10"}, "location_mismatch"),  # spoofed
        ("8.8.8.8", {}, "location_unknown"),
        ("100.64.0.1", {}, "location_not_allowed"),  # Britain
        (PROXY, {"cf-ipcountry": "KE"}, None),  # the CDN says Kenya: believed
        (PROXY, {"cf-ipcountry": "T1"}, "location_unknown"),  # Tor
        (PROXY, {"cf-ipcountry": "XX"}, "location_unknown"),
        (PROXY, {"x-forwarded-for": "192.0.2.10, 198.51.100.7"}, "location_mismatch"),
    ],
)
async def test_sports_bets_are_fenced(
    fenced: Runtime, peer: str, headers: dict[str, str], code: str | None
) -> None:
    home, odds = await _event(fenced)
    _, auth = await funded_player(fenced)
    async with _client(fenced, peer) as client:
        response = await client.post(
            "/api/bets", json=bet_body([(home, odds)]), headers={**auth, **headers}
        )
    if code is None:
        assert response.status_code == 201, response.text
    else:
        assert response.status_code == 403, response.text
        assert response.json()["error"]["code"] == code


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/payments/deposits", {"amount": "100", "idempotency_key": "geo-dep-1"}),
        ("/api/payments/withdrawals", {"amount": "100", "idempotency_key": "geo-wd-1"}),
        ("/api/games/crash/crash/bets", {"amount": "10.00", "idempotency_key": "geo-crash-1"}),
    ],
)
async def test_payments_and_crash_bets_are_fenced(
    fenced: Runtime, path: str, body: dict[str, Any]
) -> None:
    _, auth = await funded_player(fenced)
    async with _client(fenced, "198.51.100.7") as client:
        response = await client.post(path, json=body, headers={**auth, "cf-ipcountry": "KE"})
    assert response.status_code == 403, response.text
    assert response.json()["error"]["code"] == "location_mismatch"
