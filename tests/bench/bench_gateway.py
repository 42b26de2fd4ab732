"""Gate decision latency and change -> decision propagation through the hardware gateway.

Run: `python -m tests.bench.bench_gateway [--requests N] [--changes N]`.

Goals (issue 6): a gate decision within 300 ms (p99), and a payment, roster or visitor-pass
change reaching the gateway's decisions in p99 <= 500 ms.

- decision: a simulated gate publishes a request and waits for the decision; round trip over
  MQTT (device -> broker -> gateway -> broker -> device) against a 2,000-resident policy.
- change -> decision: a resident's parking fee is marked paid in the database, the action's
  `request_policy_sync` is called, and the gate asks again until the answer turns from
  `temporary` to `resident`: DB rebuild, delta + snapshot publish, gateway apply, decision.
  On a fresh migrated SQLite file with 300 households, fakeredis, the real GatewaySync worker.

Both on the embedded amqtt broker; also on `MQTT_URL` when it names a reachable broker
(Mosquitto's default `set_tcp_nodelay false` adds one delayed-ACK wait, ~40 ms, per hop:
docs/gateway.md). Everything runs in this one process on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import os
import socket
import tempfile
import time
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tests.bench import Row

DECISION_GOAL_MS = 300
PROPAGATION_GOAL_MS = 500


def percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    if not ordered:
        return math.nan
    return ordered[min(len(ordered) - 1, math.ceil(p / 100 * len(ordered)) - 1)]


def synthetic_policy(residents: int) -> dict[str, Any]:
    """A policy snapshot the size of a large estate (plates, cards, homes)."""
    from hardware_gateway.policy import TEXT_KEYS

    homes = {
        str(r): {
            "homes": [{"building": str(r % 20), "unit": "1", "floor": r % 30 + 1}],
            "fees_due_since": "2026-01-15" if r % 7 == 0 else None,
        }
        for r in range(residents)
    }
    return {
        "schema": 1,
        "community": "bench",
        "version": 1,
        "tz": "Asia/Shanghai",
        "qr_key": "00" * 32,
        "devices": {"gate": {"kind": "vehicle_gate", "building": "", "unit": ""}},
        "residents": homes,
        "plates": {
            f"B{r:06d}": {"resident": str(r), "lease_until": "2099-12-31"} for r in range(residents)
        },
        "credentials": {f"card:C{r:06d}": {"resident": str(r)} for r in range(residents)},
        "passes": {},
        "texts": dict.fromkeys(TEXT_KEYS, "x"),
    }


async def decision_latency(address: Any, requests: int, warmup: int) -> list[float]:
    """Round-trip milliseconds of `requests` sequential gate requests."""
    import json

    from hardware_gateway.gateway import Gateway
    from hardware_gateway.link import LinkAddress, client
    from hardware_gateway.simulators import VehicleGate
    from hardware_gateway.sync_topics import SyncTopics
    from hardware_gateway.topics import Topics

    prefix = f"wuye_b{uuid.uuid4().hex[:8]}"
    link = LinkAddress(address.host, address.port)
    topics, sync = Topics(prefix), SyncTopics(prefix)
    policy = synthetic_policy(2000)
    with tempfile.TemporaryDirectory() as state:
        gateway = Gateway(
            "bench",
            devices=link,
            upstream=link,
            state_dir=Path(state),
            gateway_id=f"gw-{uuid.uuid4().hex[:8]}",
            topics=topics,
            sync=sync,
        )
        stop = asyncio.Event()
        run = asyncio.create_task(gateway.run(stop))
        try:
            async with client(link, client_id=f"bench-{uuid.uuid4().hex[:8]}") as server:
                await server.publish(sync.policy("bench"), json.dumps(policy), qos=1, retain=True)
                async with asyncio.timeout(10):
                    while gateway.policy_version != 1:
                        await asyncio.sleep(0.01)
                async with VehicleGate(link, "bench", "gate", topics=topics) as gate:
                    samples = []
                    for n in range(warmup + requests):
                        plate = f"B{n % 2500:06d}"  # one in five unknown
                        started = time.perf_counter()
                        await gate.see_plate(plate)
                        if n >= warmup:
                            samples.append((time.perf_counter() - started) * 1000)
                await server.publish(sync.policy("bench"), b"", qos=1, retain=True)
        finally:
            stop.set()
            await run
    return samples


async def seed_households(households: int) -> list[tuple[str, int]]:
    """A community with `households` rooms, a resident and a car each, parking unpaid."""
    from server.db.estate import Building, Community, Device, Room, Unit
    from server.db.fees import FeeRow
    from server.db.people import Resident, RoomBinding, Vehicle

    community = await Community.create(
        code="bench",
        name="bench",
        city="c",
        district="d",
        address="a",
        lat=30.0,
        lng=120.0,
        radius_m=300,
    )
    await Device.create(community=community, device_id="gate", kind="vehicle_gate")
    cars = []
    for b in range(households // 20):
        building = await Building.create(community=community, name=str(b + 1))
        unit = await Unit.create(building=building, name="1")
        for r in range(20):
            room = await Room.create(
                community=community,
                unit=unit,
                number=f"{r // 2 + 1}0{r % 2 + 1}",
                area_m2=Decimal("90.00"),
            )
            resident = await Resident.create(name="r", phone=f"139{b:04d}{r:04d}")
            await RoomBinding.create(resident=resident, room=room, relation="owner")
            plate = f"P{b:03d}{r:03d}"
            await Vehicle.create(community=community, plate=plate, resident=resident)
            fee = await FeeRow.create(
                room=room,
                period="2026",
                item="parking_fee",
                amount_due=Decimal("1800.00"),
                amount_paid=Decimal("0.00"),
                due_date=date(2026, 1, 31),
            )
            cars.append((plate, fee.id))
    return cars


async def propagation(address: Any, changes: int, workdir: Path, mqtt_url: str) -> list[float]:
    """Milliseconds from a committed payment to the first `resident` decision at the gate."""
    from hardware_gateway.gateway import Gateway
    from hardware_gateway.link import LinkAddress
    from hardware_gateway.simulators import VehicleGate
    from hardware_gateway.sync_topics import SyncTopics
    from hardware_gateway.topics import Topics
    from server import db
    from server.actions.gateway_policy import request_policy_sync
    from server.db.fees import FeeRow
    from server.db.migrate import migrate
    from server.services import Services
    from server.settings import load_settings
    from server.workers.gateway_sync import GatewaySync

    url = f"sqlite://{workdir / f'bench{uuid.uuid4().hex[:6]}.sqlite3'}"
    await migrate(url)
    await db.connect(url)
    settings = load_settings(
        env={
            "DATABASE_URL": url,
            "REDIS_URL": f"memory://{uuid.uuid4().hex}",
            "MQTT_URL": mqtt_url,
            "WUYE_MEDIA_DIR": str(workdir),
        }
    )
    services = await Services.start(settings, connect_db=False)
    prefix = f"wuye_b{uuid.uuid4().hex[:8]}"
    link = LinkAddress(address.host, address.port)
    topics, sync_topics = Topics(prefix), SyncTopics(prefix)
    samples: list[float] = []
    try:
        cars = await seed_households(300)
        worker = GatewaySync(services, address, topics=sync_topics, refresh_s=3600)
        gateway = Gateway(
            "bench",
            devices=link,
            upstream=link,
            state_dir=workdir / prefix,
            gateway_id=f"gw-{uuid.uuid4().hex[:8]}",
            topics=topics,
            sync=sync_topics,
        )
        stop = asyncio.Event()
        tasks = [asyncio.create_task(worker.run(stop))]
        await worker.ready.wait()
        tasks.append(asyncio.create_task(gateway.run(stop)))
        async with asyncio.timeout(10):
            while gateway.policy is None:
                await asyncio.sleep(0.01)
        async with VehicleGate(link, "bench", "gate", topics=topics) as gate:
            for plate, fee_id in cars[:changes]:
                assert (await gate.see_plate(plate))["mode"] == "temporary"
                started = time.perf_counter()
                await FeeRow.filter(id=fee_id).update(amount_paid=Decimal("1800.00"))
                await request_policy_sync(services.redis, settings.redis_prefix, "bench")
                async with asyncio.timeout(5):
                    while (await gate.see_plate(plate))["mode"] != "resident":
                        pass
                samples.append((time.perf_counter() - started) * 1000)
        stop.set()
        await asyncio.gather(*tasks)
        for topic in (sync_topics.policy("bench"), sync_topics.policy_delta("bench")):
            await worker_clear(link, topic)
    finally:
        await services.close()
        await db.close()
    return samples


async def worker_clear(link: Any, topic: str) -> None:
    from hardware_gateway.link import client

    async with client(link, client_id=f"bench-{uuid.uuid4().hex[:8]}") as cleaner:
        await cleaner.publish(topic, b"", qos=1, retain=True)


def reachable(url: str) -> str:
    """'' when `url` is a reachable mqtt:// broker, else why it is skipped."""
    if not url.startswith("mqtt://"):
        return "MQTT_URL not set to a real broker"
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 1883), 2):
            return ""
    except OSError as exc:
        return f"{url} unreachable: {exc}"


