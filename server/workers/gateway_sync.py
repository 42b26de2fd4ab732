"""Server side of gateway sync: publish each community's policy, take in events and heartbeats.

Any action that changes who may enter (payment, roster import, visitor pass, card) calls
`request_policy_sync` after commit; this loop pops the Redis queue (BLPOP: no polling delay),
rebuilds the snapshot, and publishes a retained delta then a retained snapshot with a new,
increasing version (docs/gateway.md). A Redis lock per community keeps versions in order when
several workers run; a periodic refresh (one worker per period) catches changes made without
a request, e.g. a roster import from the command line.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hardware_gateway.link import cancel_and_wait
from hardware_gateway.messages import MAX_DEVICE_BYTES, MessageError, load_object, parse_event_batch
from hardware_gateway.policy import diff
from hardware_gateway.sync_topics import SyncKind, SyncTopics
from hardware_gateway.topics import DEFAULT_PREFIX
from server.actions.gateway_events import ingest_events
from server.actions.gateway_policy import DIRTY_KEY, build_policy
from server.adapters.mqtt import BrokerAddress, Client, messages, mqtt_client, parse_mqtt_url
from server.db.estate import Community, Device
from server.services import Services

log = logging.getLogger("wuye.gateway_sync")

LOCK_MS = 10_000
POP_TIMEOUT_S = 0.5
RECONNECT_S = 1.0
STATE_TTL_S = 7 * 86_400
_UNVERSIONED = ("version", "issued_at")
# Delete the lock only if it is still ours (it may have expired and been taken by another).
_RELEASE = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"
)


class PolicyBusy(Exception):
    """Another worker is publishing this community's policy right now."""


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _content(snapshot: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in snapshot.items() if k not in _UNVERSIONED}


class GatewaySync:
    """One MQTT connection that publishes policies and commands and ingests gateway traffic."""

    def __init__(
        self,
        services: Services,
        address: BrokerAddress,
        *,
        topics: SyncTopics | None = None,
        refresh_s: float = 15.0,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.services = services
        self.address = address
        self.topics = topics or SyncTopics()
        self.refresh_s = refresh_s
        self.clock = clock
        self.ready = asyncio.Event()
        self._client: Client | None = None
        self._owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"

    @property
    def _prefix(self) -> str:
        return self.services.settings.redis_prefix

    # ---- run ---------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Stay connected (reconnecting after a broker outage) until `stop` is set."""
        while not stop.is_set():
            try:
                async with mqtt_client(
                    self.address, client_id=f"wuye-sync-{self._owner}"
                ) as client:
                    await client.subscribe(
                        [(self.topics.all_events(), 1), (self.topics.all_states(), 1)]
                    )
                    self._client = client
                    await self._republish(client)
                    self.ready.set()
                    await self._serve(client, stop)
            except Exception as exc:  # broker gone, DB hiccup: reconnect, never die
                log.warning("gateway sync interrupted (%r), reconnecting", exc)
            finally:
                self._client = None
                self.ready.clear()
            if not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), RECONNECT_S)

    async def _republish(self, client: Client) -> None:
        """Publish every known snapshot again (retained) on each connect.

        A broker restarted without persistence has lost its retained policies; a gateway that
        starts after that would find none. Same version: gateways that have it ignore it.
        """
        redis = self.services.redis
        for code in await Community.all().values_list("code", flat=True):
            raw = await redis.get(f"{self._prefix}gateway:snapshot:{code}")
            if raw:
                await client.publish(self.topics.policy(str(code)), raw, qos=1, retain=True)

    async def _serve(self, client: Client, stop: asyncio.Event) -> None:
        tasks = [
            asyncio.create_task(self._read(client)),
            asyncio.create_task(self._consume(stop)),
            asyncio.create_task(self._refresh(stop)),
            asyncio.create_task(stop.wait()),
        ]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()  # re-raise what broke the connection
        finally:
            await cancel_and_wait(tasks)

    async def _connected(self) -> Client:
        if self._client is None:
            async with asyncio.timeout(5):
                await self.ready.wait()
        assert self._client is not None
        return self._client

    # ---- policy ------------------------------------------------------------------------------

    async def publish_policy(self, community_code: str) -> int | None:
        """Rebuild and publish one community's policy; its version, None if no such community.

        Publishes nothing when the content did not change. Raises PolicyBusy when another
        worker holds this community's lock (the caller queues it again).
        """
        client = await self._connected()
        redis = self.services.redis
        lock, token = f"{self._prefix}gateway:lock:{community_code}", uuid.uuid4().hex
        if not await redis.set(lock, token, nx=True, px=LOCK_MS):
            raise PolicyBusy(community_code)
        try:
            community = await Community.get_or_none(code=community_code)
            if community is None:
                return None
            now = self.clock()
            body = json.loads(
                json.dumps(
                    await build_policy(
                        community,
                        secret_key=self.services.settings.secret_key,
                        tz_name=self.services.settings.tz_name,
                        now=now,
                    )
                )
            )
            key = f"{self._prefix}gateway:snapshot:{community_code}"
            raw = await redis.get(key)
            previous = json.loads(raw) if raw else None
            if previous is not None and _content(previous) == body:
                return int(previous["version"])
            # Milliseconds since the epoch, and always above the last one: a restarted worker
            # (or a wiped Redis) still publishes versions the gateways accept as newer.
            version = max(
                int(now.timestamp() * 1000), int(previous["version"]) + 1 if previous else 0
            )
            snapshot = {**body, "version": version, "issued_at": now.timestamp()}
            if previous is not None:
                delta = diff(previous, snapshot)
                await client.publish(
                    self.topics.policy_delta(community_code),
                    json.dumps(delta, ensure_ascii=False),
                    qos=1,
                    retain=True,
                )
            await client.publish(
                self.topics.policy(community_code),
                json.dumps(snapshot, ensure_ascii=False),
                qos=1,
                retain=True,
            )
            await redis.set(key, json.dumps(snapshot, ensure_ascii=False))
            log.info("policy %s version %s published", community_code, version)
            return version
        finally:
            await redis.eval(_RELEASE, 1, lock, token)

    async def _consume(self, stop: asyncio.Event) -> None:
        redis, key = self.services.redis, f"{self._prefix}{DIRTY_KEY}"
        while not stop.is_set():
            item = await redis.blpop([key], timeout=POP_TIMEOUT_S)
            if item is None:
                continue
            codes = {str(item[1])}
            while len(codes) < 1000 and (more := await redis.lpop(key)) is not None:
                codes.add(str(more))  # many changes queued for one community: one rebuild
            for code in sorted(codes):
                try:
                    await self.publish_policy(code)
                except PolicyBusy:
                    # The holder may have read the database before this change: go again.
                    await asyncio.sleep(0.05)
                    await redis.rpush(key, code)
                except Exception:
                    log.exception("policy of %s not published", code)

    async def _refresh(self, stop: asyncio.Event) -> None:
        redis = self.services.redis
        while not stop.is_set():
            due = await redis.set(
                f"{self._prefix}gateway:refresh",
                self._owner,
                nx=True,
                ex=max(1, int(self.refresh_s)),
            )
            if due:
                codes = [str(c) for c in await Community.all().values_list("code", flat=True)]
                if codes:
                    await redis.rpush(f"{self._prefix}{DIRTY_KEY}", *codes)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.refresh_s)

    # ---- commands ----------------------------------------------------------------------------

    async def publish_command(self, community_code: str, command: dict[str, Any]) -> None:
        """CommandPublisher port: send a command to a community's gateway (QoS 1)."""
        client = await self._connected()
        await client.publish(
            self.topics.commands(community_code), json.dumps(command, ensure_ascii=False), qos=1
        )

    # ---- what gateways send ------------------------------------------------------------------

    async def _read(self, client: Client) -> None:
        async for message in messages(client, self.topics.all_events(), self.topics.all_states()):
            topic = str(message.topic)
            try:
                parts = self.topics.parse(topic)
                if parts.kind is SyncKind.EVENTS:
                    batch = parse_event_batch(message.payload)
                    await ingest_events(parts.community, parts.gateway_id, batch.events)
                    ack = {"batch_id": batch.batch_id, "ts": self.clock().timestamp()}
                    await client.publish(
                        self.topics.events_ack(parts.community, parts.gateway_id),
                        json.dumps(ack),
                        qos=1,
                    )
                elif parts.kind is SyncKind.STATE and message.payload:
                    state = load_object(message.payload, MAX_DEVICE_BYTES * 16)
                    state["received_at"] = self.clock().timestamp()
                    await self.services.redis.set(
                        f"{self._prefix}gateway:state:{parts.community}:{parts.gateway_id}",
                        json.dumps(state),
                        ex=STATE_TTL_S,
                    )
            except (MessageError, ValueError) as exc:
                log.warning("rejected message on %s: %s", topic, exc)
            except Exception:  # not confirmed: the gateway sends the batch again
                log.exception("could not handle %s", topic)


