"""Bet placement through the HTTP API: `POST /api/bets`, singles and 5-leg multis.

The api runs under uvicorn in its own process exactly as in bench/edge.py (`bench.server app`,
the same settings, rate limits out of the way); the load generator runs in another process and
PostgreSQL/Redis/NATS in theirs. The bare Starlette endpoint, measured in the same run at the
same connection counts, is the ceiling. Every request carries a fresh idempotency key (the load
generator's `{n}`), so every 2xx is a new bet; at the end the `bets` table must hold exactly as
many rows as the server answered 2xx, and the ledger check must find the books sound.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import psutil
import sqlalchemy as sa
import uvloop
from sqlalchemy.ext.asyncio import AsyncConnection

from bench.common import die_with_parent, fmt_ms, fmt_rate, fmt_ratio, free_port, make_settings
from bench.edge import ROOT, ServerProcess
from bench.ledger import PgCpu
from bench.report import Report, Section
from letsbet.accounts.domain import Role
from letsbet.accounts.tables import users
from letsbet.accounts.tokens import TokenSigner
from letsbet.ledger import reconcile
from letsbet.ledger import service as ledger
from letsbet.ledger.domain import Entry, House, HouseAccount, PlayerCash, TransferSpec
from letsbet.platform.db import Database, plain_url
from letsbet.sportsbook.bets.schemas import milli_to_odds
from letsbet.sportsbook.catalogue import demo
from letsbet.sportsbook.catalogue import service as catalogue
from letsbet.sportsbook.catalogue.tables import events, markets, outcomes
from letsbet.sportsbook.odds.pricing import MatchModel, price_market

COUNTRY, CURRENCY = "KE", "KES"
PLAYERS = 32  # one per connection at the highest concurrency: no two requests share a wallet
FUNDING = 10**12  # minor units per player: far more than any run can stake
STAKE = "10.00"
PHONE_PREFIX = "+bench-bets-"
LEGS = 5
SPREAD_EVENTS = 40  # the demo's 5 plus 35 more like them, for the row that spreads singles
CONNECTIONS = (16, 32)
# Rotate each multi's legs by connection, as players order them any way they like (placement
# locks the events' liability rows in event-id order whatever the slip's order; see
# _leg_order_note). False sends every multi's legs in event order.
MIXED_LEG_ORDER = True
WARMUP = 2.0
SECONDS = 5.0
TARGET_RATE, TARGET_P99 = 1000, 50.0
OTHER_LOAD = 0.5  # cores busy outside the measured processes above which a row gets a warning


@dataclass(frozen=True)
class Case:
    label: str
    kind: str  # "bare", "single" or "multi"
    connections: int  # in total, split evenly over the servers
    players: int = PLAYERS  # distinct wallets the connections bet from (1: one hot wallet)
    servers: int = 1
    events: int = LEGS  # the bets go to the first `events` events (the demo's five by default)


BARE = {n: Case("bare Starlette GET / (ceiling)", "bare", n) for n in CONNECTIONS}
SINGLE = {n: Case("single", "single", n) for n in CONNECTIONS}
MULTI = {n: Case(f"{LEGS}-leg multi", "multi", n) for n in CONNECTIONS}
TOP = max(CONNECTIONS)
SPREAD = Case(f"single, over {SPREAD_EVENTS} events", "single", TOP, events=SPREAD_EVENTS)
HOT = Case("single, one player (hot wallet)", "single", TOP, players=1)
SINGLE_2 = Case(f"single, 2 api processes, {TOP // 2} conns each", "single", TOP, servers=2)
MULTI_2 = Case(f"{LEGS}-leg multi, 2 api processes, {TOP // 2} conns each", "multi", TOP, servers=2)
CASES = (*BARE.values(), *SINGLE.values(), *MULTI.values(), SPREAD, HOT, SINGLE_2, MULTI_2)


@dataclass(frozen=True)
class World:
    tokens: list[str]  # a bearer token per player
    by_event: list[list[tuple[int, str]]]  # (outcome id, current odds) of each event, demo first
    pg: PgCpu

    def singles(self, events: int) -> list[tuple[int, str]]:
        """Every outcome of the first `events` events, interleaved (consecutive connections
        bet on different events)."""
        groups = self.by_event[:events]
        depth = max(len(g) for g in groups)
        return [g[i] for i in range(depth) for g in groups if i < len(g)]


# -- setup and checks (in the bench process, straight on the database) -------------------------
async def _setup(urls: dict[str, str]) -> World:
    db = Database(urls["database"], pool_size=2, application_name="letsbet-bench")
    try:
        async with db.transaction() as conn:
            await demo.seed(conn)
            await _more_events(conn, SPREAD_EVENTS - len(demo.FIXTURES))
            rows = (
                await conn.execute(
                    sa.select(events.c.id, outcomes.c.id.label("outcome_id"), outcomes.c.odds_milli)
                    .join(markets, markets.c.event_id == events.c.id)
                    .join(outcomes, outcomes.c.market_id == markets.c.id)
                    .where(
                        events.c.external_id.like("demo:%") | events.c.external_id.like("bench:%"),
                        events.c.status == "scheduled",
                        markets.c.status == "open",
                        outcomes.c.active,
                    )
                    .order_by(events.c.id, markets.c.id, outcomes.c.id)
                )
            ).all()
            players = [uuid.uuid4() for _ in range(PLAYERS)]
            await conn.execute(
                sa.insert(users),
                [
                    {
                        "id": user_id,
                        "phone": f"{PHONE_PREFIX}{user_id.hex}",
                        "password_hash": "!",
                        "country_code": COUNTRY,
                        "date_of_birth": date(1990, 1, 1),
                    }
                    for user_id in players
                ],
            )
            for user_id in players:  # through the ledger, which also opens the wallets
                await ledger.post_transfer(
                    conn,
                    TransferSpec(
                        idempotency_key=f"bench-bets-fund-{user_id.hex}",
                        type="adjustment",
                        country=COUNTRY,
                        currency=CURRENCY,
                        entries=(
                            Entry(House(HouseAccount.ADJUSTMENTS), -FUNDING),
                            Entry(PlayerCash(user_id), FUNDING),
                        ),
                        reference="bench funding",
                    ),
                )
        raw = await asyncpg.connect(plain_url(urls["database"]))
        try:
            pg = await PgCpu.find(raw)  # it only asks for a backend's pid: a connection will do
        finally:
            await raw.close()
    finally:
        await db.close()

    by_event: dict[int, list[tuple[int, str]]] = {}
    for row in rows:
        by_event.setdefault(row.id, []).append((row.outcome_id, milli_to_odds(row.odds_milli)))
    if len(by_event) < LEGS:
        raise RuntimeError(f"the demo seeded {len(by_event)} open events; a multi needs {LEGS}")
    if len(by_event) < SPREAD_EVENTS:
        raise RuntimeError(f"{len(by_event)} open events; the spread row needs {SPREAD_EVENTS}")
    settings = make_settings(urls)
    signer = TokenSigner(  # what Runtime.signer builds from the same settings
        secret=settings.signing_secret,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        access_ttl=timedelta(seconds=settings.access_token_ttl_seconds),
        refresh_ttl=timedelta(seconds=settings.refresh_token_ttl_seconds),
    )
    now = datetime.now(UTC)
    tokens = [
        signer.access_token(user_id=p, role=Role.PLAYER, country=COUNTRY, now=now) for p in players
    ]
    return World(tokens=tokens, by_event=list(by_event.values()), pg=pg)


async def _more_events(conn: AsyncConnection, count: int) -> None:
    """Events like the demo's (same model, markets and margin), later kick-offs, own ids."""
    now = datetime.now(UTC)
    for n in range(count):
        *_, home_rate, away_rate = demo.FIXTURES[n % len(demo.FIXTURES)]
        model = MatchModel(home_rate=home_rate, away_rate=away_rate)
        await catalogue.create_event(
            conn,
            catalogue.NewEvent(
                sport_id="football",
                competition="Bench League",
                region="Kenya",
                home=f"Bench Home {n}",
                away=f"Bench Away {n}",
                starts_at=now + timedelta(days=1, hours=n),
                markets=[
                    catalogue.NewMarket(
                        type=kind.value,
                        line=line,
                        prices=price_market(model, kind, line, demo.MARGIN),
                    )
                    for kind, line in demo.MARKETS
                ],
                external_id=f"bench:{n}",
            ),
            actor="bench",
        )


