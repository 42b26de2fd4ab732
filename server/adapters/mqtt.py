"""MQTT connection layer: an embedded amqtt broker or a real one, then the same aiomqtt clients.

`MQTT_URL=embedded://` starts an in-process broker on 127.0.0.1; `mqtt://host:port` uses that
broker. Everything after resolving the address (clients, topics, payloads) is one code path.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from aiomqtt import Client, Message, Will
from amqtt.broker import Broker
from amqtt.errors import BrokerError

__all__ = [
    "BrokerAddress",
    "Client",
    "EmbeddedBroker",
    "EmbeddedBrokerError",
    "Message",
    "Will",
    "messages",
    "mqtt_client",
    "open_broker",
    "parse_mqtt_url",
    "start_broker",
]

EMBEDDED_SCHEME = "embedded"
DEFAULT_MQTT_PORT = 1883
LOOPBACK = "127.0.0.1"
SHUTDOWN_TIMEOUT_S = 5.0
_ANONYMOUS_AUTH = "amqtt.plugins.authentication.AnonymousAuthPlugin"


@dataclass(frozen=True)
class BrokerAddress:
    """Where clients connect: resolved once, so clients never care which broker it is."""

    host: str
    port: int


class EmbeddedBrokerError(RuntimeError):
    """The embedded broker could not start (e.g. the configured port is taken)."""


def parse_mqtt_url(url: str) -> BrokerAddress | None:
    """Return the address of a real broker for `mqtt://host:port`, None for `embedded://`."""
    parts = urlsplit(url)
    if parts.scheme == EMBEDDED_SCHEME:
        return None
    if parts.scheme != "mqtt" or not parts.hostname:
        raise ValueError(f"MQTT_URL must be mqtt://host:port or embedded://, got {url!r}")
    return BrokerAddress(parts.hostname, parts.port or DEFAULT_MQTT_PORT)


def _quiet_amqtt() -> None:
    # amqtt logs every connection and packet at INFO/DEBUG; keep only what needs attention.
    for name in ("amqtt", "transitions"):
        logging.getLogger(name).setLevel(logging.WARNING)


class EmbeddedBroker:
    """An in-process amqtt 0.12.1 broker on 127.0.0.1; an async context manager.

    Port 0 lets the OS pick a free port: Mosquitto (or anything else) may already own 1883,
    so no fixed port is assumed. The actual port is read back from the listening socket.
    """

    def __init__(self, port: int = 0) -> None:
        self._port = port
        self._broker: Broker | None = None
        self._address: BrokerAddress | None = None

    @property
    def address(self) -> BrokerAddress:
        """The address clients connect to; only valid while the broker runs."""
        if self._address is None:
            raise RuntimeError("embedded broker is not running")
        return self._address

    @property
    def listening_on(self) -> list[tuple[str, int]]:
        """(host, port) of every listening socket, as the OS reports them."""
        if self._broker is None:
            return []
        found: list[tuple[str, int]] = []
        for server in self._broker._servers.values():  # amqtt exposes no public accessor
            for sock in getattr(server.instance, "sockets", None) or ():
                host, port = sock.getsockname()[:2]
                found.append((host, port))
        return found

    async def start(self) -> BrokerAddress:
        """Start listening; raises EmbeddedBrokerError when the port cannot be bound."""
        if self._address is not None:
            return self._address
        _quiet_amqtt()
        config: dict[str, Any] = {
            # amqtt binds 0.0.0.0 by default: the embedded broker must never be reachable
            # from the network, it has no authentication.
            "listeners": {"default": {"type": "tcp", "bind": f"{LOOPBACK}:{self._port}"}},
            # Only anonymous auth: amqtt refuses every client when no auth plugin answers.
            # The default $SYS and packet-logging plugins are left out (noise, extra tasks).
            "plugins": {_ANONYMOUS_AUTH: {"allow_anonymous": True}},
        }
        broker = Broker(config)
        try:
            await broker.start()
        except BrokerError as exc:
            raise EmbeddedBrokerError(f"embedded MQTT broker on port {self._port}: {exc}") from exc
        self._broker = broker
        sockets = self.listening_on
        if not sockets:
            await self.stop()
            raise EmbeddedBrokerError("embedded MQTT broker has no listening socket")
        self._address = BrokerAddress(LOOPBACK, sockets[0][1])
        return self._address

    async def stop(self) -> None:
        """Close the listener and every session; safe to call twice."""
        broker, self._broker, self._address = self._broker, None, None
        if broker is not None:
            # amqtt 0.12 can wait forever on a session it broke itself: give up after 5 s.
            try:
                await asyncio.wait_for(broker.shutdown(), SHUTDOWN_TIMEOUT_S)
            except TimeoutError:
                logging.getLogger("wuye.mqtt").warning("embedded broker shutdown timed out")

    async def __aenter__(self) -> EmbeddedBroker:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()


async def start_broker(
    url: str, embedded_port: int = 0
) -> tuple[BrokerAddress, EmbeddedBroker | None]:
    """Resolve MQTT_URL; for `embedded://` start a broker the caller must `stop()`."""
    address = parse_mqtt_url(url)
    if address is not None:
        return address, None
    broker = EmbeddedBroker(embedded_port)
    return await broker.start(), broker


@asynccontextmanager
async def open_broker(url: str, embedded_port: int = 0) -> AsyncIterator[BrokerAddress]:
    """`start_broker` as a context manager: an embedded broker stops when the block ends."""
    address, broker = await start_broker(url, embedded_port)
    try:
        yield address
    finally:
        if broker is not None:
            await broker.stop()


def mqtt_client(
    address: BrokerAddress,
    *,
    client_id: str | None = None,
    will: Will | None = None,
    timeout: float = 5.0,
) -> Client:
    """An aiomqtt client for `address`; use it as `async with mqtt_client(...) as client:`."""
    return Client(
        address.host,
        address.port,
        identifier=client_id,
        will=will,
        timeout=timeout,
    )


async def messages(client: Client, *topic_filters: str) -> AsyncGenerator[Message, None]:
    """Yield only the client's messages whose topic matches one of `topic_filters`.

    Always read through this, never `client.messages` directly: amqtt 0.12.1 sends a client,
    on connect, the retained messages matching *any* client's subscriptions, so a subscriber
    may receive topics it never subscribed to (another community's device states). A real
    broker never does, and filtering costs nothing there. One reader per client: every
    reader drains the same queue.
    """
    if not topic_filters:
        raise ValueError("messages() needs at least one topic filter")
    async for message in client.messages:
        if any(message.topic.matches(f) for f in topic_filters):
            yield message
