"""A signed payment notification resumes the held repair (issue 6: within 1 s).

Run: `python -m tests.bench.bench_fees` (or `make bench`). Per database (SQLite, then
PostgreSQL when reachable): the test estate, a household four months in arrears and a
chargeable in-home repair held for payment; then the payment system's signed notification is
POSTed over real HTTP to the served app, and the clock stops when the response says the task was
resumed (the resume, routing, assignment and messages happen inside that request). The task is
checked to be assigned. ROUNDS rounds, a fresh arrears and held task each.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from tests.bench import Row
from tests.bench.bench_lifecycle import (
    DEFAULT_PG,
    admin,
    percentile,
    postgres_reachable,
    with_database,
)

ROUNDS = 60
GOAL_S = 1.0
DATABASE = "wuye_bench_fees"


async def measure(url: str) -> list[float]:
    import httpx

    from server import db
    from server.actions.tasks import create_task
    from server.app import create_app
    from server.db.migrate import migrate
    from server.db.tasks import REF_OFFSET, Task
    from server.services import Services
    from server.settings import load_settings
    from tests.support.fees import notification, owe, signed
    from tests.support.seed import seed_estate
    from tests.support.servers import serving

    await migrate(url)
    settings = load_settings(env={"DATABASE_URL": url, "REDIS_URL": "memory://"})
    settings = settings.with_(redis_prefix=f"bench{uuid.uuid4().hex[:8]}:")
    services = await Services.start(settings)
    app = create_app(settings, services)
    tz = ZoneInfo(settings.tz_name)
    latencies: list[float] = []
    try:
        estate = await seed_estate()
        async with serving(app) as base, httpx.AsyncClient(base_url=base) as client:
            for n in range(ROUNDS):
                await owe(estate.room_a, days_overdue=130 + 31 * n, amount="960.00")
                task = await create_task(
                    community=estate.a,
                    category="water",
                    source="wechat",
                    now=datetime.now(UTC),
                    tz=tz,
                    room=estate.room_a,
                    description="kitchen tap",
                    reporter=estate.resident_a,
                )
                assert task.state == "held_for_payment", task.state
                body = notification(f"bench-{n}", "960.00")
                raw, headers = signed(body, settings.fees.payment_notify_secret)
                started = time.perf_counter()
                response = await client.post(
                    "/api/v1/payments/notify", content=raw, headers=headers
                )
                latencies.append(time.perf_counter() - started)
                assert response.json()["resumed"] == [task.ref], response.text
                resumed = await Task.get(id=int(task.ref[1:]) - REF_OFFSET)
                assert resumed.state == "assigned", resumed.state
    finally:
        await services.close()
        await db.close()
    return latencies


def rows_for(database: str, latencies: list[float]) -> list[Row]:
    p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
    note = f"{len(latencies)} payments; max {max(latencies) * 1000:.0f} ms; goal <= {GOAL_S:g} s"
    return [
        Row(f"payment -> held task resumed p50 [{database}]", p50 * 1000, "ms"),
        Row(f"payment -> held task resumed p99 [{database}]", p99 * 1000, "ms", note),
    ]


def measure_apart(url: str) -> list[float]:
    """One database per interpreter: tortoise keeps a model's SQL dialect after closing."""
    command = [sys.executable, "-m", "tests.bench.bench_fees", url]
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return [float(x) for x in json.loads(out.strip().splitlines()[-1])]


def main() -> list[Row]:
    with tempfile.TemporaryDirectory(prefix="wuye-fees-") as tmp:
        rows = rows_for("sqlite", measure_apart(f"sqlite://{tmp}/fees.sqlite3"))
    base = os.environ.get("BENCH_POSTGRES_URL", DEFAULT_PG)
    why_not = postgres_reachable(base)
    if why_not:
        rows.append(Row("payment -> held task resumed [postgres]", math.nan, "", why_not))
    else:
        asyncio.run(admin(base, f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)"))
        asyncio.run(admin(base, f"CREATE DATABASE {DATABASE}"))
        try:
            rows += rows_for("postgres", measure_apart(with_database(base, DATABASE)))
        finally:
            asyncio.run(admin(base, f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)"))
    for row in rows:
        print(row.format())
    return rows


if __name__ == "__main__":
    if len(sys.argv) == 2:  # one database, in this interpreter: print the latencies
        print(json.dumps(asyncio.run(measure(sys.argv[1]))))
    else:
        main()
