"""Ledger benchmarks: transfers through `service.post_transfer` vs the same SQL raw on asyncpg."""

from __future__ import annotations

import asyncio
import functools
import random
import re
import resource
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import asyncpg
import orjson
import psutil
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from bench.common import fmt_ms, fmt_rate, fmt_ratio, percentile
from bench.report import Report, Section
from letsbet.accounts.tables import users
from letsbet.ledger import reconcile, service
from letsbet.ledger import repository as repo
from letsbet.ledger.domain import (
    HOUSE_SHARDS,
    Entry,
    House,
    HouseAccount,
    InsufficientFunds,
    PlayerCash,
    TransferSpec,
    canonical_hash,
    house_shard,
)
from letsbet.ledger.tables import ledger_accounts
from letsbet.platform.db import Database, is_retryable, plain_url, run_in_transaction
from letsbet.platform.observability import LEDGER_REJECTIONS

PLAYERS = 1_000
FUNDING = 10**12  # minor units per player: far more than any run can move
FUND_BATCH = 100  # funding transfers per transaction
COUNTRY, CURRENCY = "KE", "KES"
TYPE = "bench.transfer"
SUBJECT = "ledger.transfer.posted"
CONCURRENCY = (8, 16)
WARMUP_SECONDS = 1.5
MEASURE_SECONDS = 5.0
SLICES = 5  # the ops being compared take turns in this many windows
HOT = 0  # index of the hot player in case (b)
RAW_RETRIES = 6
CPU_BOUND = 0.75  # share of a core (Python) or of the machine above which we call it the limit
OTHER_LOAD = 0.25  # cores used by unrelated processes above which a row gets a warning

# The raw ceiling runs the ledger's own SQL text, with :name parameters turned into $n.
_NAME = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")


def _positional(text: str) -> tuple[str, tuple[str, ...]]:
    names: list[str] = []

    def number(match: re.Match[str]) -> str:
        if match.group(1) not in names:
            names.append(match.group(1))
        return f"${names.index(match.group(1)) + 1}"

    return _NAME.sub(number, text), tuple(names)


_LOCK_SQL, _LOCK_NAMES = _positional(repo.lock_sql(2, 0))  # two accounts by id
_WRITE_SQL, _WRITE_NAMES = _positional(repo._WRITE_TRANSFER.text)


@dataclass(frozen=True)
class Case:
    label: str
    name: str
    # (debit player index, credit player index or None for the house) for one transfer
    pick: Callable[[random.Random], tuple[int, int | None]]


def _pair(rng: random.Random) -> tuple[int, int | None]:
    a, b = rng.sample(range(PLAYERS), 2)
    return a, b


def _hot(rng: random.Random) -> tuple[int, int | None]:
    return HOT, None


def _into_house(rng: random.Random) -> tuple[int, int | None]:
    return rng.randrange(PLAYERS), None


CASES = (
    Case("a", f"random pairs of {PLAYERS:,} players", _pair),
    Case("b", "one hot player → house", _hot),
    Case("c", "random player → house (sharded)", _into_house),
)


@dataclass
class World:
    players: list[uuid.UUID]
    accounts: list[int]  # ledger account id of each player
    stakes: dict[int, int]  # house stakes_in_play account id by shard
    codes: dict[int, str]  # house account id -> code


class PgCpu:
    """CPU of the PostgreSQL server: the postmaster and every child (backends, walwriter…)."""

    def __init__(self, postmaster: psutil.Process | None) -> None:
        self.postmaster = postmaster

    @staticmethod
    async def find(pool: asyncpg.Pool) -> PgCpu:
        try:
            pid = await pool.fetchval("SELECT pg_backend_pid()")
            backend = psutil.Process(pid)
            if "postgres" not in backend.name():  # a remote server whose pid means nothing here
                return PgCpu(None)
            return PgCpu(backend.parent())
        except psutil.Error:
            return PgCpu(None)

    def snapshot(self) -> dict[int, float] | None:
        if self.postmaster is None:
            return None
        out: dict[int, float] = {}
        for proc in (self.postmaster, *self.postmaster.children()):
            try:
                t = proc.cpu_times()
            except psutil.Error:
                continue
            out[proc.pid] = t.user + t.system
        return out

    @staticmethod
    def used(before: dict[int, float] | None, after: dict[int, float] | None) -> float | None:
        if before is None or after is None:
            return None
        # Backends that started during the window count in full; ones that exited are lost.
        return sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _machine_busy(before: Any, after: Any) -> float:
    total = sum(after) - sum(before)
    idle = (after.idle - before.idle) + (getattr(after, "iowait", 0) - getattr(before, "iowait", 0))
    return 0.0 if total <= 0 else 1 - idle / total


