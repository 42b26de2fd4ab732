"""A second process on the same SQLite file: N read-then-write transactions on one counter.

Run: `python -m tests.support.sqlite_counter PATH N` (tests/integration/test_sqlite_processes.py).
"""

from __future__ import annotations

import asyncio
import sys

from tortoise.transactions import in_transaction

from server import db


async def count_up(path: str, times: int) -> None:
    await db.connect(f"sqlite://{path}")
    try:
        for _ in range(times):
            async with in_transaction() as tx:
                rows = await tx.execute_query_dict("SELECT value FROM counter WHERE id = 1")
                await asyncio.sleep(0.002)  # the other process reads meanwhile
                await tx.execute_query(
                    "UPDATE counter SET value = ? WHERE id = 1", [rows[0]["value"] + 1]
                )
    finally:
        await db.close()


if __name__ == "__main__":
    asyncio.run(count_up(sys.argv[1], int(sys.argv[2])))
