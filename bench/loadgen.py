"""Closed-loop HTTP/1.1 keep-alive load generator, run in its own process.

`python -m bench.loadgen` reads a JSON spec on stdin and prints one JSON result on stdout:

    {"host": "127.0.0.1", "port": 8000, "connections": 32, "duration": 5, "warmup": 1,
     "requests": [{"method": "GET", "path": "/", "headers": {}, "body": ""}]}

Each connection sends one request, waits for the whole response, then sends the next
(connection i cycles through `requests` starting at i). Only responses to requests *sent* after
the warm-up and received before the end count. A raw asyncio protocol on uvloop rather than
httpx: httpx costs ~10x more CPU per request and would measure itself, not the server.

A body may contain `{n}`: each request sent replaces it with its sequence number in the run
(1, 2, 3… across all connections), so every request can carry a unique idempotency key.
`sent` and `all_statuses` count every request and response of the run, warm-up and the last
in-flight ones included (each connection waits for its last response before closing), for a
caller that checks what the server stored against what it answered.

`wrk` is used instead when it is installed (see `run_wrk`); both print the same fields, except
that `{n}` bodies, `sent` and `all_statuses` need this Python client.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from typing import Any

from bench.common import percentile

PLACEHOLDER = "{n}"


def build_request(host: str, port: int, spec: dict[str, Any]) -> bytes:
    body: bytes = str(spec.get("body", "")).encode()
    lines = [f"{spec.get('method', 'GET')} {spec['path']} HTTP/1.1", f"Host: {host}:{port}"]
    lines += [f"{k}: {v}" for k, v in spec.get("headers", {}).items()]
    if body or spec.get("method", "GET") in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class _Request:
    """One request spec, pre-built; a body with `{n}` is rebuilt for every send."""

    def __init__(self, host: str, port: int, spec: dict[str, Any]) -> None:
        self.host, self.port, self.spec = host, port, spec
        body = str(spec.get("body", ""))
        self.parts = body.split(PLACEHOLDER) if PLACEHOLDER in body else None
        self.fixed = build_request(host, port, spec)

    def render(self, n: int) -> bytes:
        if self.parts is None:
            return self.fixed
        body = str(n).join(self.parts)
        return build_request(self.host, self.port, {**self.spec, "body": body})


class _Run:
    def __init__(self, warmup: float, duration: float) -> None:
        now = time.perf_counter()
        self.measure_from = now + warmup
        self.end = self.measure_from + duration
        self.latencies: list[float] = []
        self.completed = 0
        self.statuses: Counter[int] = Counter()
        self.all_statuses: Counter[int] = Counter()  # every response, warm-up included
        self.disconnects = 0
        self.sent = 0

    def record(self, status: int, sent_at: float, now: float) -> None:
        # Throughput counts completions inside the window; latency only requests sent in it.
        self.all_statuses[status] += 1
        if self.measure_from <= now <= self.end:
            self.completed += 1
            self.statuses[status] += 1
            if sent_at >= self.measure_from:
                self.latencies.append(now - sent_at)


def _content_length(head: bytes) -> int:
    lowered = head.lower()
    at = lowered.find(b"\r\ncontent-length:")
    if at < 0:
        if b"\r\ntransfer-encoding:" in lowered:
            raise RuntimeError("chunked responses are not supported by this load generator")
        return 0
    start = at + len(b"\r\ncontent-length:")
    stop = lowered.find(b"\r\n", start)
    return int(lowered[start : stop if stop >= 0 else None].strip())


class _Connection(asyncio.Protocol):
    def __init__(self, run: _Run, request: _Request) -> None:
        self.run = run
        self.request = request
        self.buf = bytearray()
        self.sent_at = 0.0
        self.transport: asyncio.Transport | None = None
        self.closed: asyncio.Future[Exception | None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is not a subclass
        self._send()

    def _send(self) -> None:
        assert self.transport is not None
        self.sent_at = time.perf_counter()
        self.run.sent += 1
        self.transport.write(self.request.render(self.run.sent))

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(buf[:end])
        total = end + 4 + _content_length(head)
        if len(buf) < total:
            return
        now = time.perf_counter()
        del buf[:total]
        self.run.record(int(head[9:12]), self.sent_at, now)
        if now >= self.run.end:
            assert self.transport is not None
            self.transport.close()
        else:
            self._send()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(exc)


async def _drive(host: str, port: int, request: _Request, run: _Run) -> None:
    loop = asyncio.get_running_loop()
    while time.perf_counter() < run.end:
        try:
            _, proto = await loop.create_connection(lambda: _Connection(run, request), host, port)
        except OSError:
            run.disconnects += 1
            await asyncio.sleep(0.05)
            continue
        await proto.closed
        if time.perf_counter() < run.end:
            run.disconnects += 1  # the server closed a keep-alive connection mid-run


async def run_python(spec: dict[str, Any]) -> dict[str, Any]:
    host, port = spec["host"], int(spec["port"])
    requests = [_Request(host, port, r) for r in spec["requests"]]
    conns = int(spec["connections"])
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    run = _Run(float(spec["warmup"]), float(spec["duration"]))
    started = time.perf_counter()
    await asyncio.wait_for(
        asyncio.gather(
            *(_drive(host, port, requests[i % len(requests)], run) for i in range(conns))
        ),
        timeout=float(spec["warmup"]) + float(spec["duration"]) + 30,
    )
    wall = time.perf_counter() - started
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    latencies = sorted(run.latencies)
    ok = sum(n for status, n in run.statuses.items() if 200 <= status < 300)
    return {
        "tool": "python",
        "requests": run.completed,
        "rps": run.completed / float(spec["duration"]),
        "p50_ms": _ms(percentile(latencies, 50)),
        "p99_ms": _ms(percentile(latencies, 99)),
        "max_ms": _ms(latencies[-1] if latencies else None),
        "errors": run.completed - ok + run.disconnects,
        "statuses": {str(k): v for k, v in sorted(run.statuses.items())},
        "sent": run.sent,
        "all_statuses": {str(k): v for k, v in sorted(run.all_statuses.items())},
        "client_cpu": cpu / wall,
    }


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000


# -- wrk -------------------------------------------------------------------------------------

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _wrk_ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    if not match:
        raise ValueError(f"unexpected wrk latency {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def _lua_script(requests: list[dict[str, Any]]) -> str:
    def long_string(value: str) -> str:
        level = "=" * 4
        while f"]{level}]" in value:
            level += "="
        return f"[{level}[{value}]{level}]"

    entries = []
    for r in requests:
        headers = ", ".join(
            f"[ {long_string(k)} ] = {long_string(v)}" for k, v in r.get("headers", {}).items()
        )
        entries.append(
            f"{{ {long_string(r.get('method', 'GET'))}, {long_string(r['path'])}, "
            f"{{ {headers} }}, {long_string(r.get('body', ''))} }}"
        )
    return (
        "local specs = {\n  " + ",\n  ".join(entries) + "\n}\n"
        "local reqs = {}\nlocal i = 0\n"
        "init = function(args)\n"
        "  for n, s in ipairs(specs) do\n"
        "    local body = s[4]\n"
        "    if body == '' then body = nil end\n"
        "    reqs[n] = wrk.format(s[1], s[2], s[3], body)\n"
        "  end\nend\n"
        "request = function()\n  i = i % #reqs + 1\n  return reqs[i]\nend\n"
    )


def _wrk(spec: dict[str, Any], seconds: float, script: str) -> str:
    seconds_arg = f"{max(1, round(seconds))}s"
    argv = [
        shutil.which("wrk") or "wrk",
        "-t1",
        f"-c{spec['connections']}",
        f"-d{seconds_arg}",
        "--latency",
        "--timeout",
        "10s",
        "-s",
        script,
        f"http://{spec['host']}:{spec['port']}{spec['requests'][0]['path']}",
    ]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60, check=False)
    if done.returncode != 0 or ".lua:" in done.stderr + done.stdout:
        # wrk reports a broken script but then runs plain GETs: never accept that run.
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr.strip()}")
    return done.stdout


def run_wrk(spec: dict[str, Any]) -> dict[str, Any]:
    if any(PLACEHOLDER in str(r.get("body", "")) for r in spec["requests"]):
        raise RuntimeError(f"{PLACEHOLDER} bodies need the Python load generator (tool python)")
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(_lua_script(spec["requests"]))
        script = handle.name
    try:
        if float(spec["warmup"]) > 0:
            _wrk(spec, float(spec["warmup"]), script)
        cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        out = _wrk(spec, float(spec["duration"]), script)
        wall = time.perf_counter() - started
        cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    finally:
        os.unlink(script)
    rps = float(re.search(r"Requests/sec:\s*([\d.]+)", out).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    pct = dict(re.findall(r"^\s*(\d+)%\s+(\S+)\s*$", out, flags=re.M))
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", out)
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), "
        r"timeout (\d+)",
        out,
    )
    errors = int(non_2xx.group(1)) if non_2xx else 0
    if socket_errors:
        errors += sum(int(g) for g in socket_errors.groups())
    max_match = re.search(r"Latency\s+\S+\s+\S+\s+(\S+)", out)
    return {
        "tool": "wrk",
        "requests": total,
        "rps": rps,
        "p50_ms": _wrk_ms(pct["50"]) if "50" in pct else None,
        "p99_ms": _wrk_ms(pct["99"]) if "99" in pct else None,
        "max_ms": _wrk_ms(max_match.group(1)) if max_match else None,
        "errors": errors,
        "statuses": {},
        "client_cpu": ((cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)) / wall,
    }


def main() -> int:
    spec = json.load(sys.stdin)
    if spec.get("tool") == "wrk":
        result = run_wrk(spec)
    else:
        try:
            import uvloop

            result = uvloop.run(run_python(spec))
        except ImportError:  # pragma: no cover - uvloop is a dependency of the project
            result = asyncio.run(run_python(spec))
    json.dump(result, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
