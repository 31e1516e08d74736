"""`letsbet fairness new-chain | crash-point | verify-chain` as an operator runs them."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from letsbet.crash import repository as repo
from letsbet.crash.chains import ChainReader
from letsbet.crash.fairness import derive_key, generate_chain, previous_link, walk
from letsbet.platform.config import Settings
from letsbet.platform.runtime import Runtime
from tests.crash.test_fairness import BUSTABIT_GAMES, BUSTABIT_SALT


def _run(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "letsbet", "fairness", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(("game_hash", "expected"), BUSTABIT_GAMES)
def test_crash_point_prints_two_decimals(game_hash: str, expected: str) -> None:
    result = _run("crash-point", "--hash", game_hash, "--salt", BUSTABIT_SALT)
    assert (result.returncode, result.stdout) == (0, f"{expected}\n")


def test_crash_point_with_an_edge_and_bad_input() -> None:
    seed = bytes(range(32)).hex()
    assert (
        _run("crash-point", "--hash", seed, "--salt", "letsbet-test-salt", "--edge", "5").stdout
        == "23.69\n"
    )
    bad = _run("crash-point", "--hash", "xyz", "--salt", "s")
    assert bad.returncode == 2 and "64 hexadecimal" in bad.stderr
    assert _run("crash-point", "--hash", seed, "--salt", "s", "--edge", "100").returncode == 2


def test_verify_chain_prints_the_game_number_or_exits_1() -> None:
    seed = bytes(range(32))
    chain = generate_chain(seed, 500, every=100)
    game_123 = walk(seed.hex(), 500 - 123)
    found = _run("verify-chain", "--hash", game_123, "--terminating", chain.terminating_hash)
    assert (found.returncode, found.stdout) == (0, "123\n")
    short = _run(
        "verify-chain", "--hash", game_123, "--terminating", chain.terminating_hash, "--max", "100"
    )
    assert short.returncode == 1 and short.stdout == ""


async def test_new_chain_stores_a_commitment_and_sealed_checkpoints(
    settings: Settings, runtime: Runtime, tmp_path: Path
) -> None:
    game_id = f"cli{uuid.uuid4().hex[:8]}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE", "REDIS", "NATS"))}
    env.update(
        ENVIRONMENT="test",
        DATABASE_URL=settings.resolved_database_url() or "",
        REDIS_URL=settings.resolved_redis_url() or "",
        NATS_URL=settings.nats_url or "",
        JWT_SECRET=settings.signing_secret,
        LOG_LEVEL="warning",
    )
    result = await asyncio.to_thread(
        _run, "new-chain", "--length", "25000", "--game", game_id, env=env, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    terminating = result.stdout.strip().splitlines()[-1]
    assert f"game {game_id}: chain" in result.stdout and "25 sealed checkpoints" in result.stdout

    async with runtime.db.connect() as conn:
        chain = await repo.latest_chain(conn, game_id)
        assert (chain.terminating_hash, chain.length, chain.salt) == (terminating, 25000, None)
        reader = ChainReader(derive_key(runtime.settings.crash_chain_secret))
        first = await reader.link(conn, chain, 1)
        links = [await reader.link(conn, chain, n) for n in (999, 1000, 1001)]
    assert previous_link(first) == terminating
    assert previous_link(links[2]) == links[1] and previous_link(links[1]) == links[0]
    found = await asyncio.to_thread(
        _run, "verify-chain", "--hash", links[1], "--terminating", terminating
    )
    assert found.stdout == "1000\n"
    bad = await asyncio.to_thread(_run, "new-chain", "--length", "0", env=env, cwd=tmp_path)
    assert bad.returncode == 2
