"""Two processes on one embedded SQLite file (a `serve` and a `worker`) both get their writes in.

Transactions begin IMMEDIATE (server/db/sqlite_inline.py): with a deferred BEGIN, one of two
processes that each read and then write failed with "database is locked".
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys

from server.settings import ROOT

TIMES = 100


def test_two_processes_reading_then_writing_lose_no_update(tmp_path):  # type: ignore[no-untyped-def]
    path = tmp_path / "shared.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE counter (id INTEGER PRIMARY KEY, value INTEGER NOT NULL)")
        conn.execute("INSERT INTO counter VALUES (1, 0)")
    command = [sys.executable, "-m", "tests.support.sqlite_counter", str(path), str(TIMES)]
    workers = [
        subprocess.Popen(command, cwd=ROOT, stderr=subprocess.PIPE, text=True) for _ in range(2)
    ]
    for worker in workers:
        _, errors = worker.communicate(timeout=60)
        assert worker.returncode == 0, errors
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT value FROM counter").fetchone()[0] == 2 * TIMES
