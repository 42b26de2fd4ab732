"""Repair lifecycles through server.actions next to SpiffWorkflow 3.2.0, on SQLite and PostgreSQL.

Run: `python -m tests.bench.bench_lifecycle` (or `make bench`, which runs every bench).

The issue's goal: at least 4x SpiffWorkflow's lifecycles per second on SQLite, and p99 <= 10 ms
for every step of ours. Both engines run the same steps, one durable commit each:
create (report, route, assign), accept, check_in (geofence), photo (store the site photo),
complete (needs check-in and a photo), rate. SpiffWorkflow runs tests/bench/spiff_repair.bpmn
and after every step serializes the whole workflow (BpmnWorkflowSerializer) and UPSERTs it into
a (id, state) table with a commit, under the same SQLite PRAGMAs as our own connections
(read from server.db's config: WAL, synchronous, ...). Per database, one fresh interpreter sets
every engine up on a fresh database and then runs their lifecycles interleaved (one of each in
turn, the order rotating), so a busy neighbour slows every engine alike; warm-up lifecycles
excluded, same N. docs/benchmarks.md explains the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo

from tests.bench import Row

ROOT = Path(__file__).resolve().parents[2]
BPMN = Path(__file__).with_name("spiff_repair.bpmn")
STEPS = ("create", "accept", "check_in", "photo", "complete", "rate")
GOAL_RATIO = 4.0  # ours / SpiffWorkflow lifecycles per second, on SQLite
GOAL_P99_MS = 10.0  # every step of ours
DEFAULT_N = 300
DEFAULT_WARMUP = 30
DEFAULT_PG = "postgres://postgres@127.0.0.1:5432/postgres"  # admin database; never off-host
TZ = ZoneInfo("Asia/Shanghai")
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
INSIDE = {"lat": 30.2891, "lng": 120.1212, "accuracy_m": 15.0}  # within alpha's 300 m geofence
CASES = (  # (engine, label)
    ("ours", "wuye actions"),
    ("spiff", "SpiffWorkflow 3.2.0"),
    ("spiff_reload", "SpiffWorkflow, reload/step"),
)


def now() -> datetime:
    return datetime.now(UTC)


def percentile(samples: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of a non-empty list."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


class Timings:
    """Per-step latencies of the measured lifecycles (warm-up ones are not recorded)."""

    def __init__(self, record: bool) -> None:
        self.record = record
        self.ms: dict[str, list[float]] = {step: [] for step in STEPS}

    async def step(self, name: str, call: Awaitable[Any]) -> Any:
        started = time.perf_counter()
        result = await call
        if self.record:
            self.ms[name].append((time.perf_counter() - started) * 1000)
        return result


@dataclass
class Engine:
    """One side of the comparison, set up on its database."""

    lifecycle: Callable[[Timings], Awaitable[None]]  # one repair, report to rating
    describe: Callable[[int], Awaitable[str]]  # after `count` lifecycles: check them, say what
    close: Callable[[], Awaitable[None]]
    sql_alone: Callable[[int], Awaitable[dict[str, float]]] | None = None  # ours, SQLite


async def measure(engines: dict[str, Engine], n: int, warmup: int) -> dict[str, dict[str, Any]]:
    """Warm up, then N lifecycles of each engine interleaved; time summed per engine."""
    order = list(engines)
    for _ in range(warmup):
        for name in order:
            await engines[name].lifecycle(Timings(record=False))
    timings = {name: Timings(record=True) for name in order}
    elapsed = dict.fromkeys(order, 0.0)
    for i in range(n):
        turn = i % len(order)
        for name in order[turn:] + order[:turn]:
            started = time.perf_counter()
            await engines[name].lifecycle(timings[name])
            elapsed[name] += time.perf_counter() - started
    results = {
        name: {
            "n": n,
            "elapsed_s": elapsed[name],
            "step_ms": timings[name].ms,
            "note": await engines[name].describe(warmup + n),
        }
        for name in order
    }
    for name, engine in engines.items():
        if engine.sql_alone is not None:
            results[name]["sql_alone"] = await engine.sql_alone(n)
    return results


# ---- ours: server.actions on a migrated, seeded database -----------------------------------------


class StatementCounter(logging.Handler):
    """Counts the SQL statements tortoise sends (it logs each on tortoise.db_client at DEBUG)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1

    @contextmanager
    def attached(self) -> Iterator[None]:
        logger = logging.getLogger("tortoise.db_client")
        level, propagate = logger.level, logger.propagate
        logger.setLevel(logging.DEBUG)
        logger.propagate = False
        logger.addHandler(self)
        try:
            yield
        finally:
            logger.removeHandler(self)
            logger.setLevel(level)
            logger.propagate = propagate


