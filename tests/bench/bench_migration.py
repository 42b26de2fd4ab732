"""Migrating 10,000 running tasks to a new process version while transitions keep coming.

Run: `python -m tests.bench.bench_migration` (or `make bench`, which runs every bench).

The issue's goal (article 8): deploy a new version under load, move 10,000 running repairs to it
in <= 10 s, and fail no transition. Per database, a fresh interpreter migrates a fresh database,
seeds the test estate and N running repairs (one made through create_task, the rest copied from
it with their clock and timer rows), stores a new version of the repair process (a state renamed,
so the migration needs a --map), and then, while a load of transitions runs (100 a second,
open loop: each task accepted by its assignee, then given an instruction by a manager, through
server.actions.tasks.fire),
moves every running task with server.actions.versions.migrate_tasks (clocks: keep). On
PostgreSQL the load runs in its own process (its own CPU, its own connections); on SQLite, whose
embedded deployment is one process, it runs in the migrating process. Figures: migration time
and rate, the transitions done meanwhile and their latency, and failures (goal: none).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from tests.bench import Row
from tests.bench.bench_lifecycle import (
    DEFAULT_PG,
    admin,
    percentile,
    postgres_reachable,
    with_database,
)

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_N = 10_000
GOAL_S = 10.0
TZ = ZoneInfo("Asia/Shanghai")
LOAD_RATE = 100.0  # transitions per second offered while the migration runs
LOAD_IN_FLIGHT = 32
POOL = 24  # asyncpg pool per process: migration concurrency + headroom


def now() -> datetime:
    return datetime.now(UTC)


def pooled(url: str) -> str:
    return url if url.startswith("sqlite") else f"{url}?maxsize={POOL}"


# ---- setup ---------------------------------------------------------------------------------------


async def seed_tasks(n: int) -> dict[str, Any]:
    """The test estate and `n` running repairs in state assigned; the first via create_task."""
    from server.actions.tasks import create_task
    from server.db.tasks import Task, TaskClock, Timer
    from tests.support.seed import seed_estate, seed_supervision

    estate = await seed_estate()
    await seed_supervision(estate)
    first = await create_task(
        community=estate.a,
        category="water",
        source="console",
        now=now(),
        tz=TZ,
        room=estate.room_a,
        description="bench: leaking pipe",
    )
    clocks = await TaskClock.filter(task_id=first.id)
    timers = await Timer.filter(task_id=first.id)
    copied = {
        f: getattr(first, f)
        for f in (
            "kind",
            "process_id",
            "state",
            "category",
            "urgency",
            "community_id",
            "room_id",
            "place",
            "description",
            "source",
            "department_id",
            "assignee_id",
            "respond_by",
            "arrive_by",
            "resolve_by",
            "created_at",
            "updated_at",
        )
    }
    batch = 1000
    for start in range(1, n, batch):
        ids = range(first.id + start, first.id + min(start + batch, n))
        await Task.bulk_create([Task(id=i, **copied) for i in ids])
        await TaskClock.bulk_create(
            [
                TaskClock(
                    task_id=i,
                    name=c.name,
                    calendar=c.calendar,
                    duration_s=c.duration_s,
                    started_at=c.started_at,
                    due_at=c.due_at,
                    pauses=[],
                    level=0,
                )
                for i in ids
                for c in clocks
            ]
        )
        await Timer.bulk_create(
            [Timer(task_id=i, name=t.name, due_at=t.due_at) for i in ids for t in timers]
        )
    return {"first_id": first.id, "staff_id": estate.staff_a.id}


async def store_new_version() -> str:
    """The repair process with `returned` renamed: the migration needs --map returned:sent_back."""
    from server.actions.tasks import current_definitions
    from server.db.tasks import ProcessVersion
    from server.domain.process import definition_version, load_definition

    text = json.dumps(dict(current_definitions()["repair"].raw), ensure_ascii=False)
    raw = json.loads(text.replace('"returned"', '"sent_back"'))
    raw["description"] = "bench: deployed under load"
    load_definition(raw)
    row = await ProcessVersion.create(
        kind="repair", version=definition_version(raw), definition=raw
    )
    return row.version


# ---- the load ----------------------------------------------------------------------------------


@dataclass
class Load:
    """Transitions fired while the migration runs: latency per call, failures by type."""

    started: list[float] = field(default_factory=list)  # wall-clock start of each transition
    ms: list[float] = field(default_factory=list)
    failures: Counter[str] = field(default_factory=Counter)
    samples: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "started": self.started,
            "ms": self.ms,
            "failures": dict(self.failures),
            "samples": self.samples[:5],
        }


async def run_load(stop: asyncio.Event, load: Load, ready: asyncio.Event | None = None) -> None:
    """Accept tasks (assignee) and instruct them (manager) at LOAD_RATE until `stop` is set."""
    from server.actions.tasks import Actor, Move, fire
    from server.db.people import Staff
    from server.db.tasks import Task

    staff = Actor.of_staff(await Staff.get(employee_no="E001"))
    manager = Actor.of_staff(await Staff.get(employee_no="M100"))
    ids = list(await Task.filter(state="assigned").values_list("id", flat=True))
    random.Random(7).shuffle(ids)
    pending = iter(ids)
    if ready is not None:
        ready.set()

    async def one(ref: str, name: str, actor: Any, move: Any) -> None:
        started = time.perf_counter()
        load.started.append(time.time())
        try:
            await fire(ref, name, actor, move, now=now(), tz=TZ)
        except Exception as exc:  # a failed transition is the figure this bench exists for
            load.failures[type(exc).__name__] += 1
            load.samples.append(f"{name} {ref}: {exc!r}"[:200])
        load.ms.append((time.perf_counter() - started) * 1000)

    async def both(task_id: int) -> None:
        ref = f"T{task_id + 1000}"
        await one(ref, "accept", staff, Move())
        await one(ref, "instruct", manager, Move(note="bench: bring the long ladder"))

    # Open loop: a task's two transitions start every 2/LOAD_RATE s whatever the database is
    # doing, the way people's taps arrive; at most LOAD_IN_FLIGHT at once.
    gate, running = asyncio.Semaphore(LOAD_IN_FLIGHT), set()
    interval, next_at = 2 / LOAD_RATE, time.perf_counter()
    while not stop.is_set():
        task_id = next(pending, None)
        if task_id is None:
            break
        await gate.acquire()
        job = asyncio.create_task(both(task_id))
        running.add(job)
        job.add_done_callback(lambda j: (running.discard(j), gate.release()))
        next_at += interval
        await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
    await asyncio.gather(*running)


async def load_process(url: str) -> None:
    """`load` command: run the load in this process until stdin closes, print its figures."""
    from server import db

    await db.connect(pooled(url))
    stop, ready, load = asyncio.Event(), asyncio.Event(), Load()
    loop = asyncio.get_running_loop()
    running = asyncio.create_task(run_load(stop, load, ready))
    await ready.wait()
    print("ready", flush=True)
    await loop.run_in_executor(None, sys.stdin.read)  # the parent closes stdin to stop us
    stop.set()
    await running
    await db.close()
    print(json.dumps(load.as_dict()), flush=True)


# ---- one database ------------------------------------------------------------------------------


async def run_case(database: str, url: str, n: int) -> dict[str, Any]:
    """Set up, migrate under load, check every task moved; the figures as a dict."""
    from server import db
    from server.actions.versions import migrate_tasks
    from server.db.migrate import migrate
    from server.db.tasks import ProcessVersion, Task, TaskEvent

    await migrate(url)
    await db.connect(pooled(url))
    t0 = time.perf_counter()
    await seed_tasks(n)
    target = await store_new_version()
    setup_s = time.perf_counter() - t0
    print(f"  {database}: {n} running tasks seeded in {setup_s:.1f} s", flush=True)

    load, stop = Load(), asyncio.Event()
    child: subprocess.Popen[str] | None = None
    local: asyncio.Task[None] | None = None
    if database == "postgres":
        child = subprocess.Popen(
            [sys.executable, "-m", "tests.bench.bench_migration", "load", "--url", url],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert child.stdout is not None
        line = await asyncio.to_thread(child.stdout.readline)
        if line.strip() != "ready":
            raise RuntimeError(f"load process did not start: {line!r}")
    else:
        ready = asyncio.Event()
        local = asyncio.create_task(run_load(stop, load, ready))
        await ready.wait()
    await asyncio.sleep(0.5)  # the load is running before the deployment starts

    began = time.time()
    report = await migrate_tasks(
        "repair",
        target,
        {"returned": "sent_back"},
        "keep",
        tz=TZ,
        clock=now,
        batch=500,
        concurrency=16,
    )
    ended = time.time()

    if child is not None:
        assert child.stdin is not None and child.stdout is not None
        child.stdin.close()
        out = await asyncio.to_thread(child.stdout.read)
        child.wait(timeout=60)
        data = json.loads(out.strip().splitlines()[-1])
        load = Load(data["started"], data["ms"], Counter(data["failures"]), data["samples"])
    else:
        stop.set()
        assert local is not None
        await local

    target_id = (await ProcessVersion.get(kind="repair", version=target)).id
    on_target = await Task.filter(process_id=target_id).count()
    migrate_events = await TaskEvent.filter(action="migrate").count()
    during = [ms for at, ms in zip(load.started, load.ms, strict=True) if began <= at <= ended]
    await db.close()
    return {
        "n": n,
        "setup_s": setup_s,
        "migrate_s": ended - began,
        "moved": report.moved,
        "skipped": report.skipped,
        "on_target": on_target,
        "migrate_events": migrate_events,
        "load_total": len(load.ms),
        "load_during": len(during),
        "load_p50_ms": percentile(during, 50) if during else math.nan,
        "load_p99_ms": percentile(during, 99) if during else math.nan,
        "failures": dict(load.failures),
        "samples": load.samples,
    }


def spawn_case(database: str, url: str, n: int, workdir: Path, timeout: float) -> dict[str, Any]:
    out = workdir / f"{database}.json"
    command = [
        sys.executable,
        "-m",
        "tests.bench.bench_migration",
        "case",
        "--database",
        database,
        "--url",
        url,
        "--n",
        str(n),
        "--out",
        str(out),
    ]
    subprocess.run(command, cwd=ROOT, check=True, timeout=timeout)
    return dict(json.loads(out.read_text()))


def run_database(database: str, args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="wuye-bench-migration-") as tmp:
        workdir = Path(tmp)
        if database == "sqlite":
            url = f"sqlite://{workdir / 'bench.sqlite3'}"
            return spawn_case(database, url, args.n, workdir, args.timeout)
        name = f"wuye_bench_migration_{os.getpid()}"
        drop = f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"
        asyncio.run(admin(args.postgres_url, drop))
        asyncio.run(admin(args.postgres_url, f"CREATE DATABASE {name}"))
        try:
            url = with_database(args.postgres_url, name)
            return spawn_case(database, url, args.n, workdir, args.timeout)
        finally:
            asyncio.run(admin(args.postgres_url, drop))


def rows_for(database: str, r: dict[str, Any]) -> list[Row]:
    failed = sum(r["failures"].values())
    moved_all = r["moved"] == r["n"] == r["on_target"] == r["migrate_events"]
    verdict = "ok" if r["migrate_s"] <= GOAL_S and failed == 0 and moved_all else "MISSED"
    where = "load in its own process" if database == "postgres" else "load in the same process"
    where += f", {LOAD_RATE:.0f}/s offered"
    return [
        Row(
            f"migration {database} {r['n']:,} running tasks",
            r["migrate_s"],
            "s",
            f"goal <= {GOAL_S:.0f} s, all moved, 0 failed transitions: {verdict}; "
            f"moved {r['moved']}, skipped {r['skipped']}, events {r['migrate_events']}",
        ),
        Row(
            f"migration {database} rate",
            r["moved"] / r["migrate_s"],
            "tasks/s",
            "each task its own transaction, 16 at a time",
        ),
        Row(
            f"migration {database} transitions during migration",
            r["load_during"],
            "count",
            f"{where}; {r['load_total']} in all",
        ),
        Row(
            f"migration {database} transition p99 during migration",
            r["load_p99_ms"],
            "ms",
            f"p50 {r['load_p50_ms']:.2f} ms",
        ),
        Row(
            f"migration {database} failed transitions",
            failed,
            "count",
            "goal 0" + (f": {r['failures']} e.g. {r['samples'][:1]}" if failed else ""),
        ),
    ]


def main(argv: list[str] | None = None) -> list[Row]:
    """Run the case per database, print its figures, return them as rows."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", nargs="?", default="run", choices=["run", "case", "load"])
    parser.add_argument(
        "--n", type=int, default=int(os.environ.get("BENCH_MIGRATION_N", DEFAULT_N))
    )
    parser.add_argument("--postgres-url", default=os.environ.get("BENCH_POSTGRES_URL", DEFAULT_PG))
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--url", default="")
    parser.add_argument("--out", default="")
    args = parser.parse_args(argv)
    if args.command == "load":
        asyncio.run(load_process(args.url))
        return []
    if args.command == "case":
        result = asyncio.run(run_case(args.database, args.url, args.n))
        Path(args.out).write_text(json.dumps(result))
        return []

    print(
        f"migration bench: {args.n:,} running repairs moved to a new version under load", flush=True
    )
    rows: list[Row] = []
    databases = ["sqlite"]
    why_not = "--no-postgres" if args.no_postgres else postgres_reachable(args.postgres_url)
    if not why_not:
        databases.append("postgres")
    for database in databases:
        result = run_database(database, args)
        for row in rows_for(database, result):
            print("  " + row.format(56), flush=True)
            rows.append(row)
    if why_not:
        rows.append(Row("migration postgres", math.nan, "", f"skipped: {why_not}"))
    return rows


if __name__ == "__main__":
    main()
