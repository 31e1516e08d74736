"""The HTTP edge: one error shape, request ids, limits, headers, metrics by route template."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from letsbet.app import create_app
from letsbet.platform.runtime import Runtime


def _error(response: httpx.Response) -> dict[str, str]:
    body = response.json()
    assert set(body) == {"error"}, body
    assert body["error"]["request_id"] == response.headers["x-request-id"]
    return dict(body["error"])


async def test_unknown_path_is_404_in_the_error_shape(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/no-such-thing")
    assert response.status_code == 404
    assert _error(response)["code"] == "not_found"


async def test_wrong_method_is_405(client: httpx.AsyncClient) -> None:
    response = await client.delete("/api/auth/login")
    assert response.status_code == 405
    assert _error(response)["code"] == "method_not_allowed"


async def test_validation_error_is_422_with_fields(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/auth/register", json={"phone": "+254712345678", "country": "XX"}
    )
    assert response.status_code == 422
    error = response.json()["error"]
    fields = {f["field"] for f in error["fields"]}
    assert {"password", "country", "date_of_birth"} <= fields
    assert error["code"] == "validation_error" and error["message"]


async def test_malformed_json_is_422_not_500(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/auth/login", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert _error(response)["code"] == "validation_error"


async def test_unknown_fields_are_rejected(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/auth/login", json={"phone": "+254712345678", "password": "x", "role": "admin"}
    )
    assert response.status_code == 422


async def test_request_id_is_echoed_when_sane_and_replaced_when_not(
    client: httpx.AsyncClient,
) -> None:
    sane = await client.get("/healthz", headers={"X-Request-ID": "abc-123.x"})
    assert sane.headers["x-request-id"] == "abc-123.x"
    hostile = await client.get("/healthz", headers={"X-Request-ID": "<script>" + "a" * 300})
    assert (
        hostile.headers["x-request-id"] != "<script>" and len(hostile.headers["x-request-id"]) == 32
    )


async def test_security_headers_are_set(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert "default-src 'self'" in response.headers["content-security-policy"]


async def test_body_over_the_limit_is_413(client: httpx.AsyncClient, runtime: Runtime) -> None:
    big = b"{" + b" " * (runtime.settings.max_body_bytes + 10) + b"}"
    response = await client.post(
        "/api/auth/login", content=big, headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert _error(response)["code"] == "payload_too_large"


async def test_streamed_body_over_the_limit_is_413(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    async def chunks():  # no Content-Length: the limit is enforced while reading
        for _ in range(runtime.settings.max_body_bytes // 65536 + 2):
            yield b" " * 65536

    response = await client.post(
        "/api/auth/login", content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413


async def test_unexpected_exception_is_500_in_the_error_shape(runtime: Runtime) -> None:
    app: FastAPI = create_app(runtime)

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("kaboom with a secret inside")

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.get("/boom")
    assert response.status_code == 500
    error = _error(response)
    assert error["code"] == "internal_error" and "kaboom" not in response.text


async def test_cors_allows_only_configured_origins(runtime: Runtime) -> None:
    settings = runtime.settings
    runtime.settings = settings.model_copy(update={"cors_origins": ["https://play.example"]})
    try:
        transport = httpx.ASGITransport(app=create_app(runtime))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            ok = await client.options(
                "/api/me",
                headers={"Origin": "https://play.example", "Access-Control-Request-Method": "GET"},
            )
            assert ok.status_code == 204
            assert ok.headers["access-control-allow-origin"] == "https://play.example"
            bad = await client.options(
                "/api/me",
                headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
            )
            assert "access-control-allow-origin" not in bad.headers
            simple = await client.get("/healthz", headers={"Origin": "https://play.example"})
            assert simple.headers["access-control-allow-origin"] == "https://play.example"
    finally:
        runtime.settings = settings


async def test_metrics_are_labelled_by_route_template(client: httpx.AsyncClient) -> None:
    await client.get("/api/admin/users/7d4a3c1e-0000-4000-8000-000000000000")
    await client.get("/api/definitely/not/here/123")
    text = (await client.get("/metrics")).text
    assert 'route="/api/admin/users/{user_id}"' in text
    await client.get("/api/admin/events/1/odds")  # a nested router's route: 405 here
    text = (await client.get("/metrics")).text
    assert 'route="/api/admin/events/{event_id}/odds"' in text
    assert "7d4a3c1e" not in text and "/api/definitely" not in text
    assert 'route="<unmatched>"' in text
    assert "letsbet_http_request_duration_seconds_bucket" in text
    assert "process_cpu_seconds_total" in text or "python_gc_objects_collected_total" in text


async def test_openapi_and_docs_are_served(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    assert "/api/auth/login" in schema["paths"] and "/readyz" in schema["paths"]
    docs = await client.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
async def test_health_endpoints(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 200, response.text
    if path == "/readyz":
        checks = response.json()["checks"]
        assert {name: c["status"] for name, c in checks.items()} == {
            "postgres": "ok",
            "redis": "ok",
            "nats": "ok",
        }


async def test_unstorable_input_is_422_not_500(client: httpx.AsyncClient) -> None:
    nul = await client.post(
        "/api/auth/register",
        json={
            "phone": "+254733" + "123456",
            "password": "a long password",
            "country": "KE",
            "date_of_birth": "1990-01-01",
            "first_name": "A\u0000b",
        },
    )
    assert nul.status_code == 422 and nul.json()["error"]["code"] == "invalid_input"


async def test_dates_that_overflow_are_422_not_500(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    import uuid
    from datetime import UTC, datetime

    from letsbet.accounts.domain import Role

    token = runtime.signer.access_token(
        user_id=uuid.uuid4(), role=Role.PLAYER, country="KE", now=datetime.now(UTC)
    )
    response = await client.get(
        "/api/wallet/transactions",
        params={"from": "0001-01-01T00:00:00+05:00"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 422, response.text
