"""Resolve where PostgreSQL, Redis and NATS are: configured URLs, or embedded real servers.

`letsbet run` writes the embedded servers' URLs to DATA_DIR/servers.json so other commands on the
same machine (`letsbet admin create`, `letsbet migrate status`) reuse them instead of starting a
second server on the same data.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from letsbet.platform.config import Settings
from letsbet.platform.observability import get_logger

log = get_logger(__name__)
DATABASE_NAME = "letsbet"


def _registry(settings: Settings) -> Path:
    return settings.data_dir / "servers.json"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def _running_embedded(settings: Settings) -> dict[str, str] | None:
    path = _registry(settings)
    try:
        info = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if all(_alive(int(pid)) for pid in info.get("pids", [])) and info.get("pids"):
        urls: dict[str, str] = info["urls"]
        return urls
    return None


@contextmanager
def resolved(
    settings: Settings, *, publish: bool = False, durable: bool = True
) -> Iterator[Settings]:
    """Settings with every server URL filled in, starting embedded servers for missing ones.

    publish=True (letsbet run) records the embedded URLs for other local commands.
    """
    database = settings.resolved_database_url()
    redis = settings.resolved_redis_url()
    nats = settings.nats_url
    if database and redis and nats:
        yield settings.with_servers(database=database, redis=redis, nats=nats)
        return
    shared = None if publish else _running_embedded(settings)
    if shared is not None:
        yield settings.with_servers(
            database=database or shared["database"],
            redis=redis or shared["redis"],
            nats=nats or shared["nats"],
        )
        return
    from letsbet.platform.embedded import EmbeddedStack

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    stack = EmbeddedStack(
        settings.data_dir.resolve(),
        postgres=database is None,
        redis=redis is None,
        nats=nats is None,
        durable=durable,
    )
    try:
        stack.start()
        if stack.postgres is not None:
            base = stack.postgres.url.rsplit("/", 1)[0]
            database = f"{base}/{DATABASE_NAME}"
        redis = redis or (stack.redis.url if stack.redis else None)
        nats = nats or (stack.nats.url if stack.nats else None)
        assert database and redis and nats
        if publish:
            pids = [s.pid for s in (stack.postgres, stack.redis, stack.nats) if s and s.pid]
            _registry(settings).write_text(
                json.dumps(
                    {
                        "urls": {"database": database, "redis": redis, "nats": nats},
                        "pids": [os.getpid(), *pids],
                    }
                )
            )
        yield settings.with_servers(database=database, redis=redis, nats=nats)
    finally:
        if publish:
            _registry(settings).unlink(missing_ok=True)
        stack.stop()
