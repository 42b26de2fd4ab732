"""What a backing service that is down or restarting raises (PostgreSQL, Redis, a socket).

The API answers these with 503 so callers retry (server/api/errors.py); only adapters import
the drivers (STYLE.md), so the list lives here.
"""

from __future__ import annotations

from asyncpg.exceptions import OperatorInterventionError, PostgresConnectionError
from redis.exceptions import ConnectionError as RedisConnectionError
from tortoise.exceptions import DBConnectionError

SERVICE_DOWN: tuple[type[BaseException], ...] = (
    OSError,
    PostgresConnectionError,
    OperatorInterventionError,  # "the database system is shutting down / starting up"
    DBConnectionError,
    RedisConnectionError,
)
