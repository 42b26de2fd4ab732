"""The chat simulator (server/api/simulator.py): real pushes over HTTP, what the emulators saw.

The app here runs as `make run` does: WECHAT_API_BASE and SMS_ENDPOINT empty, so it mounts the
emulators and the simulator itself, and it is served on a real loopback port that its settings
know (the simulator posts to settings.own_base_url, the clients call the emulator there too).
"""

from __future__ import annotations

import base64
import os
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import xmltodict

from server.actions.notify import Recipient, enqueue
from server.app import create_app
from server.db.inbound import InboundMessage
from server.services import Services
from server.settings import Settings, load_settings
from server.workers.outbox import relay_once
from tests.support.chat import PNG
from tests.support.notify import values
from tests.support.seed import Estate, seed_estate
from tests.support.servers import free_port, serving


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    env = {
        "DATABASE_URL": database_url,
        "REDIS_URL": os.environ.get("REDIS_URL") or f"memory://{uuid.uuid4().hex}",
        "MQTT_URL": os.environ.get("MQTT_URL") or "embedded://",
        "HTTP_HOST": "127.0.0.1",
        "HTTP_PORT": str(free_port()),
        "WECHAT_API_BASE": "",
        "SMS_ENDPOINT": "",
        "WUYE_MEDIA_DIR": str(tmp_path / "media"),
        "WUYE_SECRET_KEY": "test-secret",
    }
    return load_settings(env=env).with_(redis_prefix=f"t{uuid.uuid4().hex[:12]}:")


@pytest.fixture
async def estate(database_url: str) -> Estate:
    return await seed_estate()


@pytest.fixture
async def http(app, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:  # type: ignore[no-untyped-def]
    async with (
        serving(app, port=settings.http_port) as base_url,
        httpx.AsyncClient(base_url=base_url, timeout=10.0) as client,
    ):
        yield client


async def test_page_renders_the_identity_picker(http: httpx.AsyncClient) -> None:
    page = await http.get("/simulator")
    script = await http.get("/simulator/simulator.js")

    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert 'id="identity"' in page.text
    assert '<script src="/simulator/simulator.js">' in page.text
    assert script.status_code == 200
    assert "javascript" in script.headers["content-type"]


async def test_identities_list_followers_by_role_with_masked_phones(
    http: httpx.AsyncClient, estate: Estate
) -> None:
    response = await http.get("/simulator/identities")

    assert response.status_code == 200
    groups = {g["group"]: {p["name"]: p for p in g["people"]} for g in response.json()["groups"]}
    resident = groups["residents"]["张伟"]
    assert resident["phone"] == "138****1234"
    assert resident["room"] == "5-2-302"
    assert resident["community"]["code"] == "alpha"
    assert set(groups["staff"]) == {"王强", "孙丽"}
    assert set(groups["managers"]) == {"钱工"}
    assert "李娜" not in groups["residents"]  # no openid: cannot be played in the chat
    assert "13800001234" not in response.text


async def test_text_send_returns_the_bots_reply_through_the_webhook(
    http: httpx.AsyncClient, estate: Estate
) -> None:
    response = await http.post(
        "/simulator/send", json={"openid": "o_res_a", "kind": "text", "content": "你好"}
    )

    assert response.status_code == 200
    sent = response.json()
    assert sent["status"] == 200
    assert sent["reply"]["MsgType"] == "text"
    assert sent["reply"]["Content"].strip()
    assert await InboundMessage.filter(openid="o_res_a", kind="text", content="你好").exists()


async def test_image_send_registers_the_photo_as_emulator_media(
    app, http: httpx.AsyncClient, estate: Estate
) -> None:  # type: ignore[no-untyped-def]
    image = "data:image/png;base64," + base64.b64encode(PNG).decode()

    response = await http.post(
        "/simulator/send", json={"openid": "o_staff_a", "kind": "image", "image_base64": image}
    )

    assert response.status_code == 200
    push = xmltodict.parse(response.json()["push_xml"])["xml"]
    assert push["MsgType"] == "image"
    assert app.ctx.emulator_state.media[push["MediaId"]] == (PNG, "image/png")
    assert await InboundMessage.filter(openid="o_staff_a", kind="image").exists()


async def test_messages_show_a_template_message_the_relay_sent_to_staff(
    http: httpx.AsyncClient, services: Services, estate: Estate
) -> None:
    staff = Recipient.of_staff(estate.staff_a)
    await enqueue(
        "task_assigned", staff, values("task_assigned"), key="sim-1", now=datetime.now(UTC)
    )
    await relay_once(services)

    response = await http.get("/simulator/messages", params={"openid": "o_staff_a"})

    assert response.status_code == 200
    [message] = response.json()["messages"]
    assert message["channel"] == "template"
    assert message["kind"] == "task_assigned"
    assert ["character_string1", "T1042"] in message["fields"]


async def test_messages_after_the_cursor_leave_out_what_was_shown(
    http: httpx.AsyncClient, services: Services, estate: Estate
) -> None:
    staff = Recipient.of_staff(estate.staff_a)
    await enqueue(
        "task_assigned", staff, values("task_assigned"), key="sim-2", now=datetime.now(UTC)
    )
    await relay_once(services)
    first = (await http.get("/simulator/messages", params={"openid": "o_staff_a"})).json()

    again = await http.get(
        "/simulator/messages", params={"openid": "o_staff_a", "since": first["cursor"]}
    )

    assert len(first["messages"]) == 1
    assert again.json()["messages"] == []


async def test_send_refuses_an_unknown_kind(http: httpx.AsyncClient, estate: Estate) -> None:
    response = await http.post("/simulator/send", json={"openid": "o_res_a", "kind": "video"})

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "bad_request"


async def test_simulator_is_absent_when_a_real_wechat_api_is_configured(
    settings: Settings, services: Services
) -> None:
    live = create_app(settings.with_(wechat_api_base="https://api.weixin.qq.com"), services)
    live.config.TOUCHUP = False

    _, response = await live.asgi_client.get("/simulator")

    assert response.status == 404
