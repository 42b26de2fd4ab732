"""The gateway's own small MQTT client helper (it never imports `server`, so not its adapter).

Credentials travel in the URL (`mqtt://gw-cuiyuan:secret@host:1883`): each gateway and each
device has its own user, and the broker's ACL limits it to its own topics (docs/gateway.md).
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from aiomqtt import Client, Message, MqttError, Will

__all__ = [
    "Client",
    "LinkAddress",
    "Message",
    "MqttError",
    "Will",
    "cancel_and_wait",
    "client",
    "filtered",
    "parse_url",
]

DEFAULT_PORT = 1883
RECANCEL_S = 0.5


@dataclass(frozen=True)
class LinkAddress:
    """A broker and the credentials to use on it."""

    host: str
    port: int = DEFAULT_PORT
    username: str | None = None
    password: str | None = None

    def __repr__(self) -> str:  # never print a password into a log
        user = f"{self.username}@" if self.username else ""
        return f"LinkAddress(mqtt://{user}{self.host}:{self.port})"


def parse_url(url: str) -> LinkAddress:
    """`mqtt://[user[:password]@]host[:port]` -> LinkAddress; ValueError for anything else."""
    parts = urlsplit(url)
    if parts.scheme != "mqtt" or not parts.hostname:
        raise ValueError(f"the gateway needs an mqtt://host:port URL, got {url!r}")
    return LinkAddress(
        parts.hostname,
        parts.port or DEFAULT_PORT,
        unquote(parts.username) if parts.username else None,
        unquote(parts.password) if parts.password else None,
    )


def client(
    address: LinkAddress, *, client_id: str, will: Will | None = None, timeout: float = 5.0
) -> Client:
    """A clean-session aiomqtt client: state that matters is retained or buffered on disk."""
    return Client(
        address.host,
        address.port,
        username=address.username,
        password=address.password,
        identifier=client_id,
        will=will,
        timeout=timeout,
        clean_session=True,
        # Small packets must leave at once: with Nagle's algorithm a PUBACK waits for the
        # peer's delayed ACK (~40 ms each way), which alone would eat most of the 300 ms.
        socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],
    )


async def filtered(client: Client, topic_filters: Sequence[str]) -> AsyncIterator[Message]:
    """The client's messages whose topic matches one of `topic_filters`, nothing else.

    amqtt 0.12.1 sends a new client the retained messages of topics it never subscribed to;
    a real broker never does, and the filter costs nothing there (docs/mqtt.md).
    """
    async for message in client.messages:
        if any(message.topic.matches(f) for f in topic_filters):
            yield message


async def cancel_and_wait(tasks: Iterable[asyncio.Task[Any]]) -> None:
    """Cancel `tasks` and wait until every one of them has ended.

    Python 3.11's asyncio.wait_for, which aiomqtt's QoS 1 publish waits with, can swallow a
    cancellation that arrives just as the publish completes; the task then runs on, and a
    plain cancel-then-gather waits for it forever (a hung gateway-sync shutdown in
    tests/bench/bench_gateway.py; a gateway's reconnect held up by its upload and heartbeat
    helpers after a broker restart). A task still running after RECANCEL_S is cancelled again.
    """
    every = list(tasks)
    pending = {task for task in every if not task.done()}
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=RECANCEL_S)
    await asyncio.gather(*every, return_exceptions=True)  # all done: collects their outcomes
