"""The on-site gateway: answers device requests from the synced policy, online or not.

Two MQTT links: the *device* link (the site broker the gates, doors, elevators and fire panel
use) and the *upstream* link (the server's broker: policy in, commands in, events and
heartbeats out). They may be the same broker. When upstream is gone the gateway goes on
deciding from the policy on disk and buffers events; when it is back the buffer is uploaded
and only dropped once the server confirms storing it (docs/gateway.md).

Fire (GB 55024-2022 §5.3.6, GB 50116 §4.10.3): an active fire signal releases every door and
gate at once and answers every request `emergency`; the override is latched (on disk) until
every panel is clear AND a person sends `restore`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections import Counter, OrderedDict
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from hardware_gateway import link
from hardware_gateway.link import LinkAddress, MqttError, Will
from hardware_gateway.messages import (
    ALL_DEVICES,
    MAX_POLICY_BYTES,
    Command,
    MessageError,
    load_object,
    parse_ack,
    parse_command,
    parse_events_ack,
    parse_fire,
    parse_request,
    parse_state,
)
from hardware_gateway.policy import (
    DOOR_KINDS,
    AccessRequest,
    Decision,
    Policy,
    PolicyError,
    apply_delta,
    decide,
)
from hardware_gateway.store import Store
from hardware_gateway.sync_topics import SyncKind, SyncTopics, check_gateway_id
from hardware_gateway.topics import DEFAULT as DEFAULT_TOPICS
from hardware_gateway.topics import Kind, Topics

log = logging.getLogger("wuye.gateway")

Clock = Callable[[], float]
FIRE_COMMAND_TTL_S = 300.0  # a door that reconnects within 5 min still takes the release
RECENT_REQUESTS = 1024  # request ids remembered to answer a QoS 1 duplicate without a new event
NOT_DOORS = frozenset({"elevator", "fire_panel"})


class Gateway:
    """One community's gateway; `await Gateway(...).run(stop)` until `stop` is set."""

    def __init__(
        self,
        community: str,
        *,
        devices: LinkAddress,
        upstream: LinkAddress | None,
        state_dir: Path,
        gateway_id: str | None = None,
        topics: Topics = DEFAULT_TOPICS,
        sync: SyncTopics | None = None,
        clock: Clock = time.time,
        heartbeat_s: float = 30.0,
        reconnect_s: float = 2.0,
        ack_timeout_s: float = 5.0,
        upload_batch: int = 200,
        command_ttl_s: float = FIRE_COMMAND_TTL_S,
    ) -> None:
        self.community = community
        self.gateway_id = check_gateway_id(gateway_id or f"gw-{community}")
        self.devices = devices
        self.upstream = upstream
        self.topics = topics
        self.sync = sync or SyncTopics(topics.prefix)
        self.clock = clock
        self.heartbeat_s = heartbeat_s
        self.reconnect_s = reconnect_s
        self.ack_timeout_s = ack_timeout_s
        self.upload_batch = upload_batch
        self.command_ttl_s = command_ttl_s
        self.store = Store(state_dir)
        self.policy = self._load_policy()
        self.fire_panels: set[str] = set(self.store.get_flag("fire_panels", []))
        self.fire_latched: bool = bool(self.store.get_flag("fire_latched", False))
        self.device_kinds: dict[str, str] = {}
        self.device_online: dict[str, bool] = {}
        self.rejected: Counter[str] = Counter()
        self.devices_ready = asyncio.Event()
        self.upstream_ready = asyncio.Event()
        self._requesters: set[str] = set()
        self._recent: OrderedDict[tuple[str, str], dict[str, Any]] = OrderedDict()
        self._sent: dict[str, str] = {}  # command_id -> action, to describe acks
        self._device_client: link.Client | None = None
        self._upstream_client: link.Client | None = None
        self._acks: dict[str, asyncio.Future[None]] = {}
        self._wakeup = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()

    # ---- state for heartbeats and tests ------------------------------------------------------

    @property
    def fire_active(self) -> bool:
        """True from the first fire signal until all panels clear and a person restores."""
        return self.fire_latched or bool(self.fire_panels)

    @property
    def policy_version(self) -> int | None:
        return None if self.policy is None else self.policy.version

    def buffered_events(self) -> int:
        return self.store.event_count()

    def door_devices(self) -> list[str]:
        """Every door and gate known from the policy, the devices' own states, or requests."""
        kinds: dict[str, str] = {}
        if self.policy is not None:
            kinds.update({d: info.kind for d, info in self.policy.devices.items()})
        kinds.update({d: k for d, k in self.device_kinds.items() if k})
        doors = {d for d, k in kinds.items() if k in DOOR_KINDS}
        # A device that asks for entry but whose kind nobody told us is treated as a door:
        # releasing one too many beats keeping one shut in a fire.
        doors |= {d for d in self._requesters if kinds.get(d) not in NOT_DOORS}
        return sorted(doors)

    def _load_policy(self) -> Policy | None:
        data = self.store.load_policy()
        if data is None:
            return None
        try:
            return Policy.from_snapshot(data)
        except PolicyError as exc:
            log.error("saved policy is unusable (%s): starting without one", exc)
            return None

    # ---- run ---------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Keep both links up (reconnecting as needed) until `stop` is set."""
        tasks = [asyncio.create_task(self._device_link(), name=f"{self.gateway_id}-devices")]
        # Devices first: they are what matters on site. Connecting the two links one after the
        # other also avoids an amqtt 0.12.1 race (a SUBSCRIBE while another client connects
        # crashes the connecting session: "dictionary changed size during iteration").
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.devices_ready.wait(), self.reconnect_s + 1.0)
        if self.upstream is not None:
            tasks.append(asyncio.create_task(self._upstream_link(), name=f"{self.gateway_id}-up"))
        try:
            await stop.wait()
        finally:
            if self._upstream_client is not None:
                with contextlib.suppress(Exception):
                    await self._publish_state(self._upstream_client, online=False, timeout=1.0)
            await link.cancel_and_wait([*tasks, *self._tasks])
            self.store.close()

    async def _pause(self) -> None:
        await asyncio.sleep(self.reconnect_s)

    # ---- device link -------------------------------------------------------------------------

    async def _device_link(self) -> None:
        c = self.community
        filters = [
            self.topics.all_device_requests(c),
            self.topics.all_device_acks(c),
            self.topics.all_device_states(c),
            self.topics.all_fires(c),
        ]
        while True:
            try:
                async with link.client(self.devices, client_id=f"{self.gateway_id}-dev") as client:
                    await client.subscribe([(f, 1) for f in filters])
                    self._device_client = client
                    self.devices_ready.set()
                    log.info("device link up: %r", self.devices)
                    if self.fire_active:
                        await self._send_to_doors("release", reason="fire_resume")
                    async for message in link.filtered(client, filters):
                        await self._on_device_message(message)
            except MqttError as exc:
                log.warning("device link down (%s), retrying in %.1f s", exc, self.reconnect_s)
            finally:
                self._device_client = None
                self.devices_ready.clear()
            await self._pause()

    async def _on_device_message(self, message: link.Message) -> None:
        topic = str(message.topic)
        try:
            parts = self.topics.parse(topic)
            if parts.community != self.community:
                raise MessageError(f"community {parts.community!r} is not ours")
            match parts.kind:
                case Kind.REQUEST:
                    await self._on_request(parse_request(message.payload, parts.id))
                case Kind.ACK:
                    self._on_ack(parts.id, *parse_ack(message.payload))
                case Kind.STATE:
                    await self._on_state(parts.id, message.payload)
                case Kind.FIRE if message.payload:  # empty = a retained signal being cleared
                    await self._on_fire(parts.id, parse_fire(message.payload))
        except MqttError:
            raise
        except (MessageError, ValueError) as exc:
            self._reject(topic, exc)
        except Exception:  # one bad message must never stop the site's doors
            log.exception("error handling %s", topic)

    def _reject(self, topic: str, exc: Exception) -> None:
        self.rejected[type(exc).__name__] += 1
        log.warning("rejected message on %s: %s", topic, exc)

    async def _on_request(self, request: AccessRequest) -> None:
        key = (request.device_id, request.request_id)
        topic = self.topics.device_decision(self.community, request.device_id)
        repeated = self._recent.get(key)
        if repeated is not None:  # a QoS 1 duplicate: same answer, no second event
            await self._publish_device(topic, repeated)
            return
        now = self.clock()
        decision = decide(request, self.policy, now, fire=self.fire_active)
        body = decision.payload(now)
        await self._publish_device(topic, body)
        self._recent[key] = body
        if len(self._recent) > RECENT_REQUESTS:
            self._recent.popitem(last=False)
        self._requesters.add(request.device_id)
        self._record_decision(request, decision)

    def _record_decision(self, request: AccessRequest, decision: Decision) -> None:
        credential = request.credential
        if credential.type == "plate":
            kind = "plate_seen"
        else:
            kind = "door_opened" if decision.allow else "access_refused"
        self.record(
            kind,
            device_id=request.device_id,
            request_id=request.request_id,
            credential_type=credential.type,
            credential=credential.value,
            allow=decision.allow,
            mode=decision.mode,
            reason=decision.reason,
            **({"floor": request.floor} if request.floor is not None else {}),
        )

    def _on_ack(self, device_id: str, command_id: str, ok: bool) -> None:
        self.record(
            "command_ack",
            device_id=device_id,
            command_id=command_id,
            action=self._sent.get(command_id, ""),
            ok=ok,
        )

    async def _on_state(self, device_id: str, payload: Any) -> None:
        state = parse_state(payload)
        if state is None:
            return
        if state.kind:
            self.device_kinds[device_id] = state.kind
        previous = self.device_online.get(device_id)
        self.device_online[device_id] = state.online
        if previous is not None and previous != state.online:
            self.record("device_online" if state.online else "device_offline", device_id=device_id)
        if state.online and self.fire_active and device_id in self.door_devices():
            # A door that comes (back) online during a fire gets the release too.
            await self._send_to_doors("release", reason="fire_resume", only=[device_id])

    async def _on_fire(self, panel_id: str, active: bool) -> None:
        if active:
            self.fire_panels.add(panel_id)
            self.fire_latched = True
            self._save_fire()
            self.record("fire_alarm", device_id=panel_id)
            await self._send_to_doors("release", reason="fire")
        elif panel_id in self.fire_panels:
            self.fire_panels.discard(panel_id)
            self._save_fire()
            # Clearing alone does not restore: a person checks the site, then sends `restore`.
            self.record("fire_cleared", device_id=panel_id)

    def _save_fire(self) -> None:
        self.store.set_flag("fire_panels", sorted(self.fire_panels))
        self.store.set_flag("fire_latched", self.fire_latched)

    async def _send_to_doors(
        self,
        action: str,
        *,
        reason: str,
        only: list[str] | None = None,
        command_id: str | None = None,
    ) -> None:
        """Send `action` to every door and gate at once (fire release, restore)."""
        targets = only if only is not None else self.door_devices()
        now = self.clock()

        async def one(device_id: str) -> None:
            cid = command_id or f"{reason}-{uuid.uuid4().hex[:16]}"
            await self._command_device(device_id, cid, action, now + self.command_ttl_s, reason)

        results = await asyncio.gather(*(one(d) for d in targets), return_exceptions=True)
        for device_id, result in zip(targets, results, strict=True):
            if isinstance(result, BaseException):
                log.error("%s to %s failed: %s", action, device_id, result)

    async def _command_device(
        self, device_id: str, command_id: str, action: str, expires_at: float, reason: str
    ) -> None:
        body = {
            "command_id": command_id,
            "action": action,
            "expires_at": expires_at,
            "ts": self.clock(),
        }
        try:
            await self._publish_device(self.topics.device_command(self.community, device_id), body)
        except (MqttError, ConnectionError) as exc:
            self.record(
                "command_failed",
                device_id=device_id,
                command_id=command_id,
                action=action,
                reason="devices_unreachable",
            )
            raise ConnectionError(str(exc)) from exc
        self._sent[command_id] = action
        if len(self._sent) > RECENT_REQUESTS:
            self._sent.pop(next(iter(self._sent)))
        self.record(
            "command_sent", device_id=device_id, command_id=command_id, action=action, reason=reason
        )

    async def _publish_device(self, topic: str, body: dict[str, Any]) -> None:
        client = self._device_client
        if client is None:
            raise ConnectionError("device link is down")
        await client.publish(topic, json.dumps(body, ensure_ascii=False), qos=1)

    # ---- upstream link -----------------------------------------------------------------------

    async def _upstream_link(self) -> None:
        assert self.upstream is not None
        c = self.community
        filters = [
            self.sync.policy(c),
            self.sync.policy_delta(c),
            self.sync.commands(c),
            self.sync.events_ack(c, self.gateway_id),
        ]
        will = Will(
            self.sync.state(c, self.gateway_id),
            json.dumps({"online": False, "gateway_id": self.gateway_id}),
            qos=1,
            retain=True,
        )
        while True:
            helpers: list[asyncio.Task[None]] = []
            try:
                async with link.client(
                    self.upstream, client_id=f"{self.gateway_id}-up", will=will
                ) as client:
                    await client.subscribe([(f, 1) for f in filters])
                    self._upstream_client = client
                    self.upstream_ready.set()
                    log.info("upstream link up: %r", self.upstream)
                    await self._publish_state(client)
                    helpers = [
                        asyncio.create_task(self._uploader(client)),
                        asyncio.create_task(self._heartbeats(client)),
                    ]
                    async for message in link.filtered(client, filters):
                        await self._on_upstream_message(message)
            except MqttError as exc:
                log.warning("upstream link down (%s): deciding from the saved policy", exc)
            finally:
                self._upstream_client = None
                self.upstream_ready.clear()
                await link.cancel_and_wait(helpers)
                for future in self._acks.values():
                    future.cancel()
                self._acks.clear()
            await self._pause()

    async def _on_upstream_message(self, message: link.Message) -> None:
        topic = str(message.topic)
        try:
            parts = self.sync.parse(topic)
            if parts.community != self.community:
                raise MessageError(f"community {parts.community!r} is not ours")
            match parts.kind:
                case SyncKind.POLICY:
                    await self._on_snapshot(message.payload)
                case SyncKind.DELTA:
                    await self._on_delta(message.payload)
                case SyncKind.COMMANDS:
                    await self._on_command(parse_command(message.payload))
                case SyncKind.EVENTS_ACK:
                    future = self._acks.get(parse_events_ack(message.payload))
                    if future is not None and not future.done():
                        future.set_result(None)
        except MqttError:
            raise
        except (MessageError, PolicyError, ValueError) as exc:
            self._reject(topic, exc)
        except Exception:
            log.exception("error handling %s", topic)

    async def _on_snapshot(self, payload: Any) -> None:
        if payload in (b"", None):
            return  # retained snapshot cleared: keep deciding from what we have
        policy = Policy.from_snapshot(load_object(payload, MAX_POLICY_BYTES))
        await self._adopt(policy)

    async def _on_delta(self, payload: Any) -> None:
        if payload in (b"", None) or self.policy is None:
            return  # without a base, only a full snapshot helps; it is retained too
        delta = load_object(payload, MAX_POLICY_BYTES)
        if delta.get("base_version") != self.policy.version:
            log.info(
                "delta %s does not follow version %s: waiting for the snapshot",
                delta.get("version"),
                self.policy.version,
            )
            return
        await self._adopt(Policy.from_snapshot(apply_delta(self.policy.data, delta)))

    async def _adopt(self, policy: Policy) -> None:
        if policy.community != self.community:
            raise PolicyError(f"policy is for {policy.community!r}")
        if self.policy is not None and policy.version <= self.policy.version:
            return  # the delta already brought this version, or it is an old one
        self.policy = policy
        await asyncio.to_thread(self.store.save_policy, dict(policy.data))
        log.info("policy version %s in force", policy.version)
        if self._upstream_client is not None:
            # Not awaited: waiting for the PUBACK here would keep this reader from noticing
            # a dropped link (aiomqtt waits out its timeout on a pending publish).
            self._background(self._publish_state(self._upstream_client))

    async def _on_command(self, command: Command) -> None:
        now = self.clock()
        if not self.store.remember_command(command.command_id, command.expires_at, now):
            log.info("duplicate command %s ignored", command.command_id)
            return
        base = {
            "command_id": command.command_id,
            "action": command.action,
            "issued_by": command.issued_by,
        }
        if command.expires_at <= now:
            self.record("command_expired", device_id=command.device_id, **base)
            return
        if command.action == "restore" and self.fire_active:
            await self._restore(command, base)
            return
        if self.fire_active and command.action == "close":
            self.record("command_refused", device_id=command.device_id, reason="fire", **base)
            return
        targets = self.door_devices() if command.device_id == ALL_DEVICES else [command.device_id]
        for device_id in targets:
            try:
                await self._command_device(
                    device_id, command.command_id, command.action, command.expires_at, "server"
                )
            except ConnectionError:
                log.warning("command %s for %s not delivered", command.command_id, device_id)

    async def _restore(self, command: Command, base: dict[str, Any]) -> None:
        if self.fire_panels:
            self.record(
                "restore_refused",
                reason="alarm_active",
                detail_panels=sorted(self.fire_panels),
                **base,
            )
            return
        self.fire_latched = False
        self._save_fire()
        self.record("fire_restored", **base)
        await self._send_to_doors("restore", reason="restore")

    async def _publish_state(
        self, client: link.Client, *, online: bool = True, timeout: float | None = None
    ) -> None:
        body = {
            "online": online,
            "gateway_id": self.gateway_id,
            "policy_version": self.policy_version,
            "fire": self.fire_active,
            "fire_panels": sorted(self.fire_panels),
            "buffered_events": self.buffered_events(),
            "devices": dict(sorted(self.device_online.items())),
            "rejected": sum(self.rejected.values()),
            "ts": self.clock(),
        }
        await client.publish(
            self.sync.state(self.community, self.gateway_id),
            json.dumps(body),
            qos=1,
            retain=True,
            timeout=timeout,
        )

    def _background(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("background publish failed: %r", task.exception())

    async def _heartbeats(self, client: link.Client) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_s)
            try:
                await self._publish_state(client)
            except MqttError as exc:
                log.warning("heartbeat not sent: %s", exc)

    # ---- events ------------------------------------------------------------------------------

    def record(self, kind: str, **fields: Any) -> None:
        """Buffer one site event on disk; the uploader sends it when upstream is reachable."""
        event = {"event_id": uuid.uuid4().hex, "kind": kind, "at": self.clock(), **fields}
        self.store.append_event(event)
        self._wakeup.set()

    async def _uploader(self, client: link.Client) -> None:
        topic = self.sync.events(self.community, self.gateway_id)
        while True:
            batch = self.store.pending_events(self.upload_batch)
            if not batch:
                await self._wakeup.wait()
                self._wakeup.clear()
                continue
            batch_id = uuid.uuid4().hex
            future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._acks[batch_id] = future
            body = {
                "batch_id": batch_id,
                "gateway_id": self.gateway_id,
                "events": [event for _, event in batch],
                "ts": self.clock(),
            }
            try:
                await client.publish(topic, json.dumps(body, ensure_ascii=False), qos=1)
                await asyncio.wait_for(future, self.ack_timeout_s)
            except (TimeoutError, MqttError) as exc:
                log.warning("server did not confirm %d events (%r), will resend", len(batch), exc)
                await self._pause()
                continue
            finally:
                self._acks.pop(batch_id, None)
            self.store.drop_events([seq for seq, _ in batch])
