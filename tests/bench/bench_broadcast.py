"""A 10,000-recipient broadcast: the request's latency, then delivery to the emulator by N relays.

Run: `python -m tests.bench.bench_broadcast` (or `make bench`).

The issue's goal: the request that causes the burst returns in <= 50 ms, and every one of the
10,000 template messages reaches the WeChat emulator within 20 s, none twice. The request is
`create_broadcast(...)` (what a notice endpoint calls): it writes ONE broadcast row, the fan-out
job; relays expand it into per-resident outbox rows a batch per transaction and send them. The
clock runs from just before that call until the database shows every message sent.

Processes: the emulator serves alone (its CPU is WeChat's, not ours); relays run as their own
processes (`python -m server worker` would run the same loop). SQLite: one relay process with
several relay loops (SQLite has one writer; `make run` is one process too). PostgreSQL (when
reachable on 127.0.0.1): several relay processes claiming with FOR UPDATE SKIP LOCKED.
Duplicates are counted at the emulator, which records every accepted send (it drops a repeated
client_msg_id, as WeChat does; a relay bug that changed the id would show as a duplicate).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections import Counter
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from tests.bench import Row

HOST = "127.0.0.1"  # the only address this benchmark talks to
ROOT = Path(__file__).resolve().parents[2]
DEFAULT_PG = "postgres://postgres@127.0.0.1:5432/postgres"  # admin database; never off-host
GOAL_REQUEST_MS = 50.0
GOAL_DELIVERY_S = 20.0
NOTICE = {
    "notice_id": 1,
    "title": "停水通知",
    "community_name": "阿尔法小区",
    "summary": "明日9:00-12:00停水",
    "body": "因管道检修，明日9:00至12:00全小区停水，请提前储水。",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with suppress(OSError), socket.create_connection((HOST, port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {HOST}:{port}")


def http_json(method: str, url: str, body: Any = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: no proxy
    with opener.open(request, timeout=60) as response:
        return json.loads(response.read())


# ---- processes ------------------------------------------------------------------------------


def serve_emulator(port: int) -> None:
    """The WeChat and SMS emulators alone, one process."""
    from server.adapters.emulators import EmulatorState, emulator_app

    app = emulator_app(EmulatorState())
    app.run(host=HOST, port=port, single_process=True, access_log=False, motd=False)


def bench_settings(url: str, base: str, concurrency: int) -> Any:
    """Test-free settings for a bench process: config/default.toml with the URLs above."""
    from dataclasses import replace

    from server.settings import load_settings

    settings = load_settings(env=bench_env(url, base))
    return settings.with_(notify=replace(settings.notify, relay_concurrency=concurrency))


def bench_env(url: str, base: str) -> dict[str, str]:
    return {
        "DATABASE_URL": url,
        "REDIS_URL": f"memory://bench-{uuid.uuid4().hex}",
        "WECHAT_API_BASE": f"{base}/_emulator/wechat",
        "SMS_ENDPOINT": f"{base}/_emulator/sms",
        "HTTP_HOST": HOST,
    }


async def relay_loop(services: Any, stop: asyncio.Event) -> None:
    """The worker's outbox loop without its idle pause: expand a batch, send what is due."""
    from server.actions.fanout import expand_once
    from server.workers.outbox import relay_once, worker_id

    cfg = services.settings.notify
    while not stop.is_set():
        expanded = await expand_once(
            datetime.now(UTC), owner=worker_id(), lease_s=cfg.lease_s, batch=cfg.fanout_batch
        )
        sent = await relay_once(services)
        if not expanded and not sent:
            await asyncio.sleep(0.01)


async def run_relays(url: str, base: str, loops: int, concurrency: int) -> None:
    """`loops` relay loops in this process until SIGTERM."""
    from server.services import Services

    services = await Services.start(bench_settings(url, base, concurrency))
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    try:
        await asyncio.gather(*(relay_loop(services, stop) for _ in range(loops)))
    finally:
        await services.close()