async def gateway_states(services: Services, community_code: str) -> dict[str, dict[str, Any]]:
    """The last heartbeat of each gateway of a community (console, health checks)."""
    prefix = f"{services.settings.redis_prefix}gateway:state:{community_code}:"
    found = {}
    async for key in services.redis.scan_iter(f"{prefix}*"):
        raw = await services.redis.get(key)
        if raw:
            found[key[len(prefix) :]] = json.loads(raw)
    return found


async def gateway_sync_loop(services: Services, stop: asyncio.Event) -> None:
    """Worker loop: run GatewaySync on the process's broker (idle when there is none)."""
    address = services.extras.get("mqtt_address") or parse_mqtt_url(services.settings.mqtt_url)
    if address is None:
        log.info("no MQTT broker reachable from this process (embedded://): gateway sync idle")
        await stop.wait()
        return
    sync = GatewaySync(
        services, address, topics=SyncTopics(services.extras.get("mqtt_prefix", DEFAULT_PREFIX))
    )
    services.extras["gateway_sync"] = sync
    await sync.run(stop)


async def run_dev_sites(
    services: Services, address: BrokerAddress, state_root: Path, stop: asyncio.Event
) -> None:
    """`make run`: one gateway per community plus a simulator per device, in this process."""
    from hardware_gateway.gateway import Gateway
    from hardware_gateway.link import LinkAddress
    from hardware_gateway.simulators import start_site

    site = LinkAddress(address.host, address.port)
    runs, simulators = [], []
    for community in await Community.all():
        devices = await Device.filter(community_id=community.id).values(
            "device_id", "kind", "building", "unit"
        )
        simulators += await start_site(site, community.code, devices)
        gateway = Gateway(
            community.code, devices=site, upstream=site, state_dir=state_root / community.code
        )
        runs.append(asyncio.create_task(gateway.run(stop)))
        # One client connecting at a time: amqtt 0.12.1 breaks a session that connects while
        # another client subscribes (see hardware_gateway.gateway.Gateway.run).
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(gateway.upstream_ready.wait(), 5)
        log.info("gateway and %d simulated devices running for %s", len(devices), community.code)
    try:
        await stop.wait()
    finally:
        for simulator in simulators:
            await simulator.stop()
        await asyncio.gather(*runs, return_exceptions=True)
