"""Insert many rows from plain dicts in one statement batch, without a model object per row.

Model.bulk_create builds a full model instance for every row first; for the timer runner that
instantiation cost more than the INSERT itself (tests/bench/bench_timers.py). This uses the
model's own INSERT statement and each field's `to_db_value`, so values are stored exactly as
tortoise stores them (same datetime, JSON and boolean encodings on SQLite and PostgreSQL).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from tortoise import fields
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.models import Model


def _default(model: type[Model], name: str) -> Any:
    field = model._meta.fields_map[name]
    return field.default() if callable(field.default) else field.default


# Field types whose to_db_value hands a value of the right Python type back unchanged after
# running validators (lengths, int ranges): skipping it halves the cost of a big batch. The
# rows come from our own code, and PostgreSQL still refuses a too-long value or a too-big number.
_PLAIN = (
    fields.CharField,
    fields.TextField,
    fields.IntField,
    fields.BigIntField,
    fields.SmallIntField,
    fields.FloatField,
)


def _converter(model: type[Model], name: str) -> Callable[[Any], Any]:
    field = model._meta.fields_map[name]
    if type(field) in _PLAIN:
        python = field.field_type
        convert = field.to_db_value
        return lambda value: (
            value if value is None or type(value) is python else convert(value, model)
        )
    return lambda value: field.to_db_value(value, model)


async def insert_rows(
    model: type[Model], rows: Sequence[Mapping[str, Any]], *, ignore_conflicts: bool = False
) -> None:
    """INSERT `rows` (field name -> value; missing fields take their defaults) into `model`'s
    table in the current transaction; with `ignore_conflicts` a duplicate unique key is skipped."""
    if not rows:
        return
    db = model._meta.db
    sql, converters = _statement(model, db, ignore_conflicts)
    plan = [(name, convert, _default(model, name)) for name, convert in converters]
    values = [[convert(row.get(name, default)) for name, convert, default in plan] for row in rows]
    await db.execute_many(sql, values)


async def insert_new(model: type[Model], row: Mapping[str, Any]) -> bool:
    """INSERT one row unless it collides with a unique key; True when it went in.

    One statement (ON CONFLICT DO NOTHING RETURNING), where a plain INSERT needed a savepoint
    around it to survive the collision on PostgreSQL: three round trips.
    """
    db = model._meta.db
    sql, converters = _statement(model, db, True)
    values = [convert(row.get(name, _default(model, name))) for name, convert in converters]
    if " RETURNING " not in sql:  # tortoise's PostgreSQL statements return the key already
        sql += f' RETURNING "{model._meta.db_pk_column}"'
    return bool(await db.execute_query_dict(sql, values))


_Plan = list[tuple[str, Callable[[Any], Any]]]
_statements: dict[tuple[type[Model], type, bool], tuple[str, _Plan]] = {}


def _statement(
    model: type[Model], db: BaseDBAsyncClient, ignore_conflicts: bool
) -> tuple[str, _Plan]:
    """The INSERT and (field, converter) per column, built once per database driver: a new repair
    inserts its clocks and timers this way, and building it took longer than running it."""
    key = (model, db.executor_class, ignore_conflicts)
    if key not in _statements:
        executor = db.executor_class(model=model, db=db)
        names = executor.regular_columns  # field names, without the generated primary key
        columns = [model._meta.fields_db_projection[name] for name in names]
        # tortoise's own statement builder: the dialect's placeholders, ON CONFLICT DO NOTHING
        insert = executor._prepare_insert_statement(columns, ignore_conflicts=ignore_conflicts)
        _statements[key] = (insert.get_sql(), [(name, _converter(model, name)) for name in names])
    return _statements[key]
