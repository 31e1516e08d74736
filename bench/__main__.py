"""`python -m bench [SECTION...]`: start embedded servers, run the benchmarks, write
docs/benchmarks.md. With section names (edge, outbox, ledger, bets, odds, crash) only those run
and their tables replace the same tables in the existing file."""

from __future__ import annotations

import shutil
import signal
import sys
import tempfile
import time
import traceback
from pathlib import Path
from types import FrameType

import uvloop

from bench import bets, crash, edge, ledger, machine, odds, outbox
from bench.report import Report

DOC = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
DATABASE = "letsbet_bench"


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)  # unwinds through the finally blocks that stop the servers


SECTIONS = ("edge", "outbox", "ledger", "bets", "odds", "crash")


def main(names: list[str]) -> int:
    unknown = [name for name in names if name not in SECTIONS]
    if unknown:
        print(f"unknown section(s) {unknown}; choose from {', '.join(SECTIONS)}", file=sys.stderr)
        return 2
    chosen = names or list(SECTIONS)
    from letsbet.platform import migrate
    from letsbet.platform.embedded import EmbeddedStack
    from letsbet.platform.observability import configure_logging

    signal.signal(signal.SIGTERM, _terminate)
    configure_logging("warning", "console")
    started = time.perf_counter()
    background = machine.background_load()
    scaling = machine.parallel_scaling()
    info = machine.info(background, scaling)
    print("letsbet benchmarks", flush=True)
    for key, value in info.items():
        print(f"  {key:8} {value}", flush=True)
    report = Report(info)
    if background > 0.1:
        report.warn(
            f"the machine was not idle ({background:.0%} of all cores busy before the bench): "
            "other work competes for the cores, so absolute figures and ratios are noisier"
        )

    data_dir = Path(tempfile.mkdtemp(prefix="letsbet-bench-"))
    stack = EmbeddedStack(data_dir / "servers", durable=False)
    try:
        print("\nstarting embedded PostgreSQL, Redis and NATS…", flush=True)
        stack.start()
        assert stack.postgres and stack.redis and stack.nats
        urls = {
            "database": stack.postgres.url.rsplit("/", 1)[0] + f"/{DATABASE}",
            "redis": stack.redis.url,
            "nats": stack.nats.url,
        }
        migrate.upgrade(urls["database"])
        print(f"  ready in {time.perf_counter() - started:.1f} s", flush=True)

        if "edge" in chosen:
            edge.run(urls, report, data_dir)
        if "outbox" in chosen:
            uvloop.run(outbox.run(urls, report))
        if "ledger" in chosen:
            uvloop.run(ledger.run(urls, report))
        if "bets" in chosen:
            bets.run(urls, report, data_dir)
        if "odds" in chosen:
            uvloop.run(odds.run(urls, report))
        if "crash" in chosen:
            crash.run(urls, report, data_dir)
    except (KeyboardInterrupt, SystemExit):
        print("\ninterrupted; stopping the servers", file=sys.stderr, flush=True)
        raise
    except Exception:
        traceback.print_exc()
        print("\nbench failed; docs/benchmarks.md left unchanged", file=sys.stderr)
        return 1
    finally:
        stack.stop()
        shutil.rmtree(data_dir, ignore_errors=True)

    seconds = time.perf_counter() - started
    if names:
        report.merge(DOC, "python -m bench " + " ".join(names))
    else:
        report.write(DOC, seconds)
    print(
        f"\nwrote {DOC.relative_to(Path.cwd()) if DOC.is_relative_to(Path.cwd()) else DOC} "
        f"in {seconds:.0f} s",
        flush=True,
    )
    if report.warnings:
        print(f"{len(report.warnings)} warning(s); see the end of the file", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