async def _deadlocks(url: str) -> int:
    conn = await asyncpg.connect(plain_url(url))
    try:
        value = await conn.fetchval(
            "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()"
        )
        return int(value or 0)
    finally:
        await conn.close()


@dataclass(frozen=True)
class Books:
    bets: int  # bets of the bench players in the `bets` table
    staked: int  # sum of their total_stake
    taken: int  # what left the bench players' wallets
    ledger: reconcile.Report


_BOOKS_SQL = sa.text(
    """
    SELECT (SELECT count(*) FROM bets b JOIN users u ON u.id = b.user_id
             WHERE u.phone LIKE :phones) AS bets,
           (SELECT coalesce(sum(b.total_stake), 0) FROM bets b JOIN users u ON u.id = b.user_id
             WHERE u.phone LIKE :phones) AS staked,
           (SELECT coalesce(sum(a.balance), 0) FROM ledger_accounts a
              JOIN users u ON u.id = a.owner_id
             WHERE a.kind = 'player_cash' AND u.phone LIKE :phones) AS balance,
           (SELECT count(*) FROM users u WHERE u.phone LIKE :phones) AS players
    """
)


async def _books(url: str) -> Books:
    db = Database(url, pool_size=2, application_name="letsbet-bench")
    try:
        async with db.connect() as conn:
            row = (await conn.execute(_BOOKS_SQL, {"phones": PHONE_PREFIX + "%"})).one()
        ledger_report = await reconcile.check(db)
    finally:
        await db.close()
    taken = FUNDING * int(row.players) - int(row.balance)
    return Books(int(row.bets), int(row.staked), taken, ledger_report)


