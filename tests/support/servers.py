"""Serve a Sanic app on a free loopback port inside the test's event loop."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sanic import Sanic


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@asynccontextmanager
async def serving(app: Sanic, port: int | None = None) -> AsyncIterator[str]:
    """Yield the base URL (http://127.0.0.1:PORT) while the app serves real HTTP.

    Pass `port` when the app must know its own address beforehand (settings.own_base_url).
    """
    port = port or free_port()
    app.config.TOUCHUP = False  # see tests/conftest.py: several apps start in one process
    server = await app.create_server(
        host="127.0.0.1", port=port, return_asyncio_server=True, access_log=False
    )
    assert server is not None
    await server.startup()
    await server.before_start()
    await server.after_start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await server.before_stop()
        server.close()
        await server.wait_closed()
        await server.after_stop()