def _rejections() -> float:
    return sum(
        s.value
        for metric in LEDGER_REJECTIONS.collect()
        for s in metric.samples
        if s.name.endswith("_total")
    )


@dataclass
class _Tally:
    count: int = 0
    elapsed: float = 0.0
    cpu: float = 0.0
    pg_cpu: float | None = 0.0
    busy_cores: float = 0.0
    retries: int = 0
    rejections: float = 0.0
    latencies: list[float] = field(default_factory=list)


async def _compare(
    ops: dict[str, Callable[[], Awaitable[None]]],
    concurrency: int,
    pg: PgCpu,
    retries: list[int],
) -> dict[str, dict[str, Any]]:
    """Closed loop of `concurrency` tasks per op: each op warms up, then the ops take turns in
    SLICES short windows (MEASURE_SECONDS each in total), so that a burst of unrelated load on
    a shared machine hits every op alike and the ratios between them stay meaningful."""

    async def loop(op: Callable[[], Awaitable[None]], end: float, lat: list[float] | None) -> int:
        count = 0
        while (now := time.perf_counter()) < end:
            await op()
            count += 1
            if lat is not None:
                lat.append(time.perf_counter() - now)
        return count

    cores = psutil.cpu_count() or 1
    for op in ops.values():
        warm_end = time.perf_counter() + WARMUP_SECONDS
        await asyncio.gather(*(loop(op, warm_end, None) for _ in range(concurrency)))
    tallies = {name: _Tally() for name in ops}
    for _ in range(SLICES):
        for name, op in ops.items():
            t = tallies[name]
            retries0, rejections0 = retries[0], _rejections()
            cpu0, pg0, machine0 = _cpu(), pg.snapshot(), psutil.cpu_times()
            started = time.perf_counter()
            end = started + MEASURE_SECONDS / SLICES
            counts = await asyncio.gather(*(loop(op, end, t.latencies) for _ in range(concurrency)))
            t.elapsed += time.perf_counter() - started
            t.count += sum(counts)
            t.cpu += _cpu() - cpu0
            used = PgCpu.used(pg0, pg.snapshot())
            t.pg_cpu = None if used is None or t.pg_cpu is None else t.pg_cpu + used
            t.busy_cores += (
                _machine_busy(machine0, psutil.cpu_times())
                * cores
                * (time.perf_counter() - started)
            )
            t.retries += retries[0] - retries0
            t.rejections += _rejections() - rejections0
    return {name: _result(t, cores) for name, t in tallies.items()}


def _result(t: _Tally, cores: int) -> dict[str, Any]:
    t.latencies.sort()
    p50, p99 = percentile(t.latencies, 50), percentile(t.latencies, 99)
    busy = t.busy_cores / t.elapsed  # cores busy on average, everything on the machine
    return {
        "rate": t.count / t.elapsed,
        "count": t.count,
        "p50_ms": p50 * 1000 if p50 is not None else None,
        "p99_ms": p99 * 1000 if p99 is not None else None,
        "cpu_us": t.cpu / t.count * 1e6 if t.count else None,
        "pg_us": t.pg_cpu / t.count * 1e6 if t.count and t.pg_cpu is not None else None,
        "pg_share": t.pg_cpu / t.elapsed if t.pg_cpu is not None else None,
        "py_share": t.cpu / t.elapsed,
        "busy": busy / cores,
        # Whatever else ran on the machine meanwhile (other people's work on a shared box).
        "other": None if t.pg_cpu is None else max(0.0, busy - (t.cpu + t.pg_cpu) / t.elapsed),
        "retries": t.retries,
        "rejections": t.rejections,
    }