# -- load ----------------------------------------------------------------------------------------
def _bet(token: str, selections: list[tuple[int, str]], key: str) -> dict[str, Any]:
    body = {
        "bet_type": "single" if len(selections) == 1 else "multi",
        "selections": [{"outcome_id": o, "odds": odds} for o, odds in selections],
        "stake": STAKE,
        "odds_change": "any",  # price moves never reject: we measure placement, not policy
        "idempotency_key": key + "-{n}",  # the load generator numbers every request
    }
    return {
        "method": "POST",
        "path": "/api/bets",
        "headers": {"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        "body": json.dumps(body, separators=(",", ":")),
    }


def _requests(world: World, case: Case, row: int, server: int, count: int) -> list[Any]:
    """One request template per connection of one server (connection i sends template i)."""
    out: list[Any] = []
    singles = world.singles(case.events)
    for i in range(count):
        n = server * count + i  # the connection's number over all servers
        token = world.tokens[n % case.players]
        key = f"r{row}s{server}c{i}"
        if case.kind == "bare":
            out.append({"method": "GET", "path": "/"})
        elif case.kind == "single":
            out.append(_bet(token, [singles[n % len(singles)]], key))
        else:
            # One outcome of each of the LEGS demo events, the outcome varying by connection;
            # legs rotated by connection when MIXED_LEG_ORDER (see _leg_order_note).
            legs = [group[n % len(group)] for group in world.by_event[:LEGS]]
            if MIXED_LEG_ORDER:
                legs = legs[n % LEGS :] + legs[: n % LEGS]
            out.append(_bet(token, legs, key))
    return out


def _loadgen(spec: dict[str, Any]) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "bench.loadgen"],
        cwd=ROOT,
        input=json.dumps(spec),
        capture_output=True,
        text=True,
        timeout=spec["duration"] + spec["warmup"] + 90,
        preexec_fn=die_with_parent(),
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"load generator failed ({done.returncode}):\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def _busy(before: Any, after: Any) -> float:
    total = sum(after) - sum(before)
    idle = (after.idle - before.idle) + (getattr(after, "iowait", 0) - getattr(before, "iowait", 0))
    return 0.0 if total <= 0 else 1 - idle / total


