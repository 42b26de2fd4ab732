"""Per-test databases: a migrated template copied for each test (SQLite file or PostgreSQL DB)."""

from __future__ import annotations

import asyncio
import itertools
import os
import shutil
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from server.db.migrate import migrate

_numbers = itertools.count(1)


def _with_db(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def _asyncpg_dsn(url: str) -> str:
    return url.replace("postgres://", "postgresql://", 1).split("?")[0]


class TemplateDatabase:
    """Migrates once per pytest session; `new()` gives each test a fresh copy."""

    def __init__(self, base_url: str, workdir: Path) -> None:
        self.base_url = base_url
        self.workdir = workdir
        self.is_postgres = base_url.startswith(("postgres://", "asyncpg://"))
        self.prefix = f"wuye_t{os.getpid()}"
        self.template = (
            _with_db(base_url, f"{self.prefix}_tpl")
            if self.is_postgres
            else f"sqlite://{workdir / 'template.sqlite3'}"
        )

    async def _admin(self, sql: str) -> None:
        conn = await asyncpg.connect(_asyncpg_dsn(self.base_url))
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    def create(self) -> None:
        async def run() -> None:
            if self.is_postgres:
                await self._admin(f"DROP DATABASE IF EXISTS {self.prefix}_tpl")
                await self._admin(f"CREATE DATABASE {self.prefix}_tpl")
            await migrate(self.template)

        asyncio.run(run())

    async def new(self) -> str:
        n = next(_numbers)
        if self.is_postgres:
            name = f"{self.prefix}_{n}"
            await self._admin(f"CREATE DATABASE {name} TEMPLATE {self.prefix}_tpl")
            return _with_db(self.base_url, name)
        path = self.workdir / f"test{n}.sqlite3"
        shutil.copyfile(self.workdir / "template.sqlite3", path)
        return f"sqlite://{path}"

    async def drop(self, url: str) -> None:
        if self.is_postgres:
            name = urlsplit(url).path.lstrip("/")
            await self._admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        else:
            Path(url[len("sqlite://") :]).unlink(missing_ok=True)

    def destroy(self) -> None:
        if self.is_postgres:
            asyncio.run(self._admin(f"DROP DATABASE IF EXISTS {self.prefix}_tpl WITH (FORCE)"))


