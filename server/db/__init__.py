"""Database wiring: tortoise config, connect/close, and the list of model modules.

Model docstrings and field descriptions become SQL comments: tortoise 1.1.9 splits SQLite
migrations on semicolons, so they must not contain any (tests/unit/test_models.py checks).
"""

from __future__ import annotations

from typing import Any

from tortoise import Tortoise
from tortoise.backends.base.config_generator import expand_db_url

MODEL_MODULES = [
    "server.db.estate",
    "server.db.people",
    "server.db.fees",
    "server.db.inbound",
    "server.db.tasks",
    "server.db.outbox",
    "server.db.access",
    "server.db.reporting",
    "server.db.governance",
    "server.db.comms",
]


def tortoise_config(database_url: str) -> dict[str, Any]:
    return {
        "connections": {"default": _with_options(database_url)},
        "apps": {
            "models": {
                "models": MODEL_MODULES,
                "default_connection": "default",
                "migrations": "server.db.migrations",
            }
        },
        "use_tz": True,
        "timezone": "UTC",
    }


def _with_options(url: str) -> str | dict[str, Any]:
    """SQLite: WAL so a web process and a worker share the file (busy timeout 5 s), on the
    client in server.db.sqlite_inline (no thread hop, BEGIN IMMEDIATE).

    synchronous=NORMAL is SQLite's advice for WAL: no corruption on power loss, at worst the
    last commits are lost; the embedded database is for one machine, production uses PostgreSQL.
    """
    if not url.startswith("sqlite://"):
        return url
    if "?" not in url:
        url += "?journal_mode=WAL&synchronous=NORMAL&journal_size_limit=16384&foreign_keys=ON"
    return {**expand_db_url(url), "engine": "server.db.sqlite_inline"}


async def connect(database_url: str) -> None:
    await Tortoise.init(config=tortoise_config(database_url), _enable_global_fallback=True)


async def close() -> None:
    await Tortoise.close_connections()


def cli_config() -> dict[str, Any]:
    """Config for the `tortoise` CLI (makemigrations): `tortoise -c server.db.TORTOISE_ORM`."""
    from server.settings import load_settings

    return tortoise_config(load_settings().database_url)
