"""A quick look at one placement case, for working on the hot path (not part of `make bench`).

    python -m bench.probe [single|multi] [CONNECTIONS] [--rounds N] [--mixed] [--py-spy OUT]

Starts the embedded servers, seeds and funds exactly as section 6 does, runs the api under
uvicorn in its own process and measures `rounds` windows of the case; prints bets/s, p50/p99,
api CPU µs per bet and PostgreSQL CPU µs per bet for each. With --py-spy, py-spy (installed
separately, not a project dependency) samples the api process during the last window: a flame
graph for `.svg`, collapsed stacks for anything else.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import asyncpg
import uvloop

from bench import bets
from bench.common import fmt_ms, fmt_rate
from letsbet.platform.db import plain_url


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.probe")
    parser.add_argument("kind", nargs="?", default="single", choices=["single", "multi"])
    parser.add_argument("connections", nargs="?", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--py-spy", dest="py_spy", default=None)
    parser.add_argument("--mixed", action="store_true", help="multis' legs in rotated orders")
    args = parser.parse_args()
    bets.MIXED_LEG_ORDER = args.mixed or bets.MIXED_LEG_ORDER

    from letsbet.platform import migrate
    from letsbet.platform.embedded import EmbeddedStack
    from letsbet.platform.observability import configure_logging

    configure_logging("warning", "console")
    data_dir = Path(tempfile.mkdtemp(prefix="letsbet-probe-"))
    stack = EmbeddedStack(data_dir / "servers", durable=False)
    try:
        stack.start()
        assert stack.postgres and stack.redis and stack.nats
        urls = {
            "database": stack.postgres.url.rsplit("/", 1)[0] + "/letsbet_probe",
            "redis": stack.redis.url,
            "nats": stack.nats.url,
        }
        migrate.upgrade(urls["database"])
        world = uvloop.run(bets._setup(urls))
        case = bets.Case(args.kind, args.kind, args.connections)
        server = bets._Server("app", "probe", data_dir, urls)
        try:
            server.wait_ready("/healthz")
            for n in range(args.rounds):
                spy = None
                if args.py_spy and n == args.rounds - 1:
                    spy = _py_spy(server.proc.pid, args.py_spy)
                sessions = uvloop.run(_sessions(urls["database"]))
                r = bets._measure([server], world, case, n, urls)
                sessions = uvloop.run(_sessions(urls["database"])) - sessions
                if spy is not None:
                    spy.wait()
                print(
                    f"{args.kind} x{args.connections}: {fmt_rate(r['rps'])}/s "
                    f"p50 {fmt_ms(r['p50_ms'])} p99 {fmt_ms(r['p99_ms'])} ms, "
                    f"api {r['api_us'] or 0:,.0f} µs/bet at {r['api_share']:.0%}, "
                    f"PostgreSQL {r['pg_us'] or 0:,.0f} µs/bet at {r['pg_share'] or 0:.0%}, "
                    f"busy {r['busy']:.0%}, {sessions} new PostgreSQL sessions, "
                    f"{r['deadlocks']} deadlocks, "
                    f"errors {r['errors']} {r['statuses']}",
                    flush=True,
                )
        finally:
            server.stop()
        books = uvloop.run(bets._books(urls["database"]))
        print(f"ledger sound: {books.ledger.sound}; staked {books.staked} taken {books.taken}")
    finally:
        stack.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
    return 0


async def _sessions(url: str) -> int:
    """Sessions PostgreSQL has opened so far (a pool that churns connections shows here)."""
    conn = await asyncpg.connect(plain_url(url))
    try:
        return int(await conn.fetchval("SELECT sum(sessions) FROM pg_stat_database"))
    finally:
        await conn.close()


def _py_spy(pid: int, out: str) -> subprocess.Popen[bytes]:
    seconds = int(bets.WARMUP + bets.SECONDS)
    fmt = "flamegraph" if out.endswith(".svg") else "raw"
    proc = subprocess.Popen(
        ["py-spy", "record", "-p", str(pid), "-d", str(seconds), "-r", "250", "-f", fmt, "-o", out]
    )
    time.sleep(0.5)
    return proc


if __name__ == "__main__":
    raise SystemExit(main())