@contextmanager
def process(*args: str) -> Any:
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.bench.bench_broadcast", *args],
        cwd=ROOT,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
    )
    try:
        yield child
    finally:
        child.send_signal(signal.SIGTERM)
        try:
            child.wait(10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


# ---- one case -------------------------------------------------------------------------------


async def prepare(url: str, recipients: int) -> int:
    """Migrate a fresh database and seed one community with `recipients` followers."""
    from server import db
    from server.db.estate import Building, Community, Room, Unit
    from server.db.migrate import migrate
    from server.db.people import Resident, RoomBinding, WechatUser

    await migrate(url)
    await db.connect(url)
    try:
        community = await Community.create(
            code="alpha",
            name="阿尔法小区",
            city="杭州",
            district="西湖区",
            address="文一路1号",
            lat=30.289,
            lng=120.121,
            radius_m=300,
        )
        building = await Building.create(community=community, name="1")
        unit = await Unit.create(building=building, name="1")
        await Room.bulk_create(
            [
                Room(community=community, unit=unit, number=str(i), area_m2=Decimal("80.00"))
                for i in range(recipients)
            ],
            batch_size=1000,
        )
        await Resident.bulk_create(
            [
                Resident(name=f"r{i}", phone=f"139{i:08d}", openid=f"o_bench_{i}")
                for i in range(recipients)
            ],
            batch_size=1000,
        )
        rooms = dict(await Room.all().values_list("number", "id"))
        people = dict(await Resident.all().values_list("phone", "id"))
        await RoomBinding.bulk_create(
            [
                RoomBinding(
                    resident_id=people[f"139{i:08d}"], room_id=rooms[str(i)], relation="owner"
                )
                for i in range(recipients)
            ],
            batch_size=1000,
        )
        await WechatUser.bulk_create(
            [WechatUser(openid=f"o_bench_{i}", subscribed=True) for i in range(recipients)],
            batch_size=1000,
        )
        return int(community.id)
    finally:
        await db.close()


async def request_and_watch(community_id: int, recipients: int, timeout_s: float) -> dict[str, Any]:
    """Make the request (timed), then watch the database until every message is sent."""
    from tortoise.transactions import in_transaction

    from server.actions.fanout import create_broadcast
    from server.db.outbox import Broadcast, OutboxMessage

    # Warm-up: a request for nobody, so the measured one finds pools and statements ready,
    # as any request to a running server does.
    await create_broadcast(
        "notice", NOTICE, key="warmup", now=datetime.now(UTC), community_ids=[-1], urgent=True
    )
    started = time.time()
    t0 = time.perf_counter()
    async with in_transaction():  # as a request handler runs it: one transaction, committed
        broadcast = await create_broadcast(
            "notice",
            NOTICE,
            key=f"outage:{uuid.uuid4().hex}",
            now=datetime.now(UTC),
            community_ids=[community_id],
            urgent=True,
        )  # an outage notice: never held
    request_ms = (time.perf_counter() - t0) * 1000
    subject = f"broadcast:{broadcast.id}"
    deadline = time.monotonic() + timeout_s
    done_s = math.nan
    while time.monotonic() < deadline:
        finished = await OutboxMessage.filter(
            subject=subject, status__in=["sent", "delivered", "failed", "unconfirmed"]
        ).count()
        expanded = (await Broadcast.get(id=broadcast.id)).status == "done"
        if expanded and finished >= recipients:
            done_s = time.time() - started
            break
        await asyncio.sleep(0.05)
    statuses = Counter(await OutboxMessage.filter(subject=subject).values_list("status", flat=True))
    return {"request_ms": request_ms, "done_s": done_s, "statuses": dict(statuses)}


async def case(url: str, base: str, args: argparse.Namespace) -> dict[str, Any]:
    """One database, in a process of its own (tortoise keeps per-dialect state per process).

    SQLite: the relays run in this process, next to the request, as in `make run` (SQLite
    has one writer, and separate processes upgrading read transactions get "database is
    locked"). PostgreSQL: relays are separate processes, as `python -m server worker` runs.
    """
    from server import db
    from server.services import Services

    community_id = await prepare(url, args.recipients)
    if url.startswith("sqlite://"):
        services = await Services.start(bench_settings(url, base, args.concurrency))
        stop = asyncio.Event()
        relays = [asyncio.create_task(relay_loop(services, stop)) for _ in range(args.loops)]
        try:
            await asyncio.sleep(0.5)
            return await request_and_watch(community_id, args.recipients, args.timeout)
        finally:
            stop.set()
            await asyncio.gather(*relays)
            await services.close()
    children = [
        process(
            "relay",
            "--url",
            url,
            "--base",
            base,
            "--loops",
            str(args.loops),
            "--concurrency",
            str(args.concurrency),
        )
        for _ in range(args.processes)
    ]
    for child in children:
        child.__enter__()
    await db.connect(url)
    try:
        await asyncio.sleep(2.0)  # relay processes import and connect before the clock starts
        return await request_and_watch(community_id, args.recipients, args.timeout)
    finally:
        await db.close()
        for child in children:
            child.__exit__(None, None, None)


def run_case(
    label: str, url: str, base: str, args: argparse.Namespace, processes: int, loops: int
) -> list[Row]:
    print(
        f"{label}: {args.recipients} residents, {processes} relay process(es) x {loops} "
        "relay loops ...",
        flush=True,
    )
    http_json("POST", f"{base}/_emulator/wechat/_control/reset", {})
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "tests.bench.bench_broadcast",
                "case",
                "--url",
                url,
                "--base",
                base,
                "--recipients",
                str(args.recipients),
                "--processes",
                str(processes),
                "--loops",
                str(loops),
                "--timeout",
                str(args.timeout),
                "--concurrency",
                str(args.concurrency),
                "--out",
                out.name,
            ],
            cwd=ROOT,
            check=True,
            timeout=args.timeout + 300,
        )
        result = json.loads(Path(out.name).read_text())
    calls = http_json("GET", f"{base}/_emulator/wechat/_calls?kind=template")
    per_person = Counter(call["openid"] for call in calls)
    duplicates = sum(n - 1 for n in per_person.values() if n > 1)
    missing = args.recipients - len(per_person)
    n = args.recipients
    who = f"{processes} relay process{'es' if processes > 1 else ''} x {loops} loops"
    print(
        f"{label}: request {result['request_ms']:.1f} ms, all sent after "
        f"{result['done_s']:.2f} s ({who}); statuses {result['statuses']}; "
        f"{len(calls)} sends at the emulator, {duplicates} duplicates, {missing} missing",
        flush=True,
    )
    rate = n / result["done_s"] if result["done_s"] == result["done_s"] else math.nan
    return [
        Row(
            f"broadcast {n:,} [{label}]: request latency",
            result["request_ms"],
            "ms",
            f"goal <= {GOAL_REQUEST_MS:g} ms; one broadcast row, fan-out by relays",
        ),
        Row(
            f"broadcast {n:,} [{label}]: all delivered to emulator",
            result["done_s"],
            "s",
            f"goal <= {GOAL_DELIVERY_S:g} s; {who}",
        ),
        Row(f"broadcast {n:,} [{label}]: throughput", rate, "msg/s", "template messages"),
        Row(
            f"broadcast {n:,} [{label}]: duplicates / missing",
            float(duplicates + missing),
            "messages",
            f"goal 0; {duplicates} duplicates, {missing} missing",
        ),
    ]


