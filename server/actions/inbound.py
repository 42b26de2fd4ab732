"""Recording an inbound WeChat push: the atomic dedupe mark plus the follower's state, in one go."""

from __future__ import annotations

from datetime import datetime

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from server.db.inbound import InboundMessage
from server.db.people import WechatUser

# Raw SQL on purpose: this runs for every push, and building the two statements through the
# ORM's query builder costs about twice the CPU of executing them (tests/bench/bench_webhook.py).
# Column names come from the models; only values are parameters.
_INBOUND_COLUMNS = ("dedupe_key", "openid", "kind", "content", "received_at")
_FOLLOWER_COLUMNS = ("openid", "subscribed", "scene", "last_inbound_at", "updated_at")


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
    `dedupe_key` makes the mark atomic across workers and survives a Redis restart: of several
    concurrent copies exactly one insert wins and the others get an IntegrityError.
    The follower row (subscribed flag, QR scene, start of the 48-hour customer-service window)
    changes in the same transaction, so a duplicate changes nothing at all.
    """
    # One upsert for the follower: two pushes from a new follower may race to create the row,
    # and only the fields this push speaks about may change on an existing one.
    changed = ["updated_at"]
    if opens_window:
        changed.append("last_inbound_at")
    if subscribed is not None:
        changed.append("subscribed")
    if scene is not None:
        changed.append("scene")
    try:
        async with in_transaction() as conn:
            await conn.execute_insert(
                _insert_sql(conn, InboundMessage._meta.db_table, _INBOUND_COLUMNS),
                [dedupe_key, openid, kind, content, received_at],
            )
            await conn.execute_query(
                _insert_sql(conn, WechatUser._meta.db_table, _FOLLOWER_COLUMNS)
                + " ON CONFLICT (openid) DO UPDATE SET "
                + ", ".join(f"{column} = EXCLUDED.{column}" for column in changed),
                [
                    openid,
                    bool(subscribed),
                    scene or "",
                    received_at if opens_window else None,
                    received_at,
                ],
            )
    except IntegrityError:
        return False
    return True


def _insert_sql(conn: BaseDBAsyncClient, table: str, columns: tuple[str, ...]) -> str:
    """INSERT with the driver's placeholders: `?` for sqlite3, `$n` for asyncpg."""
    dialect = conn.capabilities.dialect
    if dialect == "sqlite":
        marks = ", ".join("?" for _ in columns)
    elif dialect == "postgres":
        marks = ", ".join(f"${n}" for n in range(1, len(columns) + 1))
    else:  # pragma: no cover - CONTRACT.md names SQLite and PostgreSQL only
        raise NotImplementedError(f"record_inbound has no SQL for {dialect}")
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"
