"""Device simulators speaking the CONTRACT.md device topics: gate, door, elevator, fire panel.

Tests drive them (`await gate.see_plate(...)` returns the gateway's decision) and `make run`
starts one per demo device so the site looks alive. Like real controllers they announce a
retained `state`, execute each command once (by `command_id`), refuse expired commands and
ack every command they receive.

`python -m hardware_gateway.simulators --mqtt-url URL --community C request DEVICE TYPE VALUE`
sends one request and prints the decision; `... fire PANEL on|off` raises or clears an alarm;
`... restore --issued-by staff:ID` ends a fire override once every panel is clear.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
import uuid
from collections.abc import Callable
from types import TracebackType
from typing import Any, Self

from hardware_gateway import link
from hardware_gateway.link import LinkAddress, MqttError, Will
from hardware_gateway.sync_topics import SyncTopics
from hardware_gateway.topics import DEFAULT as DEFAULT_TOPICS
from hardware_gateway.topics import Topics

Clock = Callable[[], float]
WAIT_S = 2.0  # a guard against a hang; every answer here comes in milliseconds


class SimulatedDevice:
    """A controller on the site broker; subclasses name the kind and the reader it has."""

    kind = "device"

    def __init__(
        self,
        address: LinkAddress,
        community: str,
        device_id: str,
        *,
        topics: Topics = DEFAULT_TOPICS,
        clock: Clock = time.time,
        building: str = "",
        unit: str = "",
        ack_ok: bool = True,
    ) -> None:
        self.address = address
        self.community = community
        self.device_id = device_id
        self.topics = topics
        self.clock = clock
        self.building = building
        self.unit = unit
        self.ack_ok = ack_ok
        self.position = "closed"  # closed, open or released (held open by a fire release)
        self.received: list[dict[str, Any]] = []  # every command message, duplicates included
        self.executed: list[dict[str, Any]] = []  # commands carried out, once each
        self.refused: list[dict[str, Any]] = []  # expired commands, never carried out
        self.decisions: list[dict[str, Any]] = []
        self._seen: set[str] = set()
        self._waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._changed = asyncio.Event()
        self._client: link.Client | None = None
        self._stack: contextlib.AsyncExitStack | None = None
        self._reader: asyncio.Task[None] | None = None

    # ---- lifecycle ---------------------------------------------------------------------------

    def _state(self, online: bool) -> str:
        return json.dumps(
            {
                "online": online,
                "kind": self.kind,
                "building": self.building,
                "unit": self.unit,
                "ts": self.clock(),
            }
        )

    def _filters(self) -> list[str]:
        c, d = self.community, self.device_id
        return [self.topics.device_decision(c, d), self.topics.device_command(c, d)]

    async def start(self) -> None:
        """Connect, subscribe, announce `online` (retained), and start reading."""
        state_topic = self.topics.device_state(self.community, self.device_id)
        will = Will(state_topic, self._state(False), qos=1, retain=True)
        stack = contextlib.AsyncExitStack()
        client = await stack.enter_async_context(
            link.client(
                self.address, client_id=f"sim-{self.topics.prefix}-{self.device_id}", will=will
            )
        )
        await client.subscribe([(f, 1) for f in self._filters()])
        await client.publish(state_topic, self._state(True), qos=1, retain=True)
        self._client, self._stack = client, stack
        self._reader = asyncio.create_task(self._read(client))

    async def stop(self) -> None:
        """Announce `offline` (retained) and disconnect."""
        if self._client is not None:
            with contextlib.suppress(MqttError):
                await self._client.publish(
                    self.topics.device_state(self.community, self.device_id),
                    self._state(False),
                    qos=1,
                    retain=True,
                )
        if self._reader is not None:
            await link.cancel_and_wait([self._reader])
        if self._stack is not None:
            with contextlib.suppress(MqttError):
                await self._stack.aclose()
        self._client = self._stack = self._reader = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def client(self) -> link.Client:
        if self._client is None:
            raise RuntimeError(f"simulator {self.device_id} is not started")
        return self._client

    # ---- what the device does ----------------------------------------------------------------

    async def request(
        self,
        credential_type: str,
        value: str,
        *,
        floor: int | None = None,
        timeout: float = WAIT_S,
    ) -> dict[str, Any]:
        """Present a credential; return the gateway's decision (TimeoutError if none comes)."""
        request_id = uuid.uuid4().hex
        body: dict[str, Any] = {
            "request_id": request_id,
            "credential": {"type": credential_type, "value": value},
            "ts": self.clock(),
        }
        if floor is not None:
            body["floor"] = floor
        return await self.send_raw(json.dumps(body, ensure_ascii=False), request_id, timeout)

    async def send_raw(
        self, payload: str | bytes, request_id: str, timeout: float = WAIT_S
    ) -> dict[str, Any]:
        """Publish any payload on the request topic and wait for the decision to `request_id`."""
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[request_id] = future
        try:
            await self.client.publish(
                self.topics.device_request(self.community, self.device_id), payload, qos=1
            )
            async with asyncio.timeout(timeout):
                return await future
        finally:
            self._waiting.pop(request_id, None)

    async def wait_until(self, predicate: Callable[[], bool], timeout: float = WAIT_S) -> None:
        """Wait (bounded) until `predicate()` holds after some command arrives."""
        async with asyncio.timeout(timeout):
            while True:
                self._changed.clear()
                if predicate():
                    return
                await self._changed.wait()

    async def _read(self, client: link.Client) -> None:
        with contextlib.suppress(MqttError):  # broker gone: a simulator just falls silent
            await self._read_messages(client)

    async def _read_messages(self, client: link.Client) -> None:
        decision_topic, command_topic = self._filters()
        async for message in link.filtered(client, self._filters()):
            try:
                body = json.loads(message.payload)
            except (TypeError, ValueError):
                continue
            if message.topic.matches(decision_topic):
                self.decisions.append(body)
                future = self._waiting.get(body.get("request_id"))
                if future is not None and not future.done():
                    future.set_result(body)
            elif message.topic.matches(command_topic):
                await self._on_command(client, body)
            self._changed.set()

    async def _on_command(self, client: link.Client, body: dict[str, Any]) -> None:
        self.received.append(body)
        command_id = str(body.get("command_id", ""))
        ok = self.ack_ok
        if command_id in self._seen:
            pass  # QoS 1 duplicate: acknowledged again, carried out once
        elif float(body.get("expires_at", 0)) <= self.clock():
            self.refused.append(body)
            ok = False
        else:
            self._seen.add(command_id)
            self.executed.append(body)
            self.position = {
                "open": "open",
                "close": "closed",
                "release": "released",
                "restore": "closed",
            }.get(str(body.get("action")), self.position)
        await client.publish(
            self.topics.device_ack(self.community, self.device_id),
            json.dumps({"command_id": command_id, "ok": ok, "ts": self.clock()}),
            qos=1,
        )


