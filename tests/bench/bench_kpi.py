"""KPI queries over 1,000,000 tasks' fact rows on PostgreSQL (issue 8: p95 <= 200 ms).

Run: `python -m tests.bench.bench_kpi` (or `make bench`). A fresh database is migrated with
the project's migrations, then `task_facts` gets 1,000,000 rows from one
`INSERT ... SELECT generate_series` (3 years, 20 communities, 10 departments, 300 people),
ANALYZE, and the real query code (server.actions.kpi.totals / grouped) answers random
department/month, person/month and community/year questions. Skipped (a row says why) when
PostgreSQL is not reachable: BENCH_POSTGRES_URL, default the local admin database.
"""

from __future__ import annotations

import asyncio
import math
import os
import random
import time
from datetime import UTC, date, datetime

from tests.bench import Row
from tests.bench.bench_lifecycle import (
    DEFAULT_PG,
    admin,
    asyncpg_dsn,
    percentile,
    postgres_reachable,
    with_database,
)

N_TASKS = int(os.environ.get("BENCH_KPI_TASKS", "1000000"))
ROUNDS = 100
GOAL_P95_MS = 200.0
DATABASE = "wuye_bench_kpi"
FIRST_DAY = date(2024, 1, 1)
DAYS = 1096  # 2024-01-01 .. 2026-12-31
COMMUNITIES, DEPARTMENTS, PEOPLE = 20, 10, 300

# One statement: every column a transition would write, spread like a real estate's year.
FILL = f"""
INSERT INTO task_facts (task_id, community_id, building_id, department_id, assignee_id, kind,
  category, place, state, day, week, month, counted, completed, ever_completed, on_time, due_ts,
  checkin_on_time, response_s, arrival_s, resolution_s, held_s, score, excellent, reworked,
  reopened, cost, updated_at)
SELECT i, 1 + (i / 3) % {COMMUNITIES}, 1 + i % 400, 1 + (i % {PEOPLE}) % {DEPARTMENTS},
  1 + i % {PEOPLE}, 'repair',
  (ARRAY['water','drains','electricity','lights','elevator','doors','cleaning','other'])[1 + i % 8],
  CASE WHEN i % 5 = 0 THEN 'east gate' ELSE '' END,
  CASE WHEN i % 10 < 8 THEN 'closed' WHEN i % 10 = 8 THEN 'assigned' ELSE 'cancelled' END,
  d, d - ((EXTRACT(ISODOW FROM d)::int - 1)), date_trunc('month', d)::date,
  i % 10 <> 9, i % 10 < 8, i % 10 < 8,
  CASE WHEN i % 10 < 8 THEN i % 7 <> 0 END,
  CASE WHEN i % 10 = 8 THEN EXTRACT(EPOCH FROM d)::bigint + 86400 END,
  CASE WHEN i % 10 < 8 THEN i % 11 <> 0 END,
  600 + i % 7200, 1800 + i % 20000, 7200 + i % 200000, 0,
  CASE WHEN i % 10 < 6 THEN 1 + i % 5 END, CASE WHEN i % 10 < 6 THEN i % 5 >= 3 END,
  i % 23 = 0, i % 19 = 0, CASE WHEN i % 13 = 0 THEN (i % 500)::numeric END, now()
FROM (
  SELECT i, DATE '{FIRST_DAY.isoformat()}' + (i % {DAYS}) AS d
  FROM generate_series(1, {N_TASKS}) AS i
) AS g
"""


async def _run(url: str) -> list[Row]:
    import asyncpg

    from server import db
    from server.actions import kpi as kpi_actions
    from server.db.migrate import migrate

    await migrate(url)
    conn = await asyncpg.connect(asyncpg_dsn(url))
    started = time.perf_counter()
    await conn.execute(FILL)
    fill_s = time.perf_counter() - started
    await conn.execute("ANALYZE task_facts")
    await conn.close()
    print(f"inserted {N_TASKS:,} fact rows in {fill_s:.1f} s", flush=True)

    await db.connect(url)
    rng = random.Random(8)
    now = datetime(2026, 12, 31, tzinfo=UTC)
    months = [(y, m) for y in (2024, 2025, 2026) for m in range(1, 13)]
    rows: list[Row] = [Row("kpi facts: fill 1M rows (INSERT ... SELECT)", fill_s, "s")]

    async def timed(name: str, make: object) -> None:
        samples = []
        for _ in range(ROUNDS):
            filters = make()  # type: ignore[operator]
            t0 = time.perf_counter()
            await kpi_actions.totals(filters, now)
            samples.append((time.perf_counter() - t0) * 1000)
        p50, p95 = percentile(samples, 50), percentile(samples, 95)
        verdict = "goal met" if p95 <= GOAL_P95_MS else "GOAL MISSED"
        print(f"{name:<28} p50 {p50:7.2f} ms   p95 {p95:7.2f} ms   {verdict}", flush=True)
        rows.append(
            Row(f"kpi {name} p95 ({N_TASKS:,} tasks)", p95, "ms", f"goal <= 200, {verdict}")
        )
        rows.append(Row(f"kpi {name} p50", p50, "ms"))

    def month_range() -> tuple[date, date]:
        y, m = rng.choice(months)
        return kpi_actions.kpi.period_range("month", f"{y}-{m:02d}", date(2026, 12, 31))

    def department_month() -> kpi_actions.Filters:
        first, last = month_range()
        return kpi_actions.Filters(first, last, department_id=rng.randint(1, DEPARTMENTS))

    def person_month() -> kpi_actions.Filters:
        first, last = month_range()
        return kpi_actions.Filters(first, last, assignee_id=rng.randint(1, PEOPLE))

    def community_year() -> kpi_actions.Filters:
        year = rng.choice((2024, 2025, 2026))
        return kpi_actions.Filters(
            date(year, 1, 1),
            date(year, 12, 31),
            community_ids=frozenset({rng.randint(1, COMMUNITIES)}),
        )

    try:
        await timed("department/month", department_month)
        await timed("person/month", person_month)
        await timed("community/year", community_year)
        t0 = time.perf_counter()
        groups = await kpi_actions.grouped("department", community_year(), now)
        grouped_ms = (time.perf_counter() - t0) * 1000
        print(f"report community/year by department: {len(groups)} groups in {grouped_ms:.1f} ms")
        rows.append(Row("kpi report: one community-year by department", grouped_ms, "ms"))
    finally:
        await db.close()
    return rows


def main() -> list[Row]:
    base = os.environ.get("BENCH_POSTGRES_URL", DEFAULT_PG)
    why_not = postgres_reachable(base)
    if why_not:
        return [
            Row("kpi queries over 1M tasks", math.nan, "", f"skipped: no PostgreSQL: {why_not}")
        ]
    asyncio.run(admin(base, f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)"))
    asyncio.run(admin(base, f"CREATE DATABASE {DATABASE}"))
    try:
        return asyncio.run(_run(with_database(base, DATABASE)))
    finally:
        asyncio.run(admin(base, f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)"))


if __name__ == "__main__":
    for row in main():
        print(row.format())