def _measure(
    servers: Sequence[ServerProcess], world: World, case: Case, row: int, urls: dict[str, str]
) -> dict[str, Any]:
    each = case.connections // len(servers)
    specs = [
        {
            "host": "127.0.0.1",
            "port": server.port,
            "connections": each,
            "duration": SECONDS,
            "warmup": WARMUP,
            "requests": _requests(world, case, row, s, each),
            "tool": "python",  # `{n}` bodies and the all-responses count need it
        }
        for s, server in enumerate(servers)
    ]
    deadlocks0 = uvloop.run(_deadlocks(urls["database"])) if case.kind != "bare" else 0
    cpu0 = [s.cpu_seconds() for s in servers]
    pg0, machine0, t0 = world.pg.snapshot(), psutil.cpu_times(), time.perf_counter()
    with ThreadPoolExecutor(len(specs)) as pool:
        outs = list(pool.map(_loadgen, specs))
    wall = time.perf_counter() - t0
    busy = _busy(machine0, psutil.cpu_times())
    pg_used = PgCpu.used(pg0, world.pg.snapshot()) if case.kind != "bare" else None
    api_cpu = sum(s.cpu_seconds() - c for s, c in zip(servers, cpu0, strict=True))
    cores = psutil.cpu_count() or 1
    client = sum(o["client_cpu"] for o in outs)
    statuses: dict[str, int] = {}
    all_statuses: dict[str, int] = {}
    for out in outs:
        for key, value in out["statuses"].items():
            statuses[key] = statuses.get(key, 0) + value
        for key, value in out["all_statuses"].items():
            all_statuses[key] = all_statuses.get(key, 0) + value
    answered = sum(all_statuses.values())
    ok_all = sum(v for k, v in all_statuses.items() if k.startswith("2"))

    def worst(key: str) -> float | None:
        values = [o[key] for o in outs if o[key] is not None]
        return max(values) if values else None

    result = {
        "rps": sum(o["rps"] for o in outs),
        # With one load generator per server the merged percentile lies between theirs:
        # the worse one is reported (an upper bound).
        "p50_ms": worst("p50_ms"),
        "p99_ms": worst("p99_ms"),
        "errors": sum(o["errors"] for o in outs),
        "statuses": statuses,
        "all_statuses": all_statuses,
        "answered": answered,
        "ok_all": ok_all,
        "non_2xx_all": answered - ok_all,
        "api_share": api_cpu / wall,
        "api_us": api_cpu / answered * 1e6 if answered else None,
        "pg_share": None if pg_used is None else pg_used / wall,
        "pg_us": None if pg_used is None or not answered else pg_used / answered * 1e6,
        "client_cpu": client,
        "busy": busy,
        # Cores in use beyond the api process(es), PostgreSQL and the load generator: Redis,
        # NATS, the kernel's networking, and whatever else runs on the machine meanwhile.
        "other": busy * cores - api_cpu / wall - (pg_used or 0.0) / wall - client,
        "deadlocks": None,
    }
    if case.kind != "bare":
        time.sleep(1.2)  # backends flush their statistics at most once a second
        result["deadlocks"] = uvloop.run(_deadlocks(urls["database"])) - deadlocks0
    return result


# -- the section ---------------------------------------------------------------------------------
HEADERS = [
    "case",
    "conns",
    "bets/s",
    "p50 ms",
    "p99 ms",
    "vs bare",
    "api CPU µs/bet (vs bare)",
    "PostgreSQL CPU µs/bet",
    "api CPU",
    "PostgreSQL CPU",
    "client CPU",
    "other CPU",
    "machine busy",
    "deadlocks",
    "errors",
]

