"""Redis and the MQTT broker restarted under a running server.

Redis keeps dialogues only (a restart may lose one: the bot still answers politely); the
dedupe of WeChat's retries is a database constraint, so it holds through the restart. A
restarted broker has lost its retained messages: the gateway reconnects and keeps deciding,
the server publishes its policies again, and later changes reach the gate.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

import bot.handlers
from hardware_gateway.link import LinkAddress, client, filtered
from hardware_gateway.simulators import VehicleGate
from hardware_gateway.sync_topics import SyncTopics
from hardware_gateway.topics import Topics
from server.adapters.mqtt import BrokerAddress
from server.app import create_app
from server.db.access import AccessEvent
from server.db.people import Vehicle
from server.services import Services
from server.settings import Settings
from templates_msg import render_text
from tests.integration.test_gateway_sync import PLATE, estate, sync_worker  # noqa: F401
from tests.support.gateway_site import (
    FakeClock,
    clear_retained,
    eventually,
    link_to,
    new_gateway,
    running,
)
from tests.support.private_services import private_mosquitto, private_redis
from tests.support.seed import Estate, seed_estate
from tests.support.wechat import WechatPusher

NOW_TS = 1_795_000_000.0


@pytest.fixture
def handled(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    seen: Counter[str] = Counter()
    real = bot.handlers.handle

    async def counting(message: Any, services: Any) -> str | None:
        seen[str(getattr(message, "id", ""))] += 1
        return await real(message, services)

    monkeypatch.setattr(bot.handlers, "handle", counting)
    return seen


async def test_redis_restart_loses_a_dialogue_politely_and_dedupe_holds(
    settings: Settings, handled: Counter[str]
) -> None:
    await seed_estate()
    with private_redis() as redis_server:
        mine = settings.with_(redis_url=f"redis://127.0.0.1:{redis_server.port}/0")
        services = await Services.start(mine, connect_db=False)
        try:
            app = create_app(mine, services)
            app.config.TOUCHUP = False
            wechat = WechatPusher.for_settings(mine)

            async def say(text: str, msg_id: int) -> tuple[int, str]:
                xml = wechat.text("oREDISFAULT", text, msg_id=msg_id)
                response = await wechat.post(app.asgi_client, xml)
                reply = wechat.read_reply(response.body) if response.status == 200 else None
                return response.status, reply["Content"] if reply else response.text

            status, asked = await say("绑定", 8_100_001)  # the bot asks which estate
            assert status == 200 and asked

            redis_server.stop()
            status, reply = await say("阿尔法小区", 8_100_002)
            assert (status, reply) == (200, render_text("busy_retry"))  # polite, recorded

            await asyncio.to_thread(redis_server.start)
            status, reply = await say("你好", 8_100_003)
            assert status == 200 and reply and reply != render_text("busy_retry")

            # WeChat retries pushes from before and during the outage: none is handled again
            for text, msg_id in (("绑定", 8_100_001), ("阿尔法小区", 8_100_002)):
                assert await say(text, msg_id) == (200, "success")
            assert handled == Counter({"8100001": 1, "8100002": 1, "8100003": 1})
        finally:
            await services.close()


async def test_broker_restart_gateway_reconnects_and_resyncs(
    estate: Estate,  # noqa: F811
    services: Services,
    mqtt_broker: BrokerAddress,
    mqtt_prefix: str,
    tmp_path: Path,
) -> None:
    """Devices talk to the gateway on the site's broker; the server's broker is restarted."""
    site_link, topics, sync_topics = (
        link_to(mqtt_broker),
        Topics(mqtt_prefix),
        SyncTopics(mqtt_prefix),
    )
    with private_mosquitto(tmp_path) as server_broker:
        uplink = LinkAddress("127.0.0.1", server_broker.port)
        central = BrokerAddress("127.0.0.1", server_broker.port)
        gateway = new_gateway(
            "alpha", site_link, uplink, tmp_path / "gw", topics=topics, clock=FakeClock(NOW_TS)
        )
        gate = VehicleGate(site_link, "alpha", "alpha-gate-1", topics=topics)
        async with sync_worker(services, central, mqtt_prefix) as worker, gate, running(gateway):
            await eventually(lambda: gateway.policy is not None)
            assert (await gate.see_plate(PLATE))["allow"]

            await asyncio.to_thread(server_broker.stop)
            await eventually(lambda: not gateway.upstream_ready.is_set(), timeout=5)
            assert (await gate.see_plate(PLATE))["allow"]  # decided locally, event buffered
            await asyncio.to_thread(server_broker.start)

            # generous guards against a hang: a dead link's clean-up takes seconds under load
            await eventually(lambda: gateway.upstream_ready.is_set(), timeout=30)
            await eventually(lambda: worker.ready.is_set(), timeout=30)
            await eventually(lambda: gateway.buffered_events() == 0, timeout=30)
            # the restarted broker has the policy again for a gateway that starts now
            async with client(uplink, client_id="late-gateway") as late:
                await late.subscribe(sync_topics.policy("alpha"), qos=1)
                async with asyncio.timeout(5):
                    async for message in filtered(late, [sync_topics.policy("alpha")]):
                        assert message.payload
                        break
            # and a change made after the restart reaches the gate
            await Vehicle.create(community=estate.a, plate="沪C55555", resident=estate.resident_a)
            await worker.publish_policy("alpha")
            async with asyncio.timeout(5):
                while (await gate.see_plate("沪C55555"))["mode"] == "unknown":
                    await asyncio.sleep(0.05)
        assert await AccessEvent.filter(kind="plate_seen", credential=PLATE).count() == 2
    with contextlib.suppress(Exception):
        await clear_retained(
            site_link,
            [
                topics.device_state("alpha", "alpha-gate-1"),
                sync_topics.state("alpha", gateway.gateway_id),
            ],
        )
