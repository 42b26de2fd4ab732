"""Fixed SQL for the statements every task transition runs, without building a query each time.

tortoise builds every QuerySet anew through pypika, copying the query at each clause: on the
task path that cost ten times the statement itself (reading a task's 7 events took 0.66 ms as a
QuerySet and 0.05 ms as written SQL, on SQLite; docs/benchmarks.md). The statements a
transition runs are written out once instead, with PostgreSQL's `$1` placeholders (turned into
`?` for SQLite), and run on the caller's transaction. Values cross through the models' own
fields both ways (`stored` on the way in, `fetch` and `loaded` on the way out), so they are
written and read exactly as tortoise writes and reads them.

Only the task path's per-transition statements use this; everywhere else a QuerySet says the
same thing more plainly.
"""

from __future__ import annotations

import re
from typing import Any, TypeVar

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.models import Model

M = TypeVar("M", bound=Model)
_PLACEHOLDER = re.compile(r"\$\d+")
_dialect_text: dict[tuple[str, str], str] = {}


def _sql(db: BaseDBAsyncClient, text: str) -> str:
    """`text` as the connection's dialect wants it (placeholders numbered in order of use)."""
    key = (db.capabilities.dialect, text)
    if key not in _dialect_text:
        _dialect_text[key] = text if key[0] == "postgres" else _PLACEHOLDER.sub("?", text)
    return _dialect_text[key]


def placeholders(first: int, count: int) -> str:
    """`$first, $first+1, ...` for an IN list of `count` values."""
    return ", ".join(f"${n}" for n in range(first, first + count))


def for_update(model: type[Model]) -> str:
    """` FOR UPDATE OF <table>` on PostgreSQL; SQLite's transactions hold the write lock already
    (server.db.sqlite_inline begins them IMMEDIATE)."""
    db = model._meta.db
    return f" FOR UPDATE OF {model._meta.db_table}" if db.capabilities.dialect == "postgres" else ""


def stored(model: type[Model], field: str, value: Any) -> Any:
    """`value` as tortoise stores it in `model.field` (datetimes, JSON, booleans per dialect)."""
    return model._meta.fields_map[field].to_db_value(value, model)


def loaded(model: type[Model], field: str, value: Any) -> Any:
    """A column's `value` as tortoise reads `model.field` (for `rows`: datetimes, JSON)."""
    return model._meta.fields_map[field].to_python_value(value)


async def fetch(model: type[M], text: str, *params: Any) -> list[M]:
    """Instances of `model` from a SELECT of its table's columns (`SELECT * FROM ...`)."""
    db = model._meta.db
    rows = await db.execute_query_dict(_sql(db, text), list(params))
    return [model._init_from_db(**row) for row in rows]


async def fetch_one(model: type[M], text: str, *params: Any) -> M | None:
    found = await fetch(model, text, *params)
    return found[0] if found else None


async def rows(model: type[Model], text: str, *params: Any) -> list[dict[str, Any]]:
    """Plain rows as the driver returns them: right for ids, text and numbers; other columns
    go through `loaded`."""
    db = model._meta.db
    return await db.execute_query_dict(_sql(db, text), list(params))


async def execute(model: type[Model], text: str, *params: Any) -> int:
    """A statement returning no rows; for an UPDATE or DELETE, how many rows it changed."""
    db = model._meta.db
    changed, _ = await db.execute_query(_sql(db, text), list(params))
    return int(changed)