# One-off sampling profile of the single path (py-spy on the api process, singles at 16
# connections, this machine, the code as measured here); not measured by this run, so quoted
# as text.
PROFILE_NOTE = (
    "where one api process's CPU goes (a one-off py-spy sample of the single path at 16 "
    "connections, not part of this run; each sample counted where its deepest frame is): about "
    "32% executing SQL (asyncpg encoding, sending and decoding the four round trips, "
    "SQLAlchemy's pool checkout), 23% uvicorn/Starlette/FastAPI and our middleware (HTTP "
    "parsing, routing, dependency injection, sending the answer), 23% our own code (placement's "
    "rules, the ledger's balances and postings, tax, money formatting, building the answer and "
    "the events, ids, metrics), 11% the event loop, 7% the one Redis call (rate limits and the "
    "logout denylist in one script), 3% pydantic and JSON, JWT under 1% (verified tokens are "
    "cached). A single is 4 PostgreSQL round trips: BEGIN, one read (the idempotency key, "
    "eligibility's inputs, the leg's price, statuses, limits and exposure, the wallet and house "
    "account locked FOR UPDATE), one write (the bet, the exposure upsert, legs, lines, status, "
    "the ledger transfer and both events) and COMMIT; the answer is built from values in hand. "
    "PostgreSQL's own share is the rows themselves: about 10 rows, ~30 index entries, 9 foreign "
    "key checks (share locks on the hot event, market, outcome and player rows) and their WAL "
    "per single, each statement on a reused generic plan"
)


def _leg_order_note(results: dict[Case, dict[str, Any]]) -> str:
    multis = [r for case, r in results.items() if case.kind == "multi"]
    deadlocks = sum(r["deadlocks"] or 0 for r in multis)
    order = (
        f"rotated by connection (slips with the same {LEGS} events in {LEGS} different orders)"
        if MIXED_LEG_ORDER
        else "in event order in every slip"
    )
    return (
        f"the legs of the multis here are {order}; placement locks the ledger accounts in "
        "ascending id in its read, then upserts every event's exposure in ascending event id "
        "in its one write, so slips on the same events queue on those rows instead of "
        f"deadlocking: {deadlocks} deadlocks over the multi rows (an earlier version, upserting "
        "in slip order, deadlocked on rotated legs through all of `run_in_transaction`'s "
        "retries)"
    )


def _ratio(value: float | None) -> str:
    if value is None or value >= 0.1:
        return fmt_ratio(value)
    return f"{value:.3f}x"


