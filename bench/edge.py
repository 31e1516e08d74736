"""HTTP benchmarks through a real uvicorn server: edge overhead and login throughput.

The server runs in one process, the load generator in another (and PostgreSQL/Redis/NATS in
theirs), so on a 2-core machine the client does not steal the server's interpreter.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import psutil

from bench.common import die_with_parent, fmt_ms, fmt_rate, fmt_ratio, free_port
from bench.report import Report

ROOT = Path(__file__).resolve().parent.parent
HTTP_CONNECTIONS = 32
HTTP_SECONDS = 5.0
HTTP_WARMUP = 1.5
LOGIN_CONNECTIONS = 8
LOGIN_SECONDS = 6.0
LOGIN_WARMUP = 1.5
ARGON2_SECONDS = 2.0
PASSWORD = "bench-password-123"  # noqa: S105 - a throwaway bench account


def loadgen_tool() -> str:
    forced = os.environ.get("BENCH_LOADGEN")
    if forced in ("python", "wrk"):
        return forced
    import shutil

    return "wrk" if shutil.which("wrk") else "python"


class ServerProcess:
    def __init__(self, kind: str, log_dir: Path, urls: dict[str, str] | None = None) -> None:
        self.kind = kind
        self.port = free_port()
        self.log_path = log_dir / f"server-{kind}.log"
        argv = [sys.executable, "-m", "bench.server", kind, str(self.port)]
        if urls is not None:
            argv.append(json.dumps(urls))
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                argv,
                cwd=ROOT,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=die_with_parent(),
            )
        self.ps = psutil.Process(self.proc.pid)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, path: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                if httpx.get(self.base_url + path, timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        tail = self.log_path.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"bench server {self.kind} not ready on {self.base_url}{path}:\n{tail}")

    def cpu_seconds(self) -> float:
        t = self.ps.cpu_times()
        return float(t.user + t.system)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.returncode not in (0, -signal.SIGTERM):
            tail = self.log_path.read_text(errors="replace")[-2000:]
            print(f"  server {self.kind} exited {self.proc.returncode}:\n{tail}", flush=True)


def _machine_busy(before: Any, after: Any) -> float:
    total = sum(after) - sum(before)
    idle = (after.idle - before.idle) + (getattr(after, "iowait", 0) - getattr(before, "iowait", 0))
    return 0.0 if total <= 0 else 1 - idle / total


def load(
    server: ServerProcess,
    requests: list[dict[str, Any]],
    *,
    connections: int,
    seconds: float,
    warmup: float,
    tool: str,
) -> dict[str, Any]:
    spec = {
        "host": "127.0.0.1",
        "port": server.port,
        "connections": connections,
        "duration": seconds,
        "warmup": warmup,
        "requests": requests,
        "tool": tool,
    }
    cpu0, machine0, t0 = server.cpu_seconds(), psutil.cpu_times(), time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "bench.loadgen"],
        cwd=ROOT,
        input=json.dumps(spec),
        capture_output=True,
        text=True,
        timeout=seconds + warmup + 90,
        preexec_fn=die_with_parent(),
        check=False,
    )
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        raise RuntimeError(f"load generator failed ({done.returncode}):\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout)
    server_cpu = server.cpu_seconds() - cpu0
    result["server_cpu"] = server_cpu / wall
    result["machine_busy"] = _machine_busy(machine0, psutil.cpu_times())
    # CPU the server process spent per request, averaged over warm-up + run (wall-clock share).
    served = result["rps"] * wall
    result["server_us_per_req"] = server_cpu / served * 1e6 if served else None
    return result


HTTP_HEADERS = [
    "endpoint",
    "req/s",
    "p50 ms",
    "p99 ms",
    "vs bare",
    "api CPU µs/req (vs bare)",
    "api CPU",
    "client CPU",
    "machine busy",
    "errors",
]


def _row(name: str, r: dict[str, Any], base: dict[str, Any] | None) -> list[str]:
    ratio = r["rps"] / base["rps"] if base and base["rps"] else None
    cost = r.get("server_us_per_req")
    cost_text = "-" if cost is None else f"{cost:,.0f}"
    if base and base.get("server_us_per_req") and cost is not None:
        cost_text += f" ({cost / base['server_us_per_req']:.1f}x)"
    return [
        name,
        fmt_rate(r["rps"]),
        fmt_ms(r["p50_ms"]),
        fmt_ms(r["p99_ms"]),
        fmt_ratio(ratio),
        cost_text,
        f"{r['server_cpu']:.0%}",
        f"{r['client_cpu']:.0%}",
        f"{r['machine_busy']:.0%}",
        str(r["errors"]),
    ]


def _check(report: Report, name: str, r: dict[str, Any]) -> None:
    if r["errors"]:
        report.warn(f"{name}: {r['errors']} errors (statuses {r['statuses']})")
    if r["client_cpu"] > 0.9:
        report.warn(
            f"{name}: the load generator used {r['client_cpu']:.0%} of a core; "
            "the figure may be client-bound"
        )


def _register_users(server: ServerProcess, count: int) -> list[str]:
    phones = []
    with httpx.Client(base_url=server.base_url, timeout=30) as client:
        for _ in range(count):
            phone = f"+2547{uuid.uuid4().int % 10**8:08d}"
            response = client.post(
                "/api/auth/register",
                json={
                    "phone": phone,
                    "password": PASSWORD,
                    "country": "KE",
                    "date_of_birth": "1990-01-01",
                    "first_name": "Bench",
                },
            )
            if response.status_code != 201:
                raise RuntimeError(f"register failed: {response.status_code} {response.text}")
            phones.append(phone)
    return phones


def _access_token(server: ServerProcess, phone: str) -> str:
    response = httpx.post(
        server.base_url + "/api/auth/login", json={"phone": phone, "password": PASSWORD}, timeout=30
    )
    if response.status_code != 200:
        raise RuntimeError(f"login failed: {response.status_code} {response.text}")
    token: str = response.json()["access_token"]
    return token


def argon2_rate(threads: int, seconds: float) -> float:
    from argon2 import PasswordHasher

    hasher = PasswordHasher(time_cost=2, memory_cost=19_456, parallelism=1)
    encoded = hasher.hash(PASSWORD)
    hasher.verify(encoded, PASSWORD)  # warm

    def worker() -> int:
        count, end = 0, time.perf_counter() + seconds
        while time.perf_counter() < end:
            hasher.verify(encoded, PASSWORD)
            count += 1
        return count

    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        total = sum(pool.map(lambda _: worker(), range(threads)))
    return total / (time.perf_counter() - started)


def run(urls: dict[str, str], report: Report, log_dir: Path) -> None:
    tool = loadgen_tool()
    report.machine["loadgen"] = (
        f"{'wrk -t1' if tool == 'wrk' else 'Python asyncio/uvloop raw HTTP/1.1 client'}, separate "
        f"process, keep-alive, closed loop ({HTTP_CONNECTIONS} connections for the edge, "
        f"{LOGIN_CONNECTIONS} for login); {HTTP_WARMUP:g} s warm-up then {HTTP_SECONDS:g} s "
        "measured"
    )
    print(f"load generator: {report.machine['loadgen']}", flush=True)
    edge = report.section(
        "1. HTTP edge overhead",
        f"uvicorn (httptools, uvloop, no access log) in its own process, {HTTP_CONNECTIONS} "
        "keep-alive connections from a load generator in another process. Baseline: a bare "
        'Starlette app returning the same `{"status": "ok"}` on the same uvicorn setup. '
        "The bare FastAPI row (same route, no middleware) separates the framework's cost from "
        "ours. `/healthz` crosses the full middleware (request id, security headers, metrics); "
        "`/api/me` adds JWT verification (cached once a token has verified), one Redis call "
        "(the rate limiter and the logout denylist in one script) and one PostgreSQL read; "
        '`/readyz` pings PostgreSQL, Redis and NATS. "api CPU µs/req" '
        "is the server process's own CPU per request (PostgreSQL/Redis excluded; warm-up "
        "included), against bare Starlette in brackets: the least noisy measure of edge cost, "
        'and the one that decides how many requests one api process can serve. "machine busy" '
        "is all cores over the run, load generator and servers included.",
        HTTP_HEADERS,
    )

    bare = ServerProcess("bare", log_dir)
    try:
        bare.wait_ready("/")
        base = load(
            bare,
            [{"method": "GET", "path": "/"}],
            connections=HTTP_CONNECTIONS,
            seconds=HTTP_SECONDS,
            warmup=HTTP_WARMUP,
            tool=tool,
        )
    finally:
        bare.stop()
    edge.add(_row("bare Starlette GET / (baseline)", base, base))
    _check(report, "bare GET /", base)

    framework = ServerProcess("fastapi", log_dir)
    try:
        framework.wait_ready("/healthz")
        fastapi_only = load(
            framework,
            [{"method": "GET", "path": "/healthz"}],
            connections=HTTP_CONNECTIONS,
            seconds=HTTP_SECONDS,
            warmup=HTTP_WARMUP,
            tool=tool,
        )
    finally:
        framework.stop()
    edge.add(_row("bare FastAPI GET /healthz (framework)", fastapi_only, base))
    _check(report, "bare FastAPI GET /healthz", fastapi_only)

    app = ServerProcess("app", log_dir, urls)
    try:
        app.wait_ready("/healthz")
        phones = _register_users(app, LOGIN_CONNECTIONS)
        token = _access_token(app, phones[0])
        cases: list[tuple[str, dict[str, Any]]] = [
            ("GET /healthz", {"method": "GET", "path": "/healthz"}),
            (
                "GET /api/me (auth + Redis + PG)",
                {
                    "method": "GET",
                    "path": "/api/me",
                    "headers": {"Authorization": f"Bearer {token}"},
                },
            ),
            ("GET /readyz (PG + Redis + NATS)", {"method": "GET", "path": "/readyz"}),
        ]
        for name, request in cases:
            result = load(
                app,
                [request],
                connections=HTTP_CONNECTIONS,
                seconds=HTTP_SECONDS,
                warmup=HTTP_WARMUP,
                tool=tool,
            )
            edge.add(_row(name, result, base))
            _check(report, name, result)

        login_section = report.section(
            "2. Login throughput (argon2id)",
            f"`POST /api/auth/login` through the same server, {LOGIN_CONNECTIONS} connections, "
            f"{len(phones)} accounts (lockout check, argon2id verify off the event loop, refresh "
            "token insert, JWT issue). Baseline: raw `argon2.PasswordHasher(time_cost=2, "
            "memory_cost=19456, parallelism=1).verify` calls in one process, on one thread (the "
            "requested baseline) and on one thread per core (the machine's ceiling, since "
            "argon2-cffi releases the GIL).",
            [
                "case",
                "per second",
                "p50 ms",
                "p99 ms",
                "vs 1-thread verify",
                "api CPU",
                "client CPU",
                "machine busy",
                "errors",
            ],
        )
        requests = [
            {
                "method": "POST",
                "path": "/api/auth/login",
                "headers": {"Content-Type": "application/json"},
                "body": json.dumps({"phone": p, "password": PASSWORD}),
            }
            for p in phones
        ]
        login = load(
            app,
            requests,
            connections=LOGIN_CONNECTIONS,
            seconds=LOGIN_SECONDS,
            warmup=LOGIN_WARMUP,
            tool=tool,
        )
    finally:
        app.stop()

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    one = argon2_rate(1, ARGON2_SECONDS)
    many = argon2_rate(cores or 1, ARGON2_SECONDS)
    login_section.add(
        [
            "raw argon2 verify, 1 thread (baseline)",
            fmt_rate(one),
            fmt_ms(1000 / one),
            "-",
            "1.00x",
            "-",
            "-",
            "-",
            "-",
        ]
    )
    login_section.add(
        [
            f"raw argon2 verify, {cores} threads",
            fmt_rate(many),
            "-",
            "-",
            fmt_ratio(many / one),
            "-",
            "-",
            "-",
            "-",
        ]
    )
    login_section.add(
        [
            "POST /api/auth/login",
            fmt_rate(login["rps"]),
            fmt_ms(login["p50_ms"]),
            fmt_ms(login["p99_ms"]),
            fmt_ratio(login["rps"] / one),
            f"{login['server_cpu']:.0%}",
            f"{login['client_cpu']:.0%}",
            f"{login['machine_busy']:.0%}",
            str(login["errors"]),
        ]
    )
    login_section.note(
        f"login reaches {login['rps'] / many:.0%} of the {cores}-thread argon2 "
        "ceiling measured without HTTP, PostgreSQL or Redis; the api process "
        f"spent {login['server_us_per_req'] / 1000:.1f} ms CPU per login against "
        f"{1000 / one:.1f} ms for one bare verify"
    )
    _check(report, "login", login)
