"""Apply the migration files in server/db/migrations (tortoise's built-in migration engine)."""

from __future__ import annotations

from tortoise import Tortoise
from tortoise.migrations.api import migrate as run_migrations

from server.db import tortoise_config


async def migrate(database_url: str) -> None:
    """Bring the database up to the newest migration; a no-op when it is already there."""
    try:
        await run_migrations(config=tortoise_config(database_url))
    finally:
        await Tortoise.close_connections()