async def run(args: argparse.Namespace) -> list[Row]:
    from server.adapters.mqtt import open_broker

    # The decision bench has no server acking events: the uploader would warn all along.
    logging.getLogger("wuye").setLevel(logging.ERROR)
    brokers = [("embedded amqtt", "embedded://")]
    why_not = reachable(args.mqtt_url)
    if not why_not:
        brokers.append(("Mosquitto", args.mqtt_url))
    rows: list[Row] = []
    for name, url in brokers:
        async with open_broker(url) as address:
            decisions = await decision_latency(address, args.requests, args.warmup)
            with tempfile.TemporaryDirectory() as workdir:
                changes = await propagation(address, args.changes, Path(workdir), url)
        print(
            f"{name}: decision p50 {percentile(decisions, 50):.2f} ms, "
            f"p99 {percentile(decisions, 99):.2f} ms ({len(decisions)} requests); "
            f"change->decision p50 {percentile(changes, 50):.1f} ms, "
            f"p99 {percentile(changes, 99):.1f} ms ({len(changes)} payments)",
            flush=True,
        )
        rows += [
            Row(f"gateway decision p50 ({name})", percentile(decisions, 50), "ms"),
            Row(
                f"gateway decision p99 ({name})",
                percentile(decisions, 99),
                "ms",
                f"goal <= {DECISION_GOAL_MS} ms, {len(decisions)} requests, 2,000 residents",
            ),
            Row(f"payment -> gate decision p50 ({name})", percentile(changes, 50), "ms"),
            Row(
                f"payment -> gate decision p99 ({name})",
                percentile(changes, 99),
                "ms",
                f"goal <= {PROPAGATION_GOAL_MS} ms, {len(changes)} payments, 300 households",
            ),
        ]
    if why_not:
        rows.append(Row("gateway on Mosquitto", math.nan, "", f"skipped: {why_not}"))
    return rows


def main(argv: list[str] | None = None) -> list[Row]:
    """Measure both figures on each broker; return them as rows for the bench table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--changes", type=int, default=100)
    parser.add_argument("--mqtt-url", default=os.environ.get("MQTT_URL", ""))
    args = parser.parse_args(argv)
    started = datetime.now(UTC)
    rows = asyncio.run(run(args))
    print(f"gateway bench took {(datetime.now(UTC) - started).total_seconds():.0f} s")
    return rows


if __name__ == "__main__":
    for row in main():
        print(row.format())
