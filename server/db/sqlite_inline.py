"""Tortoise's SQLite client without the thread hop, and with BEGIN IMMEDIATE transactions.

aiosqlite runs every statement on a helper thread and wakes the event loop when it is done:
for the embedded database that hop costs more than the statement (a repair's lifecycle spent
most of its time waiting for it, docs/benchmarks.md). SQLite is a library in this process and a
statement on estate-sized tables takes microseconds, so here they run on the loop itself.
Tortoise already serializes everything on the one connection behind an asyncio lock, so nothing
else can run on it in between. A long report blocks the loop while it runs; production uses
PostgreSQL.

Transactions begin IMMEDIATE: a transaction that read and then writes takes the write lock up
front, so a web process and a worker sharing the file wait for each other (busy timeout 5 s)
instead of failing with "database is locked" when a deferred read tries to upgrade.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Generator
from typing import Any

import aiosqlite
from tortoise.backends.base.client import TransactionContext
from tortoise.backends.sqlite.client import (
    SqliteClient,
    SqliteTransactionContext,
    SqliteTransactionWrapper,
)

BUSY_TIMEOUT_S = 5.0


class InlineConnection(aiosqlite.Connection):
    """aiosqlite's API, each call run right away on the caller's thread."""

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if self._connection is None:
            raise ValueError("Connection closed")
        return fn(*args, **kwargs)

    async def _connect(self) -> InlineConnection:
        if self._connection is None:
            self._connection = self._connector()
        return self

    def __await__(self) -> Generator[Any, None, InlineConnection]:
        return self._connect().__await__()  # no helper thread to start

    def stop(self) -> None:
        self._running = False
        if self._connection is not None:
            self._connection.close()
            self._connection = None


class ImmediateTransaction(SqliteTransactionWrapper):
    async def begin(self) -> None:
        await self._connection.commit()
        await self._connection.execute("BEGIN IMMEDIATE")


class InlineSqliteClient(SqliteClient):
    async def create_connection(self, with_db: bool) -> None:
        """As SqliteClient.create_connection, on an InlineConnection."""
        if self._connection is not None:
            return
        filename = self.filename
        self._connection = await InlineConnection(
            lambda: sqlite3.connect(filename, isolation_level=None, timeout=BUSY_TIMEOUT_S),
            iter_chunk_size=64,
        )
        self._connection._conn.row_factory = sqlite3.Row
        for pragma, value in self.pragmas.items():
            await self._connection.execute(f"PRAGMA {pragma}={value}")
        await self._post_connect()

    def _in_transaction(self) -> TransactionContext:
        return SqliteTransactionContext(ImmediateTransaction(self), self._lock)


client_class = InlineSqliteClient