# -- setup --------------------------------------------------------------------------------------
async def _setup(db: Database) -> World:
    players = [uuid.uuid4() for _ in range(PLAYERS)]
    async with db.transaction() as conn:
        await conn.execute(
            sa.insert(users),
            [
                {
                    "id": user_id,
                    "phone": f"+bench-{user_id.hex}",
                    "password_hash": "!",
                    "country_code": COUNTRY,
                    "date_of_birth": date(1990, 1, 1),
                }
                for user_id in players
            ],
        )
    # Fund every player through the ledger itself (this also opens their wallets).
    for start in range(0, PLAYERS, FUND_BATCH):
        await run_in_transaction(
            db, functools.partial(_fund, batch=players[start : start + FUND_BATCH])
        )
    async with db.connect() as conn:
        house = await repo.house_ids(conn, COUNTRY, CURRENCY)
        rows = await conn.execute(
            sa.select(ledger_accounts.c.owner_id, ledger_accounts.c.id).where(
                ledger_accounts.c.kind == "player_cash",
                ledger_accounts.c.currency == CURRENCY,
                ledger_accounts.c.owner_id.in_(players),
            )
        )
        by_owner = {row.owner_id: row.id for row in rows}
    return World(
        players=players,
        accounts=[by_owner[p] for p in players],
        stakes={
            shard: i for (code, shard), i in house.items() if code is HouseAccount.STAKES_IN_PLAY
        },
        codes={i: code.value for (code, _), i in house.items()},
    )