def _us(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def _row(case: Case, r: dict[str, Any], base: dict[str, Any]) -> list[str]:
    cost = _us(r["api_us"])
    if r is not base and base.get("api_us") and r["api_us"] is not None:
        cost += f" ({r['api_us'] / base['api_us']:.0f}x)"
    errors = str(r["errors"])
    bad = {k: v for k, v in r["statuses"].items() if not k.startswith("2")}
    if bad:
        errors += " (" + ", ".join(f"{k}: {v}" for k, v in bad.items()) + ")"
    return [
        case.label,
        str(case.connections),
        fmt_rate(r["rps"]),
        fmt_ms(r["p50_ms"]),
        fmt_ms(r["p99_ms"]),
        _ratio(r["rps"] / base["rps"] if base["rps"] else None),
        cost,
        _us(r["pg_us"]),
        f"{r['api_share']:.0%}",
        "-" if r["pg_share"] is None else f"{r['pg_share']:.0%}",
        f"{r['client_cpu']:.0%}",
        f"{r['other']:.0%}",
        f"{r['busy']:.0%}",
        "-" if r["deadlocks"] is None else str(r["deadlocks"]),
        errors,
    ]


class _Server(ServerProcess):
    """bench.edge's server process, with a log file of its own (two app servers run at once)."""

    def __init__(self, kind: str, name: str, log_dir: Path, urls: dict[str, str] | None) -> None:
        self.kind = kind
        self.port = free_port()
        self.log_path = log_dir / f"server-bets-{name}.log"
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


def _intro() -> str:
    text = f"""
    `POST /api/bets` through the real api: `create_app` under uvicorn (httptools, uvloop) in
    its own process, the same server and settings as section 1 (rate limiter on but unlimited,
    JWT, logout denylist, a pool of up to 20 PostgreSQL connections kept open), driven by the
    Python load
    generator in another process, keep-alive, closed loop, {WARMUP:g} s warm-up then
    {SECONDS:g} s measured per row. Fixtures: the {LEGS} demo football events
    (`catalogue.demo.seed`, 5 priced markets each) and, for one row, {SPREAD_EVENTS - LEGS} more
    like them; {PLAYERS} players funded through the ledger, one per connection (a player's bets
    are serial by design: they queue on the wallet's row lock), except in the hot-wallet row
    where every connection bets for one player. Every request has a fresh idempotency key,
    stake {STAKE} KES at the current price and `odds_change: "any"` (a price move never
    rejects). Singles go round every outcome of the events; a {LEGS}-leg multi takes one outcome
    of each demo event{", its legs rotated by connection" if MIXED_LEG_ORDER else ""}. One
    placement is one transaction of four PostgreSQL round trips: BEGIN; one read (the
    idempotency key's bet, eligibility's inputs, every leg's price, statuses, limits and
    exposure, the stake's ledger accounts locked FOR UPDATE); one write (the bet, every event's
    exposure upserted in event-id order under its cap, legs and lines, status history, the
    ledger transfer of the stake into stakes in play and both outbox events); COMMIT. The answer
    is built from values in hand; the edge makes one Redis call (rate limits and the logout
    denylist in one script). Ceiling: the bare Starlette `GET /` of section 1, started again
    and measured here at the same connection counts. "api CPU µs/bet" is the api process's own
    CPU (both processes' in the 2-process rows) per answered request, warm-up included, against bare
    Starlette's per request in brackets; PostgreSQL CPU is the whole server's; percentages are
    shares of one core; other CPU is what the machine used beyond the api, PostgreSQL and the
    load generator (Redis, NATS, the kernel, and anybody else's work on a shared machine);
    machine busy is all cores together. Deadlocks are PostgreSQL's count (`pg_stat_database`)
    over the row (`run_in_transaction` retries them). The 2-process rows run two api processes
    on two ports with {TOP // 2} connections and one load generator each (what two uvicorn
    workers or two replicas behind a balancer do); their p50/p99 are the worse of the two
    generators' (the merged percentile lies between them). Errors are non-2xx answers and
    dropped connections, with their statuses.
    """
    return " ".join(text.split())


def run(urls: dict[str, str], report: Report, log_dir: Path) -> None:
    section = report.section("6. Bet placement through the API", _intro(), HEADERS)
    started = time.perf_counter()
    world = uvloop.run(_setup(urls))
    print(
        f"  set up {len(world.by_event)} events and {PLAYERS} funded players in "
        f"{time.perf_counter() - started:.1f} s",
        flush=True,
    )
    results: dict[Case, dict[str, Any]] = {}
    answered_2xx = 0

    bare = _Server("bare", "bare", log_dir, None)
    try:
        bare.wait_ready("/")
        for case in BARE.values():
            results[case] = _measure([bare], world, case, CASES.index(case), urls)
            section.add(_row(case, results[case], results[case]))
            _check(report, case, results[case], bare)
    finally:
        bare.stop()

    for count in sorted({c.servers for c in CASES if c.kind != "bare"}):
        servers = [_Server("app", f"app{i + 1}", log_dir, urls) for i in range(count)]
        try:
            for server in servers:
                server.wait_ready("/healthz")
            for case in CASES:
                if case.kind == "bare" or case.servers != count:
                    continue
                r = results[case] = _measure(servers, world, case, CASES.index(case), urls)
                answered_2xx += r["ok_all"]
                section.add(_row(case, r, results[BARE[case.connections]]))
                _check(report, case, r, servers[0])
        finally:
            for server in servers:
                server.stop()

    books = uvloop.run(_books(urls["database"]))
    _conclude(section, report, results, books, answered_2xx)


def _check(report: Report, case: Case, r: dict[str, Any], server: ServerProcess) -> None:
    if r["errors"] or r["non_2xx_all"]:
        report.warn(
            f"bets, {case.label} at {case.connections} connections: {r['errors']} errors in "
            f"the window, {r['non_2xx_all']} non-2xx answers over the whole run (window "
            f"statuses {r['statuses']}, all {r['all_statuses']}); server log "
            f"{server.log_path.name}"
        )
    if case.kind != "bare" and r["other"] > OTHER_LOAD:
        report.warn(
            f"bets, {case.label} at {case.connections} connections: {r['other']:.0%} of a core "
            "was busy outside the api, PostgreSQL and the load generator (Redis, NATS and the "
            "kernel take about 20-25% here; the rest is other work on the machine), so this "
            "row's absolute figures are low"
        )
    if r["client_cpu"] > 0.9:
        report.warn(
            f"bets, {case.label}: the load generator used {r['client_cpu']:.0%} of a core; "
            "the figure may be client-bound"
        )


def _meets(r: dict[str, Any]) -> bool:
    return r["rps"] >= TARGET_RATE and r["p99_ms"] is not None and r["p99_ms"] <= TARGET_P99


def _conclude(
    section: Section,
    report: Report,
    results: dict[Case, dict[str, Any]],
    books: Books,
    answered_2xx: int,
) -> None:
    cores = psutil.cpu_count() or 1
    for n, case in SINGLE.items():
        r = results[case]
        section.note(
            f"target ≥ {TARGET_RATE:,} single bets/s with p99 ≤ {TARGET_P99:g} ms, one api "
            f"process, {n} connections: {'met' if _meets(r) else 'NOT met'} "
            f"({fmt_rate(r['rps'])}/s, p99 {fmt_ms(r['p99_ms'])} ms)"
        )
    two = results[SINGLE_2]
    section.note(
        f"the same target with 2 api processes ({TOP} connections): "
        f"{'met' if _meets(two) else 'NOT met'} ({fmt_rate(two['rps'])}/s, p99 ≤ "
        f"{fmt_ms(two['p99_ms'])} ms)"
    )
    one, bare = results[SINGLE[TOP]], results[BARE[TOP]]
    bound = one["api_share"] >= 0.75
    section.note(
        f"what limits one api process: at {TOP} connections it ran at {one['api_share']:.0%} of "
        f"a core and spent {_us(one['api_us'])} µs of CPU per bet ({_us(bare['api_us'])} µs per "
        f"bare request), while PostgreSQL used {one['pg_share'] or 0:.0%} of a core "
        f"({_us(one['pg_us'])} µs per bet) and the machine was {one['busy']:.0%} busy: "
        + (
            "the single Python process is the bottleneck; at this cost one core tops out near "
            f"{fmt_rate(1e6 / one['api_us'])} bets/s"
            if bound and one["api_us"]
            else (
                f"the cores were full (other work took {one['other']:.0%} of a core), so the "
                "api process waited for a core; at this cost one core would top out near "
                f"{fmt_rate(1e6 / one['api_us'])} bets/s"
                if one["busy"] >= 0.9 and one["api_us"]
                else "the api process was not CPU-bound here, so waits (locks, the pool) limit it"
            )
        )
    )
    section.note(PROFILE_NOTE)
    pair = (two["api_us"] or 0.0) + (two["pg_us"] or 0.0)
    gain = two["rps"] / one["rps"] if one["rps"] else 0.0
    section.note(
        f"scale-out on {cores} cores: 2 api processes placed {fmt_rate(two['rps'])} singles/s, "
        f"{gain:.2f}x one process, both together at {two['api_share']:.0%} of a core, "
        f"PostgreSQL at {two['pg_share'] or 0:.0%}, other work at {two['other']:.0%} and the "
        f"machine {two['busy']:.0%} busy: "
        + (
            "the machine is full, so a second process on the same cores adds little; "
            if two["busy"] >= 0.9
            else "there was still a core to spare; "
        )
        + f"api and PostgreSQL spent {_us(pair)} µs of CPU per bet between them, while "
        f"{TARGET_RATE:,}/s on {cores} cores leaves {_us(cores * 1e6 / TARGET_RATE)} µs per bet "
        "for everything (Redis, NATS, the kernel included)"
        + (
            f", {pair / (cores * 1e6 / TARGET_RATE):.1f}x that budget: with 4 round trips left "
            "the rest is the HTTP stack, Python and asyncpg per statement in the api, and in "
            "PostgreSQL the rows, index entries, foreign key checks and WAL each bet writes "
            "(cf. the profile above). Beyond this: api replicas on cores of their own and "
            "PostgreSQL on its own host"
            if pair > cores * 1e6 / TARGET_RATE
            else ""
        )
    )
    spread, hot = results[SPREAD], results[HOT]
    multi, multi_2 = results[MULTI[TOP]], results[MULTI_2]
    held = (
        "each placement holds its events' liability row locks from its write to COMMIT, and "
        "its wallet's and house shard's from its read to COMMIT"
    )
    spread_gain = spread["rps"] / one["rps"] if one["rps"] else 0.0
    section.note(
        f"hot rows: singles over {SPREAD_EVENTS} events instead of {LEGS} ran at "
        f"{fmt_rate(spread['rps'])}/s against {fmt_rate(one['rps'])}/s"
        + (
            f" ({held}): on {LEGS} events that queue costs a share of the throughput"
            if spread_gain >= 1.2
            else f" ({held}): on {LEGS} events that queue is not the limit here"
        )
        + f"; one player on all {TOP} connections ran at {fmt_rate(hot['rps'])}/s, p99 "
        f"{fmt_ms(hot['p99_ms'])} ms (every bet queues on the wallet's row lock). Every multi "
        f"here holds all {LEGS} demo events' liability rows at once, from its write to COMMIT, "
        f"so multis on the same events queue there; a multi also writes {LEGS} legs, "
        f"{LEGS} exposure rows and their foreign key checks, so it costs PostgreSQL more than "
        f"a single: {fmt_rate(multi['rps'])}/s with p99 "
        f"{fmt_ms(multi['p99_ms'])} ms on one process (itself at {multi['api_share']:.0%} of a "
        f"core) and {fmt_rate(multi_2['rps'])}/s, p99 ≤ "
        f"{fmt_ms(multi_2['p99_ms'])} ms on two"
    )
    section.note(_leg_order_note(results))
    deadlocks = sum(r["deadlocks"] or 0 for r in results.values())
    errors = sum(r["errors"] + r["non_2xx_all"] for r in results.values())
    section.note(
        f"deadlocks over all rows: {deadlocks}; errors (non-2xx or dropped connections, "
        f"warm-up included): {errors}"
    )
    same_count, same_money = books.bets == answered_2xx, books.staked == books.taken
    section.note(
        f"after the run: {books.bets:,} bets in the `bets` table for the bench players and "
        f"{answered_2xx:,} 2xx answers over every row, warm-up included: "
        f"{'equal' if same_count else 'DIFFERENT'}; their stakes {books.staked / 100:,.2f} KES, "
        f"taken from the players' wallets {books.taken / 100:,.2f} KES: "
        f"{'equal' if same_money else 'DIFFERENT'}"
    )
    ledger_report = books.ledger
    section.note(
        f"ledger check after the run: {'sound' if ledger_report.sound else 'BROKEN'}, "
        f"{ledger_report.transfers:,} transfers, {ledger_report.postings:,} postings, "
        f"{ledger_report.accounts:,} accounts"
    )
    if not ledger_report.sound:
        for line in ledger_report.lines():
            report.warn(line)
        raise AssertionError("the ledger check found breaks after the bets benchmark")
    if not (same_count and same_money):
        raise AssertionError(
            f"bets benchmark: {books.bets} bets stored for {answered_2xx} 2xx answers, "
            f"{books.staked} staked against {books.taken} taken from the wallets"
        )
