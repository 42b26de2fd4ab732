"""Recording an inbound WeChat push: the atomic dedupe mark plus the follower's state, in one go."""

from __future__ import annotations

import asyncio
import weakref
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from server.db.inbound import InboundMessage
from server.db.people import WechatUser

# Pushes recorded together in one transaction at most (bounded statement size).
MAX_GROUP = 64

_INBOUND_COLUMNS = ("dedupe_key", "openid", "kind", "content", "received_at")
_FOLLOWER_COLUMNS = ("openid", "subscribed", "scene", "last_inbound_at", "updated_at")


@dataclass(frozen=True)
class Inbound:
    """One push to record: its dedupe key and what it says about the follower."""

    dedupe_key: str
    openid: str
    kind: str
    content: str
    received_at: datetime
    opens_window: bool
    subscribed: bool | None = None
    scene: str | None = None


async def record_inbound(
    *,
    dedupe_key: str,
    openid: str,
    kind: str,
    content: str,
    received_at: datetime,
    opens_window: bool,
    subscribed: bool | None = None,
    scene: str | None = None,
) -> bool:
    """Mark a push as seen before it is handled; False means WeChat already delivered it.

    WeChat retries a push it got no answer to within 5 s, up to three times and possibly while
    the first is still being handled (doc: Passive user reply message, dedupe by MsgId). The unique
    `dedupe_key` of InboundMessage makes the mark atomic across workers and survives a Redis
    restart: of several concurrent copies exactly one insert takes the key. The follower row
    (subscribed flag, QR scene, start of the 48-hour customer-service window) changes in the same
    transaction, so a duplicate changes nothing at all.
    """
    push = Inbound(dedupe_key, openid, kind, content, received_at, opens_window, subscribed, scene)
    return await _group_for_this_loop().submit(push)


