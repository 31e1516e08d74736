"""End to end: real `letsbet` processes, as a newcomer and an operator would run them."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psutil
import pytest

from letsbet.platform.config import Settings
from tests.support import free_port, random_phone

pytestmark = pytest.mark.slow


def _env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DATABASE", "REDIS", "NATS", "LETSBET", "ALLOWED_COUNTRIES"))
    }
    env.update({"LOG_FORMAT": "json", "LOG_LEVEL": "info", **extra})
    return env


def _external_env(settings: Settings, port: int, **extra: str) -> dict[str, str]:
    """Point a child process at this session's servers."""
    return _env(
        PORT=str(port),
        ENVIRONMENT="test",
        DATABASE_URL=settings.resolved_database_url() or "",
        REDIS_URL=settings.resolved_redis_url() or "",
        NATS_URL=settings.nats_url or "",
        JWT_SECRET=settings.signing_secret,
        **extra,
    )


@contextmanager
def letsbet(
    *args: str, env: dict[str, str], cwd: Path, port: int
) -> Iterator[subprocess.Popen[bytes]]:
    """Start `letsbet ARGS`, wait until /readyz is 200, and never leave it running."""
    process = subprocess.Popen(
        [sys.executable, "-m", "letsbet", *args],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_ready(port, process)
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def _wait_ready(port: int, process: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = process.stdout.read().decode() if process.stdout else ""
            raise AssertionError(f"letsbet exited early with {process.returncode}:\n{output}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError("letsbet did not become ready")


def _stop(process: subprocess.Popen[bytes]) -> str:
    """SIGTERM, expect exit 0 within 20 s, return everything it printed."""
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=20) == 0
    assert time.monotonic() - started < 20
    return process.stdout.read().decode() if process.stdout else ""


def test_run_on_embedded_servers_then_sigterm_leaves_nothing_behind(tmp_path: Path) -> None:
    port = free_port()
    env = _env(PORT=str(port), DATA_DIR=str(tmp_path / "data"), ENVIRONMENT="development")
    with letsbet("run", env=env, cwd=tmp_path, port=port) as process:
        base = f"http://127.0.0.1:{port}"
        ready = httpx.get(f"{base}/readyz").json()
        assert {k: v["status"] for k, v in ready["checks"].items()} == {
            "postgres": "ok",
            "redis": "ok",
            "nats": "ok",
        }
        assert httpx.get(f"{base}/healthz").status_code == 200
        assert httpx.get(f"{base}/docs").status_code == 200
        login = httpx.post(
            f"{base}/api/auth/login",
            json={"phone": "+254712345678", "password": "demo-player-pass"},
        )
        assert login.status_code == 200, login.text
        me = httpx.get(
            f"{base}/api/me", headers={"Authorization": f"Bearer {login.json()['access_token']}"}
        )
        assert me.json()["role"] == "player"
        _deposit_and_withdraw(base, {"Authorization": f"Bearer {login.json()['access_token']}"})
        metrics = httpx.get(f"{base}/metrics").text
        assert (
            'letsbet_http_request_duration_seconds_bucket{le="0.005",method="POST",'
            'route="/api/auth/login"}' in metrics
        )
        children = psutil.Process(process.pid).children(recursive=True)
        names = " ".join(" ".join(c.cmdline()) for c in children)
        assert "postgres" in names and "redis-server" in names and "nats-server" in names

        output = _stop(process)
        _, alive = psutil.wait_procs(children, timeout=5)
        assert alive == [], f"left behind: {[p.pid for p in alive]}"
    assert "demo-player-pass" in output  # credentials printed once at start
    assert "shutdown.complete" in output
    assert "Traceback" not in output, output  # a clean stop: nothing left to time out


def _deposit_and_withdraw(base: str, headers: dict[str, str]) -> None:
    """`letsbet run` starts the M-Pesa simulator: a newcomer deposits and withdraws at once."""

    def settled(payment_id: str) -> dict[str, object]:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            body: dict[str, object] = httpx.get(
                f"{base}/api/payments/{payment_id}", headers=headers
            ).json()
            if body["status"] in ("succeeded", "failed", "timed_out"):
                return body
            time.sleep(0.1)
        raise AssertionError(f"payment {payment_id} did not settle")

    for path, amount in (("deposits", "1000"), ("withdrawals", "500")):
        response = httpx.post(
            f"{base}/api/payments/{path}",
            json={"amount": amount, "idempotency_key": f"e2e-{path}"},
            headers=headers,
        )
        assert response.status_code == 201, response.text
        assert settled(response.json()["id"])["status"] == "succeeded"
    # 1,000 demo funds + 950 deposited net of excise - 500 withdrawn.
    assert httpx.get(f"{base}/api/wallet", headers=headers).json()["balance"] == "1450.00"


def test_sigterm_lets_an_in_flight_request_finish(settings: Settings, tmp_path: Path) -> None:
    port = free_port()
    env = _external_env(settings, port, SHUTDOWN_DRAIN_SECONDS="10")
    with letsbet("serve", "api", env=env, cwd=tmp_path, port=port) as process:
        body = b'{"phone": "+254712345678", "password": "wrong-password", "country": "KE"}'
        sock = socket.create_connection(("127.0.0.1", port))
        # Headers and part of the body now, the rest after SIGTERM: the request is in flight.
        sock.sendall(
            b"POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body[:10]
        )
        time.sleep(0.3)  # let the server read the headers; nothing observable to poll
        process.send_signal(signal.SIGTERM)
        # The listener closes to new connections while the old one is still served.
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
            except OSError:
                break
            time.sleep(0.05)
        else:
            raise AssertionError("still accepting new connections after SIGTERM")
        sock.sendall(body[10:])
        reply = sock.recv(65536).decode()
        sock.close()
        assert reply.startswith("HTTP/1.1 401"), reply[:200]
        assert process.wait(timeout=20) == 0


def test_worker_role_serves_health_only(settings: Settings, tmp_path: Path) -> None:
    port = free_port()
    env = _external_env(settings, port)
    with letsbet("serve", "relay", "settlement", env=env, cwd=tmp_path, port=port) as process:
        base = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{base}/readyz").json()["role"] == "relay+settlement"
        assert 'letsbet_role_up{role="relay"} 1.0' in httpx.get(f"{base}/metrics").text
        assert httpx.post(f"{base}/api/auth/login", json={}).status_code == 404
        _stop(process)


def test_sighup_reloads_allowed_countries_without_restart(
    settings: Settings, tmp_path: Path
) -> None:
    port = free_port()
    (tmp_path / ".env").write_text("ALLOWED_COUNTRIES=KE,NG,GH\n")
    body = {"password": "a long password", "country": "GH", "date_of_birth": "1990-01-01"}
    url = f"http://127.0.0.1:{port}/api/auth/register"
    env = _external_env(settings, port)
    with letsbet("serve", "api", env=env, cwd=tmp_path, port=port) as process:
        first = httpx.post(url, json={**body, "phone": random_phone("GH")})
        assert first.status_code == 201, first.text
        (tmp_path / ".env").write_text("ALLOWED_COUNTRIES=KE\n")
        process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while True:  # poll until the reload is visible, with a deadline
            second = httpx.post(url, json={**body, "phone": random_phone("GH")})
            if second.status_code == 403 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert second.status_code == 403
        assert second.json()["error"]["code"] == "country_not_allowed"
        output = _stop(process)
    assert "config.reloaded" in output and "allowed_countries" in output


def test_admin_create_reuses_the_running_embedded_servers(tmp_path: Path) -> None:
    port = free_port()
    env = _env(PORT=str(port), DATA_DIR=str(tmp_path / "data"), ENVIRONMENT="development")
    with letsbet("run", env=env, cwd=tmp_path, port=port) as process:
        created = subprocess.run(
            [
                sys.executable,
                "-m",
                "letsbet",
                "admin",
                "create",
                "--phone",
                "0711000222",
                "--password",
                "staff-password",
                "--country",
                "KE",
                "--role",
                "compliance",
            ],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert created.returncode == 0, created.stderr
        login = httpx.post(
            f"http://127.0.0.1:{port}/api/auth/login",
            json={"phone": "+254711000222", "password": "staff-password"},
        )
        assert login.status_code == 200
        duplicate = subprocess.run(
            [
                sys.executable,
                "-m",
                "letsbet",
                "admin",
                "create",
                "--phone",
                "0711000222",
                "--password",
                "staff-password",
                "--country",
                "KE",
            ],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert duplicate.returncode == 1 and "phone_taken" in duplicate.stderr
        _stop(process)


def test_bet_is_settled_through_relay_nats_and_the_settlement_role(
    settings: Settings, tmp_path: Path
) -> None:
    """Placement → result → payout across real processes: the api records the result in the
    outbox, the relay publishes it to JetStream, the settlement role's consumer pays the bet."""
    import asyncio
    import uuid

    from letsbet.accounts.domain import Role
    from letsbet.ledger import service as ledger
    from letsbet.ledger.domain import Entry, House, HouseAccount, PlayerCash, TransferSpec
    from letsbet.platform.db import Database
    from tests.sportsbook.catalogue.helpers import event_body, market_id, outcome_ids
    from tests.support import create_players

    async def funded_player() -> uuid.UUID:
        db = Database(settings.resolved_database_url() or "", pool_size=1)
        try:
            async with db.transaction() as conn:
                (user,) = await create_players(conn, 1)
                await ledger.post_transfer(
                    conn,
                    TransferSpec(
                        f"e2e-fund-{user}",
                        "test.fund",
                        "KE",
                        "KES",
                        (
                            Entry(House(HouseAccount.ADJUSTMENTS), -500_00),
                            Entry(PlayerCash(user), 500_00),
                        ),
                    ),
                )
            return user
        finally:
            await db.close()

    user = asyncio.run(funded_player())
    now = datetime.now(UTC)
    from letsbet.platform.runtime import Runtime

    rt = Runtime.create(settings, role="e2e")
    player = {
        "Authorization": "Bearer "
        + rt.signer.access_token(user_id=user, role=Role.PLAYER, country="KE", now=now)
    }
    admin = {
        "Authorization": "Bearer "
        + rt.signer.access_token(user_id=uuid.uuid4(), role=Role.ADMIN, country="KE", now=now)
    }
    port = free_port()
    env = _external_env(settings, port)
    with letsbet(
        "serve", "api", "relay", "settlement", env=env, cwd=tmp_path, port=port
    ) as process:
        base = f"http://127.0.0.1:{port}"
        event = httpx.post(f"{base}/api/admin/events", json=event_body(), headers=admin).json()
        home = outcome_ids(event, "1x2")
        bet = httpx.post(
            f"{base}/api/bets",
            headers=player,
            json={
                "bet_type": "single",
                "selections": [{"outcome_id": home["home"], "odds": "2.10"}],
                "stake": "100.00",
                "idempotency_key": "e2e-slip",
            },
        ).json()
        assert bet["status"] == "open", bet
        resulted = httpx.post(
            f"{base}/api/admin/events/{event['id']}/result",
            headers=admin,
            json={
                "markets": [
                    {
                        "market_id": market_id(event, "1x2"),
                        "outcomes": [
                            {"outcome_id": home["home"], "result": "won"},
                            {"outcome_id": home["draw"], "result": "lost"},
                            {"outcome_id": home["away"], "result": "lost"},
                        ],
                    }
                ]
            },
        )
        assert resulted.status_code == 200, resulted.text
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:  # poll with a deadline: settlement is asynchronous
            settled = httpx.get(f"{base}/api/bets/{bet['id']}", headers=player).json()
            if settled["status"] != "open":
                break
            time.sleep(0.1)
        assert (settled["status"], settled["payout"]) == ("won", "210.00")
        wallet = httpx.get(f"{base}/api/wallet", headers=player).json()
        assert wallet["balance"] == "610.00"
        _stop(process)
