"""Gateway test helpers: a fake clock, a cuttable uplink, a running gateway, retained cleanup."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hardware_gateway.gateway import Gateway
from hardware_gateway.link import LinkAddress, client
from server.adapters.mqtt import BrokerAddress

WAIT_S = 3.0  # a guard against a hang, never a wait for time to pass


@dataclass
class FakeClock:
    """Unix seconds that move only when the test says so."""

    now: float

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def link_to(address: BrokerAddress) -> LinkAddress:
    return LinkAddress(address.host, address.port)


async def eventually(predicate: Callable[[], Any], timeout: float = WAIT_S) -> None:
    """Poll `predicate` every few milliseconds until it holds; fail after `timeout`."""
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.005)


async def eventually_async(
    predicate: Callable[[], Awaitable[Any]], timeout: float = WAIT_S
) -> None:
    """`eventually` for a predicate that must be awaited (a database query)."""
    async with asyncio.timeout(timeout):
        while not await predicate():
            await asyncio.sleep(0.01)


class LinkProxy:
    """A TCP relay to a broker that a test can cut and restore, like a site's uplink.

    Cut, it drops every live connection and stops listening, so a client's reconnect is
    refused at once (as when the link is down) instead of waiting for a timeout. Restored, it
    listens on the same port again. Works the same for amqtt and Mosquitto.
    """

    def __init__(self, target: LinkAddress) -> None:
        self.target = target
        self.port = 0
        self._writers: set[asyncio.StreamWriter] = set()
        self._server: asyncio.Server | None = None

    async def start(self) -> LinkAddress:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return LinkAddress("127.0.0.1", self.port)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(self.target.host, self.target.port)
        except OSError:
            writer.transport.abort()
            return
        self._writers |= {writer, up_writer}

        async def pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            try:
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                sink.transport.abort()

        await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))
        self._writers -= {writer, up_writer}

    def cut(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()

    async def restore(self) -> None:
        await self.start()

    async def stop(self) -> None:
        self.cut()


@contextlib.asynccontextmanager
async def running(gateway: Gateway, *, upstream: bool = True) -> AsyncIterator[Gateway]:
    """Run `gateway` in the background; ready once its links are subscribed."""
    stop = asyncio.Event()
    task = asyncio.create_task(gateway.run(stop))
    try:
        async with asyncio.timeout(WAIT_S):
            await gateway.devices_ready.wait()
            if upstream:
                await gateway.upstream_ready.wait()
        yield gateway
    finally:
        stop.set()
        await task


def new_gateway(
    community: str,
    devices: LinkAddress,
    upstream: LinkAddress | None,
    state_dir: Path,
    **options: Any,
) -> Gateway:
    """A gateway with a unique id (tests may share a broker) and quick reconnects."""
    defaults: dict[str, Any] = {
        "gateway_id": f"gw-{uuid.uuid4().hex[:10]}",
        "reconnect_s": 0.05,
        "ack_timeout_s": 1.0,
    }
    return Gateway(
        community,
        devices=devices,
        upstream=upstream,
        state_dir=state_dir,
        **{**defaults, **options},
    )


async def clear_retained(address: LinkAddress, topics: list[str]) -> None:
    """An empty retained payload deletes a retained message (MQTT 3.1.1 §3.3.1.3)."""
    async with client(address, client_id=f"cleanup-{uuid.uuid4().hex[:8]}") as cleaner:
        for topic in topics:
            await cleaner.publish(topic, b"", qos=1, retain=True)


async def bounded(step: Awaitable[Any], seconds: float = 10.0) -> None:
    """Run a clean-up step for at most `seconds`: a stuck MQTT disconnect must not hang the run."""
    try:
        await asyncio.wait_for(step, seconds)
    except TimeoutError:
        logging.getLogger("tests.gateway").warning("clean-up step timed out after %s s", seconds)