class VehicleGate(SimulatedDevice):
    """A barrier with a plate camera."""

    kind = "vehicle_gate"

    async def see_plate(self, plate: str) -> dict[str, Any]:
        return await self.request("plate", plate)


class UnitDoor(SimulatedDevice):
    """A building unit's door with a card and QR reader."""

    kind = "unit_door"

    async def swipe_card(self, card: str) -> dict[str, Any]:
        return await self.request("card", card)

    async def scan_qr(self, token: str) -> dict[str, Any]:
        return await self.request("qr", token)


class Elevator(SimulatedDevice):
    """An elevator card reader: the decision's `floors` are the buttons it unlocks."""

    kind = "elevator"

    async def swipe_card(self, card: str, floor: int | None = None) -> dict[str, Any]:
        return await self.request("card", card, floor=floor)


class FirePanel(SimulatedDevice):
    """The fire alarm panel: publishes `fire/{panel_id}` retained, so a late gateway learns it."""

    kind = "fire_panel"

    async def _signal(self, active: bool) -> None:
        await self.client.publish(
            self.topics.fire(self.community, self.device_id),
            json.dumps({"active": active, "ts": self.clock()}),
            qos=1,
            retain=True,
        )

    async def alarm(self) -> None:
        await self._signal(True)

    async def clear(self) -> None:
        await self._signal(False)


KINDS: dict[str, type[SimulatedDevice]] = {
    cls.kind: cls for cls in (VehicleGate, UnitDoor, Elevator, FirePanel)
}


def simulator_for(
    address: LinkAddress, community: str, device: dict[str, str], **options: Any
) -> SimulatedDevice:
    """A simulator for a device row `{"device_id", "kind", "building", "unit"}`."""
    cls = KINDS.get(device.get("kind", ""), SimulatedDevice)
    return cls(
        address,
        community,
        device["device_id"],
        building=device.get("building", ""),
        unit=device.get("unit", ""),
        **options,
    )


async def start_site(
    address: LinkAddress, community: str, devices: list[dict[str, str]], **options: Any
) -> list[SimulatedDevice]:
    """Start a simulator per device (what `make run` does for the demo estate)."""
    started = []
    for device in devices:
        simulator = simulator_for(address, community, device, **options)
        await simulator.start()
        started.append(simulator)
    return started


# ---- command line ---------------------------------------------------------------------------


async def _cli(args: argparse.Namespace) -> int:
    address = link.parse_url(args.mqtt_url)
    topics = Topics(args.prefix)
    if args.action == "request":
        async with SimulatedDevice(address, args.community, args.device, topics=topics) as dev:
            decision = await dev.request(args.type, args.value, floor=args.floor)
        print(json.dumps(decision, ensure_ascii=False))
        return 0
    if args.action == "restore":
        # What the console sends once a person has checked the site after a fire.
        command = {
            "command_id": uuid.uuid4().hex,
            "device_id": "*",
            "action": "restore",
            "expires_at": time.time() + 60,
            "issued_by": args.issued_by,
            "ts": time.time(),
        }
        async with link.client(address, client_id=f"restore-{uuid.uuid4().hex[:8]}") as sender:
            await sender.publish(
                SyncTopics(args.prefix).commands(args.community), json.dumps(command), qos=1
            )
        return 0
    async with FirePanel(address, args.community, args.device, topics=topics) as panel:
        await (panel.alarm() if args.state == "on" else panel.clear())
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hardware_gateway.simulators")
    parser.add_argument("--mqtt-url", required=True, help="mqtt://[user:pass@]host:port")
    parser.add_argument("--community", required=True)
    parser.add_argument("--prefix", default=DEFAULT_TOPICS.prefix)
    sub = parser.add_subparsers(dest="action", required=True)
    request = sub.add_parser("request", help="present a credential at a device")
    request.add_argument("device")
    request.add_argument("type", choices=["plate", "card", "qr", "face"])
    request.add_argument("value")
    request.add_argument("--floor", type=int)
    fire = sub.add_parser("fire", help="raise or clear a fire alarm")
    fire.add_argument("device", help="panel id")
    fire.add_argument("state", choices=["on", "off"])
    restore = sub.add_parser("restore", help="end a fire override (after every panel is clear)")
    restore.add_argument("--issued-by", required=True, help="who checked the site, e.g. staff:12")
    return asyncio.run(_cli(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