class _GroupCommit:
    """Pushes that arrive while a write is in flight share the next transaction.

    Every push is one SQLite commit (an fsync) plus several hops to the driver's thread; under
    load that, not the protocol work, bounds the webhook (tests/bench/bench_webhook.py). Writing
    the pushes waiting at that moment together keeps each one atomic and marked before it is
    handled, and costs one commit for all of them.
    """

    def __init__(self) -> None:
        self._waiting: list[tuple[Inbound, asyncio.Future[bool]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def submit(self, push: Inbound) -> bool:
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiting.append((push, future))
        if self._writer is None:
            self._writer = asyncio.create_task(self._write_waiting())
        return await future

    async def _write_waiting(self) -> None:
        try:
            while self._waiting:
                group = self._waiting[:MAX_GROUP]
                del self._waiting[:MAX_GROUP]
                try:
                    await _settle(group)
                except BaseException as exc:  # a bug or cancellation: never leave a push waiting
                    group += self._waiting
                    self._waiting.clear()
                    for _, future in group:
                        if future.done():
                            continue
                        if isinstance(exc, asyncio.CancelledError):
                            future.cancel()
                        else:
                            future.set_exception(exc)
                    raise
        finally:
            self._writer = None


async def _settle(group: list[tuple[Inbound, asyncio.Future[bool]]]) -> None:
    """Write a group; if it fails, write each push alone so one bad push fails only itself."""
    try:
        outcomes: list[bool | BaseException] = list(await _write([p for p, _ in group]))
    except Exception as exc:
        if len(group) == 1:
            outcomes = [exc]
        else:
            outcomes = []
            for push, _ in group:
                try:
                    outcomes.extend(await _write([push]))
                except Exception as alone:
                    outcomes.append(alone)
    for (_, future), outcome in zip(group, outcomes, strict=True):
        if future.done():  # the waiting request was cancelled
            continue
        if isinstance(outcome, BaseException):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)


async def _write(pushes: Sequence[Inbound]) -> list[bool]:
    """One transaction: insert the dedupe marks, then upsert the followers of the new pushes.

    Raw SQL on purpose: this runs for every push, and building the statements through the ORM's
    query builder cost about twice the CPU of executing them. Marks go in key order and
    followers in openid order, so two workers writing overlapping groups on PostgreSQL do not
    wait on each other in opposite orders (a deadlock it still detects fails the group, which
    `_settle` then writes push by push).
    """
    ordered = sorted(range(len(pushes)), key=lambda i: pushes[i].dedupe_key)
    async with in_transaction() as conn:
        rows = await conn.execute_query_dict(
            _insert_sql(conn, InboundMessage._meta.db_table, _INBOUND_COLUMNS, len(pushes))
            + " ON CONFLICT (dedupe_key) DO NOTHING RETURNING dedupe_key",
            [
                value
                for i in ordered
                for value in (
                    pushes[i].dedupe_key,
                    pushes[i].openid,
                    pushes[i].kind,
                    pushes[i].content,
                    pushes[i].received_at,
                )
            ],
        )
        taken = {row["dedupe_key"] for row in rows}
        fresh = []
        for push in pushes:  # arrival order: the first copy of a key in the group is the new one
            fresh.append(push.dedupe_key in taken)
            taken.discard(push.dedupe_key)
        await _upsert_followers(conn, [p for p, new in zip(pushes, fresh, strict=True) if new])
    return fresh


def _changed_columns(push: Inbound) -> tuple[str, ...]:
    """The follower fields this push speaks about; the others keep their value."""
    changed = ["updated_at"]
    if push.opens_window:
        changed.append("last_inbound_at")
    if push.subscribed is not None:
        changed.append("subscribed")
    if push.scene is not None:
        changed.append("scene")
    return tuple(changed)


async def _upsert_followers(conn: BaseDBAsyncClient, pushes: Sequence[Inbound]) -> None:
    """Create each follower or change only the fields its push speaks about.

    Distinct followers changing the same fields share one statement (a row may appear only once
    in an upsert on PostgreSQL); a follower with several pushes in the group gets them one by one
    in arrival order, so the last one wins as it would have alone.
    """
    counts = Counter(push.openid for push in pushes)
    by_openid = sorted(pushes, key=lambda p: p.openid)  # stable: arrival order per follower
    shared: dict[tuple[str, ...], list[Inbound]] = {}
    for push in by_openid:
        if counts[push.openid] == 1:
            shared.setdefault(_changed_columns(push), []).append(push)
    for columns, group in shared.items():
        await _upsert(conn, group, columns)
    for push in by_openid:
        if counts[push.openid] > 1:
            await _upsert(conn, [push], _changed_columns(push))


async def _upsert(
    conn: BaseDBAsyncClient, pushes: Sequence[Inbound], columns: tuple[str, ...]
) -> None:
    values: list[Any] = []
    for push in pushes:
        values += [
            push.openid,
            bool(push.subscribed),
            push.scene or "",
            push.received_at if push.opens_window else None,
            push.received_at,
        ]
    await conn.execute_query_dict(
        _insert_sql(conn, WechatUser._meta.db_table, _FOLLOWER_COLUMNS, len(pushes))
        + " ON CONFLICT (openid) DO UPDATE SET "
        + ", ".join(f"{column} = EXCLUDED.{column}" for column in columns),
        values,
    )


def _insert_sql(conn: BaseDBAsyncClient, table: str, columns: tuple[str, ...], rows: int) -> str:
    """A multi-row INSERT with the driver's placeholders: `?` for sqlite3, `$n` for asyncpg."""
    dialect = conn.capabilities.dialect
    width = len(columns)
    if dialect == "sqlite":
        row = "(" + ", ".join(["?"] * width) + ")"
        tuples = ", ".join(row for _ in range(rows))
    elif dialect == "postgres":
        tuples = ", ".join(
            "(" + ", ".join(f"${r * width + c + 1}" for c in range(width)) + ")"
            for r in range(rows)
        )
    else:  # pragma: no cover - CONTRACT.md names SQLite and PostgreSQL only
        raise NotImplementedError(f"record_inbound has no SQL for {dialect}")
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES {tuples}"


_groups: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _GroupCommit] = (
    weakref.WeakKeyDictionary()
)


def _group_for_this_loop() -> _GroupCommit:
    """One group per event loop: futures and the writer task belong to their loop."""
    loop = asyncio.get_running_loop()
    group = _groups.get(loop)
    if group is None:
        group = _groups[loop] = _GroupCommit()
    return group
