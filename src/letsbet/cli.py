"""The `letsbet` command.

    letsbet run                          every role in one process tree (development)
    letsbet serve ROLE [ROLE ...]        chosen roles: api relay games settlement payments odds
    letsbet migrate up|down|status       schema migrations (Alembic)
    letsbet admin create --phone --password --country [--role admin|compliance|player]
    letsbet ledger check                 prove the books balance (exit 0) or list every break (1)
    letsbet audit verify                 walk the audit hash chain (exit 0) or name the first
                                         broken row (1)
    letsbet config check                 validate the configuration and print it (no secrets)
    letsbet simulate mpesa|flutterwave|smileid   a local Daraja, Flutterwave or Smile ID simulator
    letsbet fairness new-chain [--length N] [--game ID]        a crash hash chain; prints the
                                         terminating hash to publish (the commitment)
    letsbet fairness crash-point --hash HEX --salt SALT [--edge 1]   e.g. 1.26
    letsbet fairness verify-chain --hash HEX --terminating HEX [--max N]   the game number, or 1

Exit codes: 0 ok, 1 failure, 2 bad configuration or usage.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import signal
import sys
from datetime import date
from typing import Any

from letsbet.platform.config import ConfigError, Settings, load_settings, redact_url
from letsbet.platform.observability import configure_logging, get_logger

log = get_logger("letsbet.cli")


def _settings() -> Settings:
    try:
        return load_settings()
    except ConfigError as exc:
        print(f"letsbet: config error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def _migrate_up(url: str) -> None:
    from letsbet.platform import migrate

    migrate.upgrade(url)


async def _seed_demo(settings: Settings) -> None:
    from letsbet.accounts.demo import seed
    from letsbet.crash.demo import seed_chains
    from letsbet.platform.db import Database
    from letsbet.sportsbook.catalogue.demo import seed as seed_fixtures

    db = Database(settings.resolved_database_url() or "", pool_size=1)
    try:
        async with db.transaction() as conn:
            accounts = await seed(conn)
            await seed_fixtures(conn)
            await seed_chains(conn, settings)
    finally:
        await db.close()
    lines = [f"  {a['role']:<11} phone {a['phone']}  password {a['password']}" for a in accounts]
    print("\nletsbet demo accounts (development only):\n" + "\n".join(lines), flush=True)


def cmd_run(args: argparse.Namespace) -> int:
    from letsbet.platform import servers

    settings = _settings()
    configure_logging(settings.log_level, settings.effective_log_format)
    with servers.resolved(settings, publish=True) as ready:
        _migrate_up(ready.resolved_database_url() or "")
        if ready.seeds_demo_data:
            asyncio.run(_seed_demo(ready))
        return _run_loop(_serve_with_simulators(ready))


async def _serve_with_simulators(settings: Settings) -> int:
    """Every role, plus the payment simulators when a provider is in simulator mode (so a
    newcomer can deposit and withdraw at once); production settings refuse simulator mode."""
    from letsbet.payments.simulators.run import start_for
    from letsbet.platform import roles

    simulators = await start_for(settings)
    ready = simulators.point(settings)
    for name, running in (
        ("mpesa", simulators.mpesa),
        ("flutterwave", simulators.flutterwave),
        ("smileid", simulators.smileid),
    ):
        if running is not None:
            log.info("simulator.started", provider=name, url=running.url)
    try:
        return await roles.serve(
            ready,
            roles.ROLES,
            on_ready=lambda: print(
                f"\nletsbet is up: http://localhost:{ready.port}  (docs: /docs, health: /readyz)\n",
                flush=True,
            ),
        )
    finally:
        await simulators.stop()


def cmd_serve(args: argparse.Namespace) -> int:
    from letsbet.platform import roles, servers

    unknown = [r for r in args.roles if r not in roles.ROLES]
    if unknown:
        print(
            f"letsbet: unknown role {unknown[0]!r}; roles: {', '.join(roles.ROLES)}",
            file=sys.stderr,
        )
        return 2
    settings = _settings()
    configure_logging(settings.log_level, settings.effective_log_format)
    with servers.resolved(settings) as ready:
        return _run_loop(roles.serve(ready, tuple(dict.fromkeys(args.roles))))


def _run_loop(coro: Any) -> int:
    try:
        import uvloop

        return int(uvloop.run(coro))
    except ImportError:  # pragma: no cover - uvloop is a pinned dependency
        return int(asyncio.run(coro))


def cmd_migrate(args: argparse.Namespace) -> int:
    from letsbet.platform import migrate, servers

    settings = _settings()
    configure_logging(settings.log_level, settings.effective_log_format)
    with servers.resolved(settings) as ready:
        url = ready.resolved_database_url() or ""
        if args.action == "up":
            migrate.upgrade(url, args.revision or "head")
        elif args.action == "down":
            migrate.downgrade(url, args.revision or "-1")
        print(migrate.status(url))
    return 0


def cmd_admin_create(args: argparse.Namespace) -> int:
    from letsbet.accounts import service
    from letsbet.accounts.domain import Role
    from letsbet.compliance.audit import service as audit
    from letsbet.compliance.audit.domain import Actor
    from letsbet.errors import LetsbetError
    from letsbet.platform import servers
    from letsbet.platform.db import Database

    settings = _settings()
    configure_logging(settings.log_level, settings.effective_log_format)

    async def create(url: str) -> str:
        db = Database(url, pool_size=1)
        try:
            async with db.transaction() as conn:
                user_id = await service.register(
                    conn,
                    phone=args.phone,
                    password=args.password,
                    country=args.country,
                    date_of_birth=date.fromisoformat(args.date_of_birth),
                    role=Role(args.role),
                    first_name=args.first_name,
                    last_name=args.last_name,
                )
                # Whoever ran the command on the server: the audit row says "system".
                await audit.append(
                    conn,
                    Actor.system(args.country),
                    action="accounts.user.create",
                    target_type="user",
                    target_id=user_id,
                    after={"role": args.role, "country": args.country, "status": "active"},
                )
            return str(user_id)
        finally:
            await db.close()

    if len(args.password) < 8:
        print("letsbet: --password must be at least 8 characters", file=sys.stderr)
        return 2
    with servers.resolved(settings) as ready:
        url = ready.resolved_database_url() or ""
        _migrate_up(url)
        try:
            user_id = asyncio.run(create(url))
        except LetsbetError as exc:
            print(f"letsbet: {exc.code}: {exc.message}", file=sys.stderr)
            return 1
    print(f"created {args.role} {user_id}")
    return 0


def cmd_ledger_check(args: argparse.Namespace) -> int:
    from letsbet.ledger.reconcile import check
    from letsbet.platform import servers
    from letsbet.platform.db import Database

    settings = _settings()
    configure_logging(settings.log_level, settings.effective_log_format)

    async def run(url: str) -> int:
        db = Database(url, pool_size=1)
        try:
            report = await check(db)
        finally:
            await db.close()
        print("\n".join(report.lines() if not report.sound else [report.summary()]))
        return 0 if report.sound else 1

    with servers.resolved(settings) as ready:
        return asyncio.run(run(ready.resolved_database_url() or ""))


def cmd_audit_verify(args: argparse.Namespace) -> int:
    from letsbet.compliance.audit.service import verify
    from letsbet.platform import servers
    from letsbet.platform.db import Database

    settings = _settings()
    configure_logging(settings.log_level, settings.effective_log_format)

    async def run(url: str) -> int:
        db = Database(url, pool_size=1)
        try:
            report = await verify(db)
        finally:
            await db.close()
        print(report.summary())
        return 0 if report.sound else 1

    with servers.resolved(settings) as ready:
        return asyncio.run(run(ready.resolved_database_url() or ""))


def cmd_config_check(args: argparse.Namespace) -> int:
    settings = _settings()
    shown = settings.model_dump(mode="json")
    for key in list(shown):
        if any(word in key for word in ("secret", "password", "passkey", "api_key", "key")):
            shown[key] = "***" if shown[key] else ""
        elif key.endswith("_url") and isinstance(shown[key], str):
            shown[key] = redact_url(shown[key])
    for key, value in sorted(shown.items()):
        print(f"{key.upper()}={value}")
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    from letsbet.payments.simulators.run import start_flutterwave, start_mpesa, start_smileid

    settings = _settings()
    configure_logging(settings.log_level, settings.effective_log_format)

    async def serve() -> int:
        if args.provider == "mpesa":
            running = await start_mpesa(args.host, args.port or 8091)
        elif args.provider == "smileid":
            running = await start_smileid(args.host, args.port or 8093)
        else:
            webhook = args.webhook_url or (
                f"http://127.0.0.1:{settings.port}/api/payments/flutterwave/webhook"
            )
            running = await start_flutterwave(webhook, args.host, args.port or 8092)
        print(f"{args.provider} simulator on {running.url}", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        await running.stop()
        return 0

    return _run_loop(serve())


def cmd_fairness_new_chain(args: argparse.Namespace) -> int:
    import secrets
    import time

    from letsbet.crash import fairness
    from letsbet.crash.chains import store_chain
    from letsbet.platform import servers
    from letsbet.platform.db import Database

    if not 1 <= args.length <= 100_000_000 or not 1 <= args.checkpoint_every <= 1_000_000:
        print("letsbet: --length is 1..100000000, --checkpoint-every 1..1000000", file=sys.stderr)
        return 2
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,31}", args.game):
        print("letsbet: --game is 1-32 of a-z, 0-9 and '-'", file=sys.stderr)
        return 2
    settings = _settings()
    configure_logging(settings.log_level, settings.effective_log_format)
    started = time.perf_counter()
    chain = fairness.generate_chain(
        secrets.token_bytes(32), args.length, every=args.checkpoint_every
    )
    seconds = time.perf_counter() - started
    key = fairness.derive_key(settings.crash_chain_secret)

    async def store(url: str) -> int:
        db = Database(url, pool_size=1)
        try:
            async with db.transaction() as conn:
                return (await store_chain(conn, game_id=args.game, chain=chain, key=key)).id
        finally:
            await db.close()

    with servers.resolved(settings) as ready:
        url = ready.resolved_database_url() or ""
        _migrate_up(url)
        chain_id = asyncio.run(store(url))
    print(f"game {args.game}: chain {chain_id} of {args.length} games in {seconds:.1f} s")
    print(f"stored {len(chain.checkpoints)} sealed checkpoints (every {chain.every} links)")
    print("terminating hash (publish it before the first round, then fix the salt):")
    print(chain.terminating_hash)
    return 0


def cmd_fairness_crash_point(args: argparse.Namespace) -> int:
    from letsbet.crash import fairness

    try:
        game_hash = fairness.check_hash(args.hash)
        point = fairness.crash_point(game_hash, _salt(args.salt), args.edge)
    except ValueError as exc:
        print(f"letsbet: {exc}", file=sys.stderr)
        return 2
    print(fairness.format_multiplier(point))
    return 0


def cmd_fairness_verify_chain(args: argparse.Namespace) -> int:
    from letsbet.crash import fairness

    try:
        number = fairness.verify_chain(args.hash, args.terminating, max_games=args.max)
    except ValueError as exc:
        print(f"letsbet: {exc}", file=sys.stderr)
        return 2
    if number is None:
        print(f"not in the chain within {args.max} games", file=sys.stderr)
        return 1
    print(number)
    return 0


def _salt(value: str) -> str:
    if not re.fullmatch(r"[\x21-\x7e]{1,128}", value):
        raise ValueError("the salt is 1-128 printable ASCII characters")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="letsbet", description="letsbet betting platform")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="run every role in one process tree").set_defaults(func=cmd_run)
    serve = sub.add_parser("serve", help="run the given roles")
    serve.add_argument("roles", nargs="+", metavar="ROLE")
    serve.set_defaults(func=cmd_serve)
    mig = sub.add_parser("migrate", help="database migrations")
    mig.add_argument("action", choices=["up", "down", "status"])
    mig.add_argument("--revision", help="target (default: head for up, -1 for down)")
    mig.set_defaults(func=cmd_migrate)
    admin = sub.add_parser("admin", help="staff accounts")
    admin_sub = admin.add_subparsers(dest="admin_command", required=True)
    create = admin_sub.add_parser("create", help="create a staff (or player) account")
    create.add_argument("--phone", required=True)
    create.add_argument("--password", required=True)
    create.add_argument("--country", required=True, choices=["KE", "NG", "GH"])
    create.add_argument("--role", default="admin", choices=["admin", "compliance", "player"])
    create.add_argument("--date-of-birth", default="1990-01-01")
    create.add_argument("--first-name")
    create.add_argument("--last-name")
    create.set_defaults(func=cmd_admin_create)
    ledger = sub.add_parser("ledger", help="the double-entry ledger")
    ledger_sub = ledger.add_subparsers(dest="ledger_command", required=True)
    ledger_sub.add_parser(
        "check", help="prove the books balance (exit 0 sound, 1 with a report of every break)"
    ).set_defaults(func=cmd_ledger_check)
    _fairness_parser(sub)
    audit = sub.add_parser("audit", help="the tamper-evident audit log")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True)
    audit_sub.add_parser(
        "verify", help="check the hash chain (exit 0 sound, 1 naming the first broken row)"
    ).set_defaults(func=cmd_audit_verify)
    config = sub.add_parser("config", help="configuration")
    config_sub = config.add_subparsers(dest="config_command", required=True)
    config_sub.add_parser("check", help="validate and print").set_defaults(func=cmd_config_check)
    simulate = sub.add_parser("simulate", help="run a provider simulator (payments, Smile ID)")
    simulate.add_argument("provider", choices=["mpesa", "flutterwave", "smileid"])
    simulate.add_argument("--host", default="127.0.0.1")
    simulate.add_argument(
        "--port", type=int, help="default: 8091 (mpesa), 8092 (flutterwave), 8093 (smileid)"
    )
    simulate.add_argument("--webhook-url", help="flutterwave: where to send webhooks")
    simulate.set_defaults(func=cmd_simulate)
    return parser


def _fairness_parser(sub: Any) -> None:
    fair = sub.add_parser("fairness", help="the crash game's provably fair hash chain")
    fair_sub = fair.add_subparsers(dest="fairness_command", required=True)
    new = fair_sub.add_parser("new-chain", help="generate and store a chain; print its commitment")
    new.add_argument("--length", type=int, default=1_000_000, help="games (default 1000000)")
    new.add_argument("--game", default="crash", help="game id (default crash)")
    new.add_argument("--checkpoint-every", type=int, default=1000, help=argparse.SUPPRESS)
    new.set_defaults(func=cmd_fairness_new_chain)
    point = fair_sub.add_parser("crash-point", help="a game hash's crash point, e.g. 1.26")
    point.add_argument("--hash", required=True)
    point.add_argument("--salt", required=True)
    point.add_argument("--edge", type=float, default=1.0, help="house edge in percent")
    point.set_defaults(func=cmd_fairness_crash_point)
    verify = fair_sub.add_parser(
        "verify-chain", help="the game number of a hash (exit 1 if not in the chain)"
    )
    verify.add_argument("--hash", required=True)
    verify.add_argument("--terminating", required=True)
    verify.add_argument("--max", type=int, default=10_000_000, help="games to try")
    verify.set_defaults(func=cmd_fairness_verify_chain)


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    raise SystemExit(args.func(args))


if __name__ == "__main__":
    main()
