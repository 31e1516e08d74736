"""The `letsbet` command.

    letsbet run                          every role in one process tree (development)
    letsbet serve ROLE [ROLE ...]        chosen roles: api relay games settlement payments odds
    letsbet migrate up|down|status       schema migrations (Alembic)
    letsbet admin create --phone --password --country [--role admin|compliance|player]
    letsbet ledger check                 prove the books balance (exit 0) or list every break (1)
    letsbet audit verify                 walk the audit hash chain (exit 0) or name the first
                                         broken row (1)
    letsbet config check                 validate the configuration and print it (no secrets)

Exit codes: 0 ok, 1 failure, 2 bad configuration or usage.
"""

from __future__ import annotations

import argparse
import asyncio
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
    from letsbet.platform.db import Database
    from letsbet.sportsbook.catalogue.demo import seed as seed_fixtures

    db = Database(settings.resolved_database_url() or "", pool_size=1)
    try:
        async with db.transaction() as conn:
            accounts = await seed(conn)
            await seed_fixtures(conn)
    finally:
        await db.close()
    lines = [f"  {a['role']:<11} phone {a['phone']}  password {a['password']}" for a in accounts]
    print("\nletsbet demo accounts (development only):\n" + "\n".join(lines), flush=True)


def cmd_run(args: argparse.Namespace) -> int:
    from letsbet.platform import roles, servers

    settings = _settings()
    configure_logging(settings.log_level, settings.effective_log_format)
    with servers.resolved(settings, publish=True) as ready:
        _migrate_up(ready.resolved_database_url() or "")
        if ready.seeds_demo_data:
            asyncio.run(_seed_demo(ready))
        return _run_loop(
            roles.serve(
                ready,
                roles.ROLES,
                on_ready=lambda: print(
                    f"\nletsbet is up: http://localhost:{ready.port}"
                    "  (docs: /docs, health: /readyz)\n",
                    flush=True,
                ),
            )
        )


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
    audit = sub.add_parser("audit", help="the tamper-evident audit log")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True)
    audit_sub.add_parser(
        "verify", help="check the hash chain (exit 0 sound, 1 naming the first broken row)"
    ).set_defaults(func=cmd_audit_verify)
    config = sub.add_parser("config", help="configuration")
    config_sub = config.add_subparsers(dest="config_command", required=True)
    config_sub.add_parser("check", help="validate and print").set_defaults(func=cmd_config_check)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    raise SystemExit(args.func(args))


if __name__ == "__main__":
    main()