# ---- PostgreSQL -----------------------------------------------------------------------------


def asyncpg_dsn(url: str) -> str:
    return url.replace("postgres://", "postgresql://", 1).split("?")[0]


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
        with socket.create_connection((parts.hostname or HOST, parts.port or 5432), 2):
            pass
        asyncio.run(admin(url, "SELECT 1"))
    except Exception as exc:  # any failure means: skip PostgreSQL, say why
        return f"{type(exc).__name__}: {exc}"
    return ""


def main(argv: list[str] | None = None) -> list[Row]:
    """Run the SQLite case (and PostgreSQL when reachable); return the figures as rows."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "command", nargs="?", default="run", choices=["run", "serve-emulator", "relay", "case"]
    )
    parser.add_argument("--recipients", type=int, default=10_000)
    parser.add_argument("--postgres-url", default=os.environ.get("BENCH_POSTGRES_URL", DEFAULT_PG))
    parser.add_argument("--no-postgres", action="store_true")
    # Defaults measured best on the 2-CPU machines: more relays only share the same CPUs with
    # the emulator, and httpx spends more per request the more connections its pool holds.
    parser.add_argument("--sqlite-loops", type=int, default=2)
    parser.add_argument("--pg-processes", type=int, default=2)
    parser.add_argument("--pg-loops", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--url", default="")
    parser.add_argument("--base", default="")
    parser.add_argument("--loops", type=int, default=1)
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=4, help="sends in flight per loop")
    parser.add_argument("--out", default="")
    args = parser.parse_args(argv)
    if args.command == "case":
        Path(args.out).write_text(json.dumps(asyncio.run(case(args.url, args.base, args))))
        return []
    if args.command == "serve-emulator":
        serve_emulator(args.port)
        return []
    if args.command == "relay":
        asyncio.run(run_relays(args.url, args.base, args.loops, args.concurrency))
        return []

    rows: list[Row] = []
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp, process("serve-emulator", "--port", str(port)):
        wait_for_port(port)
        base = f"http://{HOST}:{port}"
        rows += run_case(
            "sqlite", f"sqlite://{tmp}/broadcast.sqlite3", base, args, 1, args.sqlite_loops
        )
        why_not = "--no-postgres" if args.no_postgres else postgres_reachable(args.postgres_url)
        if why_not:
            rows.append(Row("broadcast [postgres]", math.nan, "", f"skipped: {why_not}"))
        else:
            name = f"wuye_bench_broadcast_{os.getpid()}"
            url = urlunsplit(urlsplit(args.postgres_url)._replace(path=f"/{name}"))
            asyncio.run(admin(args.postgres_url, f"CREATE DATABASE {name}"))
            try:
                rows += run_case("postgres", url, base, args, args.pg_processes, args.pg_loops)
            finally:
                drop = f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                asyncio.run(admin(args.postgres_url, drop))
    return rows


if __name__ == "__main__":
    for row in main():
        print(row.format())