class StatementLog:
    """Every statement our SQLite connection runs, with its parameters, replayable without us.

    Replayed through stdlib sqlite3 on a copy of the database as it was before they ran, they
    give the time SQLite itself spends on our lifecycles: what any code sending the same
    statements must spend, however fast its Python (docs/benchmarks.md, "The floor"). Recorded
    after the measured lifecycles, so that the growing log cannot slow those down.
    """

    REPLAYED = (
        "execute",
        "_execute_insert",
        "_execute_fetchall",
        "executemany",
        "commit",
        "rollback",
    )

    def __init__(self, connection: Any, snapshot: Path) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.snapshot = snapshot
        with sqlite3.connect(snapshot) as copy:
            connection._conn.backup(copy)
        self.connection = connection
        run = connection._execute  # InlineConnection: every call tortoise makes passes here

        async def logged(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
            if fn.__name__ in self.REPLAYED:
                self.calls.append((fn.__name__, args))
            return await run(fn, *args, **kwargs)

        connection._execute = logged

    def stop(self) -> None:
        del self.connection._execute  # the class's own method again

    def replay(self, lifecycles: int) -> dict[str, float]:
        """Seconds per lifecycle for the statements alone, and for their commits."""
        conn = sqlite3.connect(self.snapshot, isolation_level=None)
        for name, value in our_sqlite_pragmas(self.snapshot).items():
            conn.execute(f"PRAGMA {name}={value}")
        total = commits = 0.0
        for name, args in self.calls:
            started = time.perf_counter()
            if name == "commit":
                conn.commit()
            elif name == "rollback":
                conn.rollback()
            elif name == "executemany":
                conn.executemany(*args)
            else:
                conn.execute(*args).fetchall()
            spent = time.perf_counter() - started
            total += spent
            commits += spent if name == "commit" else 0.0
        conn.close()
        return {"lifecycle_s": total / lifecycles, "commit_s": commits / lifecycles}


async def open_ours(url: str, workdir: Path) -> Engine:
    """Lifecycles through create_task / fire / store_photo, each step its own transaction."""
    from tortoise import connections

    from server import db
    from server.actions.photos import store_photo
    from server.actions.tasks import Actor, Move, create_task, fire, rating_transition
    from server.db.migrate import migrate
    from server.db.outbox import OutboxMessage
    from server.db.people import Staff
    from server.db.tasks import Task, TaskEvent, Timer
    from tests.support.seed import seed_estate

    await migrate(url)
    await db.connect(url)
    estate = await seed_estate()
    staff_actors = {s.id: Actor.of_staff(s) for s in await Staff.all()}
    resident = Actor.of_resident(estate.resident_a)
    media_dir = workdir / "media"

    async def lifecycle(t: Timings) -> None:
        task = await t.step(
            "create",
            create_task(
                community=estate.a,
                category="water",
                source="miniapp",
                now=now(),
                tz=TZ,
                room=estate.room_a,
                description="bench: leaking pipe",
                reporter=estate.resident_a,
            ),
        )
        ref, staff = task.ref, staff_actors[task.assignee_id]  # type: ignore[attr-defined]
        await t.step("accept", fire(ref, "accept", staff, Move(), now=now(), tz=TZ))
        await t.step("check_in", fire(ref, "check_in", staff, Move(**INSIDE), now=now(), tz=TZ))
        photo = await t.step(
            "photo",
            store_photo(
                PNG,
                media_dir=media_dir,
                uploaded_by_kind="staff",
                uploaded_by_id=staff.id,
                now=now(),
            ),
        )
        await t.step(
            "complete",
            fire(
                ref,
                "complete",
                staff,
                Move(photo_ids=[photo.id], note="bench: valve replaced"),
                now=now(),
                tz=TZ,
            ),
        )
        closed = await t.step(
            "rate", fire(ref, rating_transition(5), resident, Move(score=5), now=now(), tz=TZ)
        )
        if closed.state != "closed":
            raise RuntimeError(f"{ref} ended in {closed.state}, not closed")

    async def describe(count: int) -> str:
        statements = StatementCounter()
        with statements.attached():  # one more, unmeasured lifecycle: logging costs time
            await lifecycle(Timings(record=False))
        tasks = await Task.filter(state="closed").count()
        if tasks != count + 1:
            raise RuntimeError(f"{tasks} closed tasks, expected {count + 1}")
        per_task = {
            "events": await TaskEvent.all().count() / tasks,
            "timers": await Timer.all().count() / tasks,
            "outbox": await OutboxMessage.all().count() / tasks,
        }
        return (
            "{statements} SQL statements per lifecycle; {events:.0f} audit events, "
            "{timers:.0f} SLA timer rows, {outbox:.0f} outbox messages".format(
                statements=statements.count, **per_task
            )
        )

    async def sql_alone(lifecycles: int) -> dict[str, float]:
        """`lifecycles` more, recorded, then their statements replayed without us."""
        connection = connections.get("default")._connection
        log = StatementLog(connection, workdir / "ours-before-replay.sqlite3")
        for _ in range(lifecycles):
            await lifecycle(Timings(record=False))
        log.stop()
        return log.replay(lifecycles)

    return Engine(lifecycle, describe, db.close, sql_alone if url.startswith("sqlite") else None)


# ---- SpiffWorkflow: the same steps on tests/bench/spiff_repair.bpmn ------------------------------


def our_sqlite_pragmas(path: Path) -> dict[str, Any]:
    """The PRAGMAs our own SQLite connections get, read from server.db's config via tortoise."""
    from server.db import tortoise_config
    from server.db.sqlite_inline import InlineSqliteClient

    config = tortoise_config(f"sqlite://{path}")["connections"]["default"]
    client = InlineSqliteClient(connection_name="bench", **config["credentials"])
    return dict(client.pragmas)  # tortoise's defaults plus our URL options; no connection made


class SqliteStore:
    """(id, state) rows in a SQLite file with our PRAGMAs; stdlib sqlite3, no thread hop."""

    def __init__(self, path: Path) -> None:
        self.pragmas = our_sqlite_pragmas(path)  # same journal and sync settings as ours
        self.conn = sqlite3.connect(path, isolation_level=None)
        for name, value in self.pragmas.items():
            self.conn.execute(f"PRAGMA {name}={value}")
        self.conn.execute("CREATE TABLE workflows (id INTEGER PRIMARY KEY, state TEXT NOT NULL)")

    async def count(self) -> int:
        return int(self.conn.execute("SELECT count(*) FROM workflows").fetchone()[0])

    async def begin(self) -> None:
        self.conn.execute("BEGIN IMMEDIATE")

    async def read(self, wid: int) -> str:
        return str(
            self.conn.execute("SELECT state FROM workflows WHERE id = ?", (wid,)).fetchone()[0]
        )

    async def upsert(self, wid: int, state: str) -> None:
        self.conn.execute(
            "INSERT INTO workflows (id, state) VALUES (?, ?) "
            "ON CONFLICT (id) DO UPDATE SET state = excluded.state",
            (wid, state),
        )

    async def commit(self) -> None:
        self.conn.execute("COMMIT")

    async def close(self) -> None:
        self.conn.close()


class PostgresStore:
    """(id, state json) rows over asyncpg.

    `json`, not `jsonb`: SpiffWorkflow 3.2.0's deserializer depends on the order of keys, which
    jsonb does not keep (a jsonb round trip restored READY tasks with empty data).
    """

    def __init__(self, conn: Any, table: str) -> None:
        self.conn = conn
        self.table = table
        self.tx: Any = None

    @classmethod
    async def open(cls, url: str, table: str) -> PostgresStore:
        import asyncpg

        conn = await asyncpg.connect(asyncpg_dsn(url))
        await conn.execute(f"CREATE TABLE {table} (id bigint PRIMARY KEY, state json NOT NULL)")
        return cls(conn, table)

    async def count(self) -> int:
        return int(await self.conn.fetchval(f"SELECT count(*) FROM {self.table}"))

    async def begin(self) -> None:
        self.tx = self.conn.transaction()
        await self.tx.start()

    async def read(self, wid: int) -> str:
        return str(
            await self.conn.fetchval(
                f"SELECT state FROM {self.table} WHERE id = $1 FOR UPDATE", wid
            )
        )

    async def upsert(self, wid: int, state: str) -> None:
        await self.conn.execute(
            f"INSERT INTO {self.table} (id, state) VALUES ($1, $2::json) "
            "ON CONFLICT (id) DO UPDATE SET state = excluded.state",
            wid,
            state,
        )

    async def commit(self) -> None:
        await self.tx.commit()

    async def close(self) -> None:
        await self.conn.close()


def spiff_engine() -> tuple[Any, Any, Any]:
    """(process spec, script engine, serializer); the scripts use our routing and geofence rules."""
    from SpiffWorkflow.bpmn.parser import BpmnParser, BpmnValidator
    from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine, TaskDataEnvironment
    from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer

    from server.domain.geo import check_geofence

    # The seeded estate: category water -> department 1, whose staff in alpha take turns.
    # An in-memory table and cursor: no database read here, which favours SpiffWorkflow.
    rota = {"water": (1, [1, 3])}
    cursor = {"water": 0}

    def route(category: str, community_id: int) -> tuple[int, int]:
        department_id, people = rota[category]
        cursor[category] = (cursor[category] + 1) % len(people)
        return department_id, people[cursor[category]]

    def geofence(lat: float, lng: float, accuracy_m: float) -> bool:
        return check_geofence(30.2890, 120.1210, 300, lat, lng, accuracy_m).inside

    parser = BpmnParser(validator=BpmnValidator())
    parser.add_bpmn_file(str(BPMN))
    engine = PythonScriptEngine(
        environment=TaskDataEnvironment({"route": route, "geofence": geofence})
    )
    return parser.get_spec("repair"), engine, BpmnWorkflowSerializer()


async def open_spiff(store: Any, reload: bool) -> Engine:
    """Lifecycles whose every step ends with the serialized workflow UPSERTed and committed.

    reload=False keeps each workflow object in memory between steps (the brief's setup, the
    cheapest for SpiffWorkflow). reload=True reads and deserializes it at the start of every
    step inside the step's transaction (SELECT ... FOR UPDATE on PostgreSQL), as a server that
    keeps no process-local state must, and as our actions do with the task row.
    """
    from SpiffWorkflow import TaskState
    from SpiffWorkflow.bpmn import BpmnWorkflow

    spec, engine, serializer = spiff_engine()
    cache: dict[int, Any] = {}
    sizes: list[int] = []
    ids = iter(range(1, 1_000_000))
    photo_ids = iter(range(1, 1_000_000))

    def ready(workflow: Any, name: str) -> Any:
        [task] = workflow.get_tasks(state=TaskState.READY, manual=True)
        if task.task_spec.name != name:
            raise RuntimeError(f"expected {name} to be ready, found {task.task_spec.name}")
        return task

    def user_task(
        name: str, data: dict[str, Any], actor_key: str = "", actor: int | None = None
    ) -> Callable[[Any], None]:
        def work(workflow: Any) -> None:
            task = ready(workflow, name)
            if actor_key and task.data.get(actor_key) != actor:
                raise RuntimeError(f"{actor_key} {actor} may not {name}")
            task.data.update(data)
            task.run()
            workflow.do_engine_steps()

        return work

    async def step(wid: int, work: Callable[[Any], None]) -> None:
        await store.begin()
        if reload:
            workflow = serializer.deserialize_json(await store.read(wid))
            workflow.script_engine = engine
        else:
            workflow = cache[wid]
        work(workflow)
        state = serializer.serialize_json(workflow)
        sizes.append(len(state))
        await store.upsert(wid, state)
        await store.commit()

    async def create() -> tuple[int, int]:
        wid = next(ids)
        workflow = BpmnWorkflow(spec, script_engine=engine)
        workflow.do_engine_steps()
        user_task(
            "submit",
            {
                "category": "water",
                "community_id": 1,
                "room_id": 1,
                "reporter_id": 1,
                "description": "bench: leaking pipe",
            },
        )(workflow)
        await store.begin()
        state = serializer.serialize_json(workflow)
        await store.upsert(wid, state)
        await store.commit()
        if not reload:
            cache[wid] = workflow
        return wid, int(ready(workflow, "accept").data["assignee_id"])

    def add_photo(photo_id: int) -> Callable[[Any], None]:
        def work(workflow: Any) -> None:
            task = ready(workflow, "complete")
            task.data["photo_ids"] = [*task.data.get("photo_ids", []), photo_id]

        return work

    def finish(workflow: Any) -> None:
        user_task("rate", {"score": 5, "comment": ""}, "reporter_id", 1)(workflow)
        ended = workflow.get_tasks(state=TaskState.COMPLETED, spec_name="closed")
        if not workflow.is_completed() or not ended:
            raise RuntimeError("workflow did not end closed")

    async def lifecycle(t: Timings) -> None:
        wid, staff = await t.step("create", create())
        await t.step("accept", step(wid, user_task("accept", {}, "assignee_id", staff)))
        await t.step("check_in", step(wid, user_task("check_in", INSIDE, "assignee_id", staff)))
        await t.step("photo", step(wid, add_photo(next(photo_ids))))
        await t.step(
            "complete",
            step(
                wid, user_task("complete", {"note": "bench: valve replaced"}, "assignee_id", staff)
            ),
        )
        await t.step("rate", step(wid, finish))
        cache.pop(wid, None)

    async def describe(count: int) -> str:
        if await store.count() != count:
            raise RuntimeError(f"{await store.count()} workflows stored, expected {count}")
        return f"serialized workflow {sum(sizes) / len(sizes) / 1024:.1f} KiB on average"

    return Engine(lifecycle, describe, store.close)


# ---- one process per database ----------------------------------------------------------------


async def open_engine(name: str, database: str, url: str, workdir: Path) -> Engine:
    """Engine `name` on its own fresh store: a SQLite file each, or a table each in `url`."""
    if name == "ours":
        ours_url = url if database == "postgres" else f"sqlite://{workdir / 'ours.sqlite3'}"
        return await open_ours(ours_url, workdir)
    if database == "postgres":
        store: Any = await PostgresStore.open(url, f"{name}_workflows")
    else:
        store = SqliteStore(workdir / f"{name}.sqlite3")
    return await open_spiff(store, reload=name == "spiff_reload")


async def run_cases(
    names: list[str], database: str, url: str, n: int, warmup: int, workdir: Path
) -> dict[str, dict[str, Any]]:
    engines: dict[str, Engine] = {}
    try:
        for name in names:
            engines[name] = await open_engine(name, database, url, workdir)
        return await measure(engines, n, warmup)
    finally:
        for engine in engines.values():
            await engine.close()


def asyncpg_dsn(url: str) -> str:
    return url.replace("postgres://", "postgresql://", 1).split("?")[0]


def with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


async def admin(url: str, sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(asyncpg_dsn(url), timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def postgres_reachable(url: str) -> str:
    """Empty when we can create databases there, else why not."""
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 5432), 2):
            pass
        asyncio.run(admin(url, "SELECT 1"))
    except Exception as exc:  # any failure means: skip PostgreSQL, say why
        return f"{type(exc).__name__}: {exc}"
    return ""


def spawn(
    names: list[str], database: str, url: str, args: argparse.Namespace, workdir: Path
) -> dict[str, dict[str, Any]]:
    """Run one database's engines in a fresh interpreter: no caches or pools from elsewhere."""
    out = workdir / "results.json"
    command = [sys.executable, "-m", "tests.bench.bench_lifecycle", "case"]
    command += ["--engines", ",".join(names), "--database", database, "--url", url]
    command += ["--n", str(args.n), "--warmup", str(args.warmup)]
    command += ["--workdir", str(workdir), "--out", str(out)]
    subprocess.run(command, cwd=ROOT, check=True, timeout=args.timeout)
    return dict(json.loads(out.read_text()))


def run_database(database: str, args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """Every engine on a fresh database of this kind, created here and removed afterwards."""
    names = [name for name, _ in CASES if name == "ours" or spiff_installed()]
    labels = dict(CASES)
    print(f"  {database}: " + ", ".join(labels[n] for n in names) + " ...", flush=True)
    with tempfile.TemporaryDirectory(prefix="wuye-bench-") as tmp:
        workdir = Path(tmp)
        if database == "sqlite":
            return spawn(names, database, "", args, workdir)
        name = f"wuye_bench_{os.getpid()}"
        drop = f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"
        asyncio.run(admin(args.postgres_url, drop))
        asyncio.run(admin(args.postgres_url, f"CREATE DATABASE {name}"))
        try:
            return spawn(names, database, with_database(args.postgres_url, name), args, workdir)
        finally:
            asyncio.run(admin(args.postgres_url, drop))


def spiff_installed() -> bool:
    try:
        from SpiffWorkflow.version import __version__
    except ImportError:
        return False
    return str(__version__) == "3.2.0"


# ---- report ------------------------------------------------------------------------------------


def rate(result: dict[str, Any]) -> float:
    return float(result["n"] / result["elapsed_s"])


def print_table(database: str, results: dict[str, dict[str, Any]]) -> None:
    labels = dict(CASES)
    head = "".join(f"{s:>17}" for s in STEPS)
    print(f"\n{database}: lifecycles/s, then p50 / p99 ms per step")
    if database == "sqlite":
        pragmas = our_sqlite_pragmas(Path("bench.sqlite3"))
        print("PRAGMAs on both sides: " + ", ".join(f"{k}={v}" for k, v in pragmas.items()))
    print(f"{'engine':<28}{'lifecycles/s':>13}{head}")
    for engine, r in results.items():
        cells = "".join(
            f"{percentile(r['step_ms'][s], 50):>8.2f} /{percentile(r['step_ms'][s], 99):>7.2f}"
            for s in STEPS
        )
        print(f"{labels[engine]:<28}{rate(r):>13.1f}{cells}")


def rows_for(database: str, results: dict[str, dict[str, Any]], n: int) -> list[Row]:
    labels = dict(CASES)
    rows: list[Row] = []
    for engine, r in results.items():
        prefix = f"lifecycle {database} {labels[engine]}"
        rows.append(Row(prefix, rate(r), "lifecycles/s", f"N={n}; {r['note']}"))
        for s in STEPS:
            p50, p99 = percentile(r["step_ms"][s], 50), percentile(r["step_ms"][s], 99)
            rows.append(Row(f"{prefix} {s} p99", p99, "ms", f"p50 {p50:.2f} ms"))
    if "ours" in results:
        worst = max(STEPS, key=lambda s: percentile(results["ours"]["step_ms"][s], 99))
        p99 = percentile(results["ours"]["step_ms"][worst], 99)
        verdict = "ok" if p99 <= GOAL_P99_MS else "MISSED"
        rows.append(
            Row(
                f"lifecycle {database} ours worst step p99",
                p99,
                "ms",
                f"{worst}; goal <= {GOAL_P99_MS:.0f} ms: {verdict}",
            )
        )
    alone = results.get("ours", {}).get("sql_alone")
    if alone and "spiff" in results:
        ceiling = 1 / alone["lifecycle_s"]
        rows.append(
            Row(
                f"lifecycle {database} our SQL alone, replayed",
                ceiling,
                "lifecycles/s",
                f"{ceiling / rate(results['spiff']):.2f}x SpiffWorkflow at most, however fast the "
                f"Python; per lifecycle {alone['commit_s'] * 1000:.2f} ms commits + "
                f"{(alone['lifecycle_s'] - alone['commit_s']) * 1000:.2f} ms statements",
            )
        )
    if "ours" in results and "spiff" in results:
        ratio = rate(results["ours"]) / rate(results["spiff"])
        goal = f"goal >= {GOAL_RATIO:.0f}x on SQLite: " + (
            "ok" if ratio >= GOAL_RATIO else "MISSED"
        )
        extra = ""
        if "spiff_reload" in results:
            extra = f"; vs reload/step {rate(results['ours']) / rate(results['spiff_reload']):.2f}x"
        rows.append(
            Row(
                f"lifecycle {database} ours / SpiffWorkflow",
                ratio,
                "x",
                (goal if database == "sqlite" else "no goal on PostgreSQL") + extra,
            )
        )
    return rows


def main(argv: list[str] | None = None) -> list[Row]:
    """Run every case, print the side-by-side tables, return the figures as rows."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", nargs="?", default="run", choices=["run", "case"])
    parser.add_argument("--n", type=int, default=int(os.environ.get("BENCH_LIFECYCLES", DEFAULT_N)))
    parser.add_argument("--warmup", type=int, default=DEFAULT_WARMUP)
    parser.add_argument("--postgres-url", default=os.environ.get("BENCH_POSTGRES_URL", DEFAULT_PG))
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--timeout", type=float, default=300.0)
    # for the per-database child process:
    parser.add_argument("--engines", default=",".join(name for name, _ in CASES))
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--url", default="")
    parser.add_argument("--workdir", default="")
    parser.add_argument("--out", default="")
    args = parser.parse_args(argv)
    if args.command == "case":
        names = args.engines.split(",")
        results = asyncio.run(
            run_cases(names, args.database, args.url, args.n, args.warmup, Path(args.workdir))
        )
        Path(args.out).write_text(json.dumps(results))
        return []

    started = time.monotonic()
    rows: list[Row] = []
    if not spiff_installed():
        rows.append(
            Row(
                "lifecycle SpiffWorkflow",
                math.nan,
                "",
                "SpiffWorkflow 3.2.0 not installed: pip install -e '.[bench]'",
            )
        )
    print(
        f"lifecycle bench: N={args.n} lifecycles per engine after {args.warmup} warm-up ones, "
        f"one client, engines interleaved, one process per database",
        flush=True,
    )
    databases = ["sqlite"]
    why_not = "--no-postgres" if args.no_postgres else postgres_reachable(args.postgres_url)
    if not why_not:
        databases.append("postgres")
    for database in databases:
        results = run_database(database, args)
        print_table(database, results)
        rows.extend(rows_for(database, results, args.n))
    if why_not:
        rows.append(Row("lifecycle postgres", math.nan, "", f"skipped: {why_not}"))
    print(f"lifecycle bench took {time.monotonic() - started:.0f} s", flush=True)
    return rows


if __name__ == "__main__":
    for row in main():
        print(row.format())