async def _fund(conn: AsyncConnection, *, batch: list[uuid.UUID]) -> None:
    for user_id in batch:
        await service.post_transfer(
            conn,
            TransferSpec(
                idempotency_key=f"bench-fund-{user_id.hex}",
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


# -- one transfer, ours and raw ------------------------------------------------------------------
def _ours(
    db: Database, world: World, case: Case, rng: random.Random, retries: list[int]
) -> Callable[[], Awaitable[None]]:
    credit_house = House(HouseAccount.STAKES_IN_PLAY)

    async def op() -> None:
        debit, credit = case.pick(rng)
        spec = TransferSpec(
            idempotency_key=f"bench-{uuid.uuid4().hex}",
            type=TYPE,
            country=COUNTRY,
            currency=CURRENCY,
            entries=(
                Entry(PlayerCash(world.players[debit]), -1),
                Entry(credit_house if credit is None else PlayerCash(world.players[credit]), 1),
            ),
        )

        async def work(conn: AsyncConnection) -> service.Transfer:
            try:
                return await service.post_transfer(conn, spec)
            except Exception as exc:
                if is_retryable(exc):  # run_in_transaction retries it
                    retries[0] += 1
                raise

        transfer = await run_in_transaction(db, work)
        assert not transfer.replayed

    return op


def _raw(
    pool: asyncpg.Pool,
    world: World,
    case: Case,
    rng: random.Random,
    retries: list[int],
    *,
    sharded: bool = True,
) -> Callable[[], Awaitable[None]]:
    """What post_transfer does, by hand: BEGIN, the lock SELECT, balances in Python, the one
    write statement (same values, outbox payload included), COMMIT. Account ids are known."""

    stakes_code = HouseAccount.STAKES_IN_PLAY.value

    async def once(key: str, debit: int, credit: int | None) -> None:
        debit_id = world.accounts[debit]
        if credit is None:
            credit_id = world.stakes[house_shard(key) if sharded else 0]
            credit_ref, credit_owner = f"house:{stakes_code}", None
        else:
            credit_id = world.accounts[credit]
            credit_ref, credit_owner = f"player:{world.players[credit]}", world.players[credit]
        debit_owner = world.players[debit]
        entries = ((debit_id, -1), (credit_id, 1))
        amounts = dict(entries)
        request_hash = canonical_hash(
            {
                "type": TYPE,
                "country": COUNTRY,
                "currency": CURRENCY,
                "entries": [[f"player:{debit_owner}", -1], [credit_ref, 1]],
                "reference": None,
                "metadata": {},
                "initiated_by": None,
            }
        )
        async with pool.acquire() as conn, conn.transaction():
            lock_args = repo.lock_values([debit_id, credit_id], [], CURRENCY)
            rows = await conn.fetch(_LOCK_SQL, *(lock_args[n] for n in _LOCK_NAMES))
            state = {row["id"]: row for row in rows}
            after: dict[int, int] = {}
            for account_id, amount in sorted(entries):
                row = state[account_id]
                after[account_id] = row["balance"] + amount
                if row["kind"] == "player_cash" and after[account_id] - row["held"] < 0:
                    raise InsufficientFunds()
            ids = sorted(after)
            transfer_id, event_id = uuid.uuid4(), uuid.uuid4()
            owners = {debit_id: debit_owner, credit_id: credit_owner}
            payload = {
                "id": str(event_id),
                "subject": SUBJECT,
                "occurred_at": datetime.now(UTC).isoformat(),
                "data": {
                    "transfer_id": str(transfer_id),
                    "type": TYPE,
                    "country": COUNTRY,
                    "currency": CURRENCY,
                    "reference": None,
                    "entries": [
                        {
                            "account_id": account_id,
                            "user_id": str(owners[account_id]) if owners[account_id] else None,
                            "house": world.codes.get(account_id),
                            "amount": amount,
                            "balance_after": after[account_id],
                        }
                        for account_id, amount in entries
                    ],
                },
            }
            write_args = {
                "id": transfer_id,
                "country": COUNTRY,
                "currency": CURRENCY,
                "type": TYPE,
                "idempotency_key": key,
                "request_hash": request_hash,
                "reference": None,
                "metadata": "{}",
                "hold_id": None,
                "initiated_by": None,
                "ids": ids,
                "balances": [after[i] for i in ids],
                "helds": [state[i]["held"] for i in ids],
                "p_accounts": ids,
                "p_amounts": [amounts[i] for i in ids],
                "p_before": [state[i]["balance"] for i in ids],
                "p_after": [after[i] for i in ids],
                "event_id": event_id,
                "subject": SUBJECT,
                "payload": orjson.dumps(payload).decode(),
            }
            claimed = await conn.fetchval(_WRITE_SQL, *(write_args[n] for n in _WRITE_NAMES))
            assert claimed == 1

    async def op() -> None:
        debit, credit = case.pick(rng)
        key = f"bench-{uuid.uuid4().hex}"
        for attempt in range(1, RAW_RETRIES + 1):
            try:
                return await once(key, debit, credit)
            except (asyncpg.DeadlockDetectedError, asyncpg.SerializationError):
                if attempt == RAW_RETRIES:
                    raise
                retries[0] += 1
                await asyncio.sleep(random.uniform(0, 0.005 * 2**attempt))  # noqa: S311

    return op


# -- the section ---------------------------------------------------------------------------------
HEADERS = [
    "case",
    "tasks",
    "transfers/s",
    "p50 ms",
    "p99 ms",
    "vs raw",
    "Python CPU µs/transfer",
    "PostgreSQL CPU µs/transfer",
    "Python CPU",
    "PostgreSQL CPU",
    "machine busy",
    "other CPU",
    "retries",
]


def _us(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def _row(name: str, tasks: int, r: dict[str, Any], base: dict[str, Any]) -> list[str]:
    def us(key: str) -> str:
        if r[key] is None:
            return "-"
        text = f"{r[key]:,.0f}"
        if r is not base and base.get(key):
            text += f" ({r[key] / base[key]:.1f}x)"
        return text

    return [
        name,
        str(tasks),
        fmt_rate(r["rate"]),
        fmt_ms(r["p50_ms"]),
        fmt_ms(r["p99_ms"]),
        fmt_ratio(r["rate"] / base["rate"]),
        us("cpu_us"),
        us("pg_us"),
        f"{r['py_share']:.0%}",
        "-" if r["pg_share"] is None else f"{r['pg_share']:.0%}",
        f"{r['busy']:.0%}",
        "-" if r["other"] is None else f"{r['other']:.0%}",
        str(r["retries"]),
    ]


async def run(urls: dict[str, str], report: Report) -> None:
    section = report.section(
        "5. Ledger transfers",
        f"Transfers of 1 minor unit through `service.post_transfer` inside `run_in_transaction` "
        f"(its lock and write on the asyncpg connection inside the SQLAlchemy transaction, a "
        f"fresh idempotency key each), by `tasks` concurrent "
        f"tasks in a closed loop on a `Database(pool_size=tasks)`. Each row warms up for "
        f"{WARMUP_SECONDS} s, then the rows of one case and concurrency take turns in {SLICES} "
        f"windows, {MEASURE_SECONDS:.0f} s measured each in total (so a burst of other load "
        f"hits ours and its baseline alike). {PLAYERS:,} players, funded through the "
        "ledger beforehand. Cases: (a) random distinct pair of players, A → B; (b) one hot "
        "player pays the house (`stakes_in_play`) every time, so every transfer queues on that "
        "player's row lock (inherent: a player's history is serial); (c) a random player pays "
        "the house, whose side is spread over `HOUSE_SHARDS` rows by the transfer key. "
        "Baseline (the ceiling): an asyncpg pool of the same size running exactly the SQL the "
        "ledger runs per transfer — BEGIN, the lock `SELECT … FOR UPDATE` "
        "(`repository.lock_sql`'s text), balances computed in Python, the one write statement "
        "(`repository._WRITE_TRANSFER`'s text, same values and outbox payload), COMMIT — with "
        "account ids resolved up front (the lock selects by id only; the ledger selects players "
        "by owner). The unsharded raw row in (c) (at the higher concurrency only, to keep the "
        "section short) locks a single house row for every transfer: what sharding buys. "
        "Latency is per transfer, pool wait included. CPU per "
        "transfer is the bench process's own (Python: ledger, SQLAlchemy, asyncpg, the "
        "load loop) and the whole PostgreSQL server's (postmaster and all its children); the "
        "CPU percentages are shares of one core over the window; machine busy is all cores "
        "together, and other CPU is what was used outside the bench process and PostgreSQL "
        "meanwhile (kernel networking, other people's work: a row with much of it was measured "
        "on a busy machine).",
        HEADERS,
    )
    retries = [0]
    results: dict[tuple[str, int, str], dict[str, Any]] = {}
    admin = Database(urls["database"], pool_size=4, application_name="letsbet-bench")
    try:
        started = time.perf_counter()
        world = await _setup(admin)
        print(
            f"  set up {PLAYERS:,} funded players in {time.perf_counter() - started:.1f} s",
            flush=True,
        )
        for case in CASES:
            for tasks in CONCURRENCY:
                db = Database(urls["database"], pool_size=tasks, application_name="letsbet-bench")
                pool = await asyncpg.create_pool(
                    plain_url(urls["database"]), min_size=tasks, max_size=tasks
                )
                try:
                    pg = await PgCpu.find(pool)
                    rng = random.Random(f"{case.label}{tasks}")  # noqa: S311 - load, not secrets
                    ops = {"raw": _raw(pool, world, case, rng, retries)}
                    if case.label == "c" and tasks == max(CONCURRENCY):
                        ops["unsharded"] = _raw(pool, world, case, rng, retries, sharded=False)
                    ops["ours"] = _ours(db, world, case, rng, retries)
                    measured = await _compare(ops, tasks, pg, retries)
                    base = measured["raw"]
                    for kind, r in measured.items():
                        results[(case.label, tasks, kind)] = r
                        name = {
                            "raw": f"({case.label}) raw asyncpg, same SQL",
                            "unsharded": "(c) raw asyncpg, one unsharded house row",
                            "ours": f"({case.label}) {case.name}",
                        }[kind]
                        section.add(_row(name, tasks, r, base))
                finally:
                    await pool.close()
                    await db.close()
        ledger = await reconcile.check(admin)
    finally:
        await admin.close()
    _conclude(section, report, results, ledger)


def _conclude(
    section: Section,
    report: Report,
    results: dict[tuple[str, int, str], dict[str, Any]],
    ledger: reconcile.Report,
) -> None:
    for tasks in CONCURRENCY:
        a = results[("a", tasks, "ours")]
        met = a["rate"] >= 2000 and a["p99_ms"] is not None and a["p99_ms"] <= 10
        section.note(
            f"target (a) ≥ 2,000 transfers/s with p99 ≤ 10 ms at {tasks} tasks: "
            f"{'met' if met else 'NOT met'} ({fmt_rate(a['rate'])}/s, p99 {fmt_ms(a['p99_ms'])} ms)"
        )
    ratios = []
    for case in CASES:
        for tasks in CONCURRENCY:
            ratio = (
                results[(case.label, tasks, "ours")]["rate"]
                / results[(case.label, tasks, "raw")]["rate"]
            )
            ratios.append(
                f"({case.label}) {tasks} tasks {ratio:.3f}x" + ("" if ratio >= 0.6 else " ✗")
            )
    low = [r for r in ratios if r.endswith("✗")]
    section.note(
        "target ≥ 60% of the raw ceiling in every case: "
        + ("met" if not low else f"NOT met in {len(low)} of {len(ratios)}")
        + " — "
        + ", ".join(ratios)
    )
    top = max(CONCURRENCY)
    raw, ours = results[("a", top, "raw")], results[("a", top, "ours")]
    hot, hot_raw = results[("b", top, "ours")], results[("b", top, "raw")]
    flat, sharded = results[("c", top, "unsharded")], results[("c", top, "raw")]
    pg = "-" if raw["pg_share"] is None else f"{raw['pg_share']:.0%}"
    raw_bound = (
        "so it is bound by the 2 cores PostgreSQL and the client share"
        if raw["busy"] >= CPU_BOUND
        else "so it is not CPU-bound here (lock waits and round trips are)"
    )
    ours_bound = (
        "so ours is bound by the single Python process"
        if ours["py_share"] >= CPU_BOUND
        else "so ours is not yet bound by its Python process"
    )
    section.note(
        f"what limits (a) at {top} tasks: the raw ceiling keeps the machine {raw['busy']:.0%} "
        f"busy, PostgreSQL using {pg} of a core ({_us(raw['pg_us'])} µs of server CPU per "
        "transfer: four round trips, three inserts, two updates and their WAL), "
        f"{raw_bound}; ours spends {_us(ours['cpu_us'])} µs of Python CPU per transfer against "
        f"{_us(raw['cpu_us'])} raw and its one process ran at {ours['py_share']:.0%} of a core, "
        f"{ours_bound} (a one-off py-spy sample of this path, not part of this run: the lock "
        "and the write, both on the asyncpg connection inside the SQLAlchemy transaction, about "
        "36% of its CPU, BEGIN, COMMIT and the pool checkout 22%, the ledger's own code 13%, "
        "the event loop and the load loop the rest); the server's CPU per transfer is about "
        "the same either way, the SQL being the same"
    )
    if raw["rate"] < 2000:
        section.note(
            f"the ≥ 2,000/s target is out of reach on this machine even for the raw SQL "
            f"({fmt_rate(raw['rate'])}/s): PostgreSQL (fsync off, synchronous_commit off, so "
            "no disk waits) and the client share 2 cores; a dedicated database host would lift "
            "the ceiling, not the ratio"
        )
    used = hot["py_share"] + (hot["pg_share"] or 0.0)
    section.note(
        f"(b) is serial by nature: each transfer waits for the previous one's COMMIT on the "
        f"hot row, so the bench and PostgreSQL together use only {used:.1f} of the "
        f"{psutil.cpu_count()} cores and the p99 ({fmt_ms(hot['p99_ms'])} ms ours, "
        f"{fmt_ms(hot_raw['p99_ms'])} ms raw) is queueing for that row; ours holds the lock "
        "longer (its Python work between the lock and the commit, and event-loop turns shared "
        "with the other tasks), so its serial rate is lower. Sharding the house side is worth "
        f"{sharded['rate'] / flat['rate']:.2f}x in (c) raw at {top} tasks "
        f"({fmt_rate(sharded['rate'])}/s on {HOUSE_SHARDS} house rows vs "
        f"{fmt_rate(flat['rate'])}/s on one)"
    )
    noisy = [
        f"({label}) {kind} at {tasks} tasks {r['other']:.0%}"
        for (label, tasks, kind), r in results.items()
        if r["other"] is not None and r["other"] > OTHER_LOAD
    ]
    if noisy:
        report.warn(
            "ledger transfers: work outside the bench used more than "
            f"{OTHER_LOAD:.0%} of a core during {len(noisy)} of {len(results)} rows "
            f"({', '.join(noisy)}); their absolute figures are low, their ratios less affected "
            "(ours and raw took turns)"
        )
    rejections = sum(r["rejections"] for r in results.values())
    retries = sum(r["retries"] for r in results.values())
    section.note(
        f"deadlock/serialisation retries in the measured windows: {retries}; "
        f"ledger rejections (letsbet_ledger_rejections_total): {rejections:.0f}"
    )
    section.note(
        f"ledger check after the run: {'sound' if ledger.sound else 'BROKEN'}, "
        f"{ledger.transfers:,} transfers, {ledger.postings:,} postings, "
        f"{ledger.accounts:,} accounts"
    )
    if not ledger.sound:
        for line in ledger.lines():
            report.warn(line)
        raise AssertionError("the ledger check found breaks after the benchmark")
