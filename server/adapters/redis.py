"""Redis connection: a real server for redis:// URLs, in-process fakeredis for memory://."""

from __future__ import annotations

import fakeredis
import redis.asyncio as aioredis

Redis = aioredis.Redis

_fake_servers: dict[str, fakeredis.FakeServer] = {}


def connect_redis(url: str) -> aioredis.Redis:
    """One code path for both: fakeredis.FakeAsyncRedis subclasses redis.asyncio.Redis.

    `memory://` URLs with the same name share one in-process server (memory://a, memory://b).
    """
    if url.startswith("memory://"):
        name = url[len("memory://") :] or "default"
        server = _fake_servers.setdefault(name, fakeredis.FakeServer())
        return fakeredis.FakeAsyncRedis(server=server, decode_responses=True)
    return aioredis.from_url(url, decode_responses=True)
