"""The embedded database's write-ahead log reaches the database file through a helper thread.

Commits do not checkpoint any more (server/db/sqlite_inline.py: it cost the unlucky request
20 ms), so without that thread the log would only grow while the process runs.
"""

from __future__ import annotations

import asyncio
import threading
import time

from tortoise import connections
from tortoise.transactions import in_transaction

from server import db

ROWS, BODY = 2_000, "x" * 1_000  # 2 MB: under SQLite's own checkpoint threshold (1,000 pages)


async def test_committed_pages_reach_the_file_while_no_commit_checkpoints(tmp_path):  # type: ignore[no-untyped-def]
    path = tmp_path / "wal.sqlite3"
    await db.connect(f"sqlite://{path}")
    try:
        conn = connections.get("default")
        setting = await conn.execute_query_dict("PRAGMA wal_autocheckpoint")
        assert list(setting[0].values()) == [0]
        await conn.execute_script("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
        for _ in range(ROWS // 100):
            async with in_transaction() as tx:
                await tx.execute_many("INSERT INTO notes (body) VALUES (?)", [[BODY]] * 100)
        deadline = time.monotonic() + 10
        while path.stat().st_size < ROWS * len(BODY) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        assert path.stat().st_size >= ROWS * len(BODY)
    finally:
        await db.close()
    assert not [t for t in threading.enumerate() if t.name.startswith("checkpoint ")]
