"""`/wechat/official` end to end: signed (and encrypted) XML exactly as WeChat sends it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

import bot.chat
import bot.dialogue
import bot.handlers
import bot.webhook
from server.app import create_app
from server.db.estate import Community
from server.db.inbound import InboundMessage
from server.db.people import WechatUser
from server.metrics import METRICS
from server.services import Services
from server.settings import Settings
from templates_msg import render_text
from tests.support.wechat import WechatPusher

OPENID = "oRESIDENT00000000000000001"
NOW = 1_790_000_000  # the pinned wall clock both WeChat and the server read


@pytest.fixture(params=["plaintext", "safe"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def build(settings: Settings, services: Services, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Make an app for `mode` with optional setting changes; the clock is pinned to NOW."""
    monkeypatch.setattr(bot.webhook, "wall_clock", lambda: float(NOW))

    def make(mode: str = "safe", **changes: Any) -> tuple[Any, WechatPusher]:
        if mode == "plaintext":
            changes.setdefault("wechat_aes_key", "")
        configured = settings.with_(**changes)
        app = create_app(configured, services)
        app.config.TOUCHUP = False  # as the `app` fixture: several apps in one process
        return app, WechatPusher.for_settings(configured, clock=lambda: float(NOW))

    return make


@pytest.fixture
def handled(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every message the bot handler saw (the real handler still answers)."""
    seen: list[Any] = []
    real = bot.handlers.handle

    async def counting(message: Any, services: Any) -> str | None:
        seen.append(message)
        return await real(message, services)

    monkeypatch.setattr(bot.handlers, "handle", counting)
    return seen


async def rows() -> tuple[int, int]:
    return await InboundMessage.all().count(), await WechatUser.all().count()


# ---- server verification -------------------------------------------------------------------


async def test_verification_echoes_echostr(build: Callable[..., Any]) -> None:
    app, wechat = build()
    signed = wechat.verification("4793429718329416")
    _, response = await app.asgi_client.get(signed.url)
    assert response.status == 200
    assert response.text == "4793429718329416"


async def test_verification_with_bad_signature_is_refused(build: Callable[..., Any]) -> None:
    app, wechat = build()
    signed = wechat.verification("4793429718329416", bad_signature=True)
    _, response = await app.asgi_client.get(signed.url)
    assert response.status == 403
    assert "4793429718329416" not in response.text


# ---- messages and events, in both modes ----------------------------------------------------


async def test_text_is_answered_with_help(build: Callable[..., Any], mode: str) -> None:
    app, wechat = build(mode)
    response = await wechat.post(app.asgi_client, wechat.text(OPENID, "你好"))
    assert response.status == 200
    reply = wechat.read_reply(response.body)
    assert reply is not None
    assert reply["MsgType"] == "text"
    assert reply["ToUserName"] == OPENID
    assert reply["FromUserName"] == wechat.account
    assert reply["Content"] == render_text("help")


async def test_text_is_recorded_and_opens_service_window(
    build: Callable[..., Any], mode: str
) -> None:
    app, wechat = build(mode)
    await wechat.post(app.asgi_client, wechat.text(OPENID, "5号楼电梯坏了", msg_id=6_999_000_111))
    inbound = await InboundMessage.get(dedupe_key="6999000111")
    assert (inbound.openid, inbound.kind, inbound.content) == (OPENID, "text", "5号楼电梯坏了")
    follower = await WechatUser.get(openid=OPENID)
    assert follower.subscribed is True
    assert follower.last_inbound_at is not None


async def test_image_is_acknowledged(build: Callable[..., Any], mode: str) -> None:
    app, wechat = build(mode)
    response = await wechat.post(app.asgi_client, wechat.image(OPENID))
    reply = wechat.read_reply(response.body)
    # the emulator holds no media "media_image_1": the bot asks for the photo again
    assert reply is not None and reply["Content"] == render_text("photo_unavailable")
    assert (await InboundMessage.get(openid=OPENID)).kind == "image"


async def test_voice_uses_wechat_recognition(build: Callable[..., Any], mode: str) -> None:
    app, wechat = build(mode)
    response = await wechat.post(app.asgi_client, wechat.voice(OPENID, "三号楼漏水了"))
    reply = wechat.read_reply(response.body)
    typed = await wechat.post(app.asgi_client, wechat.text(OPENID + "x", "三号楼漏水了"))
    assert reply is not None and reply["Content"] == wechat.read_reply(typed.body)["Content"]
    inbound = await InboundMessage.get(openid=OPENID)
    assert (inbound.kind, inbound.content) == ("voice", "三号楼漏水了")


async def test_voice_without_recognition_asks_again(build: Callable[..., Any], mode: str) -> None:
    app, wechat = build(mode)
    response = await wechat.post(app.asgi_client, wechat.voice(OPENID, None))
    reply = wechat.read_reply(response.body)
    assert reply is not None and reply["Content"] == render_text("voice_unrecognized")


async def test_location_message_is_acknowledged_with_its_label(
    build: Callable[..., Any], mode: str
) -> None:
    app, wechat = build(mode)
    xml = wechat.location(OPENID, 23.134521, 113.358803, "广州市天河区某小区")
    response = await wechat.post(app.asgi_client, xml)
    reply = wechat.read_reply(response.body)
    assert reply is not None
    assert "广州市天河区某小区" in reply["Content"]
    inbound = await InboundMessage.get(openid=OPENID)
    assert inbound.kind == "location"
    assert inbound.content.startswith("23.134521,113.358803")


async def test_subscribe_is_welcomed_and_marks_follower(
    build: Callable[..., Any], mode: str
) -> None:
    app, wechat = build(mode)
    response = await wechat.post(app.asgi_client, wechat.subscribe(OPENID))
    reply = wechat.read_reply(response.body)
    assert reply is not None and reply["Content"] == render_text("welcome", community_name="")
    follower = await WechatUser.get(openid=OPENID)
    assert follower.subscribed is True
    assert await InboundMessage.filter(openid=OPENID, kind="event:subscribe").count() == 1


async def test_subscribe_by_community_qr_names_the_community(
    build: Callable[..., Any], mode: str
) -> None:
    await Community.create(
        code="sunny",
        name="阳光花园",
        city="广州",
        district="天河",
        address="天河路1号",
        lat=23.13,
        lng=113.35,
        radius_m=300,
    )
    app, wechat = build(mode)
    response = await wechat.post(app.asgi_client, wechat.subscribe(OPENID, "community_sunny"))
    reply = wechat.read_reply(response.body)
    assert reply is not None
    assert reply["Content"].startswith(render_text("welcome", community_name="阳光花园"))
    assert "阳光花园" in reply["Content"]
    follower = await WechatUser.get(openid=OPENID)
    assert (follower.subscribed, follower.scene) == (True, "community_sunny")


async def test_subscribe_by_unknown_community_qr_gets_plain_welcome(
    build: Callable[..., Any], mode: str
) -> None:
    app, wechat = build(mode)
    response = await wechat.post(app.asgi_client, wechat.subscribe(OPENID, "community_nowhere"))
    reply = wechat.read_reply(response.body)
    assert reply is not None and reply["Content"] == render_text("welcome", community_name="")


async def test_scan_by_follower_is_welcomed_and_records_scene(
    build: Callable[..., Any], mode: str
) -> None:
    await Community.create(
        code="sunny",
        name="阳光花园",
        city="广州",
        district="天河",
        address="天河路1号",
        lat=23.13,
        lng=113.35,
        radius_m=300,
    )
    app, wechat = build(mode)
    response = await wechat.post(app.asgi_client, wechat.scan(OPENID, "community_sunny"))
    reply = wechat.read_reply(response.body)
    assert reply is not None
    assert reply["Content"].startswith(render_text("welcome", community_name="阳光花园"))
    assert (await WechatUser.get(openid=OPENID)).scene == "community_sunny"


async def test_unsubscribe_gets_no_reply_and_clears_subscribed(
    build: Callable[..., Any], mode: str
) -> None:
    app, wechat = build(mode)
    await wechat.post(app.asgi_client, wechat.subscribe(OPENID, create_time=NOW - 60))
    response = await wechat.post(app.asgi_client, wechat.unsubscribe(OPENID))
    assert response.status == 200
    assert wechat.read_reply(response.body) is None
    assert (await WechatUser.get(openid=OPENID)).subscribed is False


async def test_location_report_event_gets_no_reply_and_keeps_window_closed(
    build: Callable[..., Any], mode: str
) -> None:
    app, wechat = build(mode)
    response = await wechat.post(app.asgi_client, wechat.location_event(OPENID, 23.13, 113.35))
    assert response.status == 200
    assert wechat.read_reply(response.body) is None
    inbound = await InboundMessage.get(openid=OPENID)
    assert (inbound.kind, inbound.content) == ("event:location", "23.13,113.35")
    # An automatic location report is not a user action: no customer-service window.
    assert (await WechatUser.get(openid=OPENID)).last_inbound_at is None


async def test_template_receipt_gets_no_reply_and_is_recorded(
    build: Callable[..., Any], mode: str
) -> None:
    app, wechat = build(mode)
    xml = wechat.template_finished(OPENID, 200163836, "failed:user block")
    response = await wechat.post(app.asgi_client, xml)
    assert response.status == 200
    assert wechat.read_reply(response.body) is None
    inbound = await InboundMessage.get(openid=OPENID)
    assert (inbound.kind, inbound.content) == ("event:templatesendjobfinish", "failed:user block")


async def test_unhandled_message_kind_says_what_is_supported(
    build: Callable[..., Any], mode: str
) -> None:
    app, wechat = build(mode)
    xml = wechat.message(OPENID, "video", MediaId="m1", ThumbMediaId="t1", MsgId=77)
    response = await wechat.post(app.asgi_client, xml)
    reply = wechat.read_reply(response.body)
    assert reply is not None and reply["Content"] == render_text("unsupported_message")


# ---- refusals: 403 and nothing written ---------------------------------------------------


@pytest.mark.parametrize("forgery", ["bad_signature", "stale_past", "stale_future"])
async def test_forged_or_stale_push_is_refused_and_writes_nothing(
    build: Callable[..., Any], mode: str, forgery: str
) -> None:
    app, wechat = build(mode)
    kwargs: dict[str, Any] = {
        "bad_signature": {"bad_signature": True},
        "stale_past": {"timestamp": NOW - 301},
        "stale_future": {"timestamp": NOW + 301},
    }[forgery]
    response = await wechat.post(app.asgi_client, wechat.text(OPENID, "你好"), **kwargs)
    assert response.status == 403
    assert await rows() == (0, 0)


async def test_timestamp_at_the_edge_of_the_window_is_accepted(
    build: Callable[..., Any], mode: str
) -> None:
    app, wechat = build(mode)
    response = await wechat.post(app.asgi_client, wechat.text(OPENID, "你好"), timestamp=NOW - 300)
    assert response.status == 200
    assert await rows() == (1, 1)


async def test_wrong_msg_signature_is_refused_and_writes_nothing(
    build: Callable[..., Any],
) -> None:
    app, wechat = build("safe")
    response = await wechat.post(
        app.asgi_client, wechat.text(OPENID, "你好"), bad_msg_signature=True
    )
    assert response.status == 403
    assert await rows() == (0, 0)


async def test_plaintext_push_in_safe_mode_is_refused_and_writes_nothing(
    build: Callable[..., Any],
) -> None:
    app, wechat = build("safe")
    response = await wechat.post(app.asgi_client, wechat.text(OPENID, "你好"), encrypt=False)
    assert response.status == 403
    assert await rows() == (0, 0)


async def test_push_without_query_is_refused(build: Callable[..., Any], mode: str) -> None:
    app, wechat = build(mode)
    _, response = await app.asgi_client.post(
        "/wechat/official", content=wechat.text(OPENID, "你好").encode()
    )
    assert response.status == 403
    assert await rows() == (0, 0)


# ---- bad bodies: 4xx, never 500, nothing written ----------------------------------------

ENTITY_BOMB = """<?xml version="1.0"?>
<!DOCTYPE xml [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>
<xml><ToUserName><![CDATA[gh_0fficia1demo]]></ToUserName>
<FromUserName><![CDATA[oRESIDENT00000000000000001]]></FromUserName>
<CreateTime>1790000000</CreateTime><MsgType><![CDATA[text]]></MsgType>
<Content>&c;</Content><MsgId>1</MsgId></xml>"""


@pytest.mark.parametrize(
    "xml",
    [
        "<xml><ToUserName>gh</ToUserName><FromUserName>o1",  # truncated
        "not xml at all",
        "<xml>just text</xml>",
        "<xml><ToUserName>gh</ToUserName></xml>",  # no sender, no type
        "<xml><ToUserName>gh</ToUserName><FromUserName>o1</FromUserName>"
        "<CreateTime>yesterday</CreateTime><MsgType>text</MsgType><MsgId>1</MsgId></xml>",
        ENTITY_BOMB,
        "<xml>" + "<a>" * 5000 + "</a>" * 5000 + "</xml>",
        '<?xml version="1.0" encoding="x"?><xml><Encrypt>abc</Encrypt></xml>',
    ],
    ids=[
        "truncated",
        "not_xml",
        "no_fields",
        "missing_fields",
        "bad_number",
        "entities",
        "deep",
        "unknown_encoding",
    ],
)
async def test_malformed_push_is_rejected_and_writes_nothing(
    build: Callable[..., Any], mode: str, xml: str
) -> None:
    app, wechat = build(mode)
    response = await wechat.post(app.asgi_client, xml, openid=OPENID)
    assert 400 <= response.status < 500
    assert await rows() == (0, 0)


async def test_entities_in_utf16_are_refused_before_anything_is_checked(
    build: Callable[..., Any], mode: str
) -> None:
    """The body is parsed before its msg_signature is checked; UTF-16 hides "<!DOCTYPE" from a
    byte search, so the body is read as UTF-8 before the DTD check."""
    app, wechat = build(mode)
    signed = wechat.signed(wechat.text(OPENID, "你好"))
    _, response = await app.asgi_client.post(signed.url, content=ENTITY_BOMB.encode("utf-16"))
    assert response.status == 400
    assert await rows() == (0, 0)


async def test_malformed_envelope_in_safe_mode_is_rejected(build: Callable[..., Any]) -> None:
    app, wechat = build("safe")
    signed = wechat.signed(wechat.text(OPENID, "你好"))
    _, response = await app.asgi_client.post(signed.url, content=b"<xml><Encrypt>broken")
    assert response.status == 400
    assert await rows() == (0, 0)


async def test_oversized_push_is_rejected(build: Callable[..., Any], mode: str) -> None:
    app, wechat = build(mode)
    response = await wechat.post(app.asgi_client, wechat.text(OPENID, "漏" * 40_000))
    assert response.status == 413
    assert await rows() == (0, 0)


# ---- floods: a per-openid limit, nothing lost ---------------------------------------------


async def test_flooding_openid_is_slowed_down_but_every_message_is_kept(
    build: Callable[..., Any], services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(services, "settings", services.settings.with_(messages_per_minute=3))
    minute = datetime.now(UTC).replace(second=30)  # the limit counts per clock minute
    monkeypatch.setattr(bot.dialogue, "clock", lambda: minute)
    answered: list[str] = []
    monkeypatch.setattr(bot.chat, "reply_to_text", lambda s, o, text: _noted(answered, text))
    app, wechat = build("safe")
    replies = []
    for n in range(5):
        response = await wechat.post(app.asgi_client, wechat.text(OPENID, f"你好{n}"))
        assert response.status == 200
        reply = wechat.read_reply(response.body)
        replies.append(reply["Content"] if reply else None)
    assert replies[:3] == ["ok"] * 3
    assert replies[3] == render_text("slow_down")  # said once, then silence
    assert replies[4] is None
    assert answered == ["你好0", "你好1", "你好2"]  # the dialogue never saw the flood
    assert await InboundMessage.filter(openid=OPENID).count() == 5

    other = "oRESIDENT00000000000000002"
    response = await wechat.post(app.asgi_client, wechat.text(other, "你好"))
    assert wechat.read_reply(response.body)["Content"] == "ok"


async def _noted(answered: list[str], text: str) -> str:
    answered.append(text)
    return "ok"


# ---- dedupe: WeChat's retries are handled once -------------------------------------------


async def test_concurrent_retries_are_handled_once(
    build: Callable[..., Any], mode: str, handled: list[Any]
) -> None:
    app, wechat = build(mode)
    signed = wechat.signed(wechat.text(OPENID, "电梯坏了"))
    responses = await asyncio.gather(
        *(app.asgi_client.post(signed.url, content=signed.body) for _ in range(3))
    )
    bodies = sorted(response.text for _, response in responses)
    assert [response.status for _, response in responses] == [200, 200, 200]
    assert bodies.count("success") == 2
    assert len(handled) == 1
    assert await InboundMessage.all().count() == 1


async def test_retried_event_is_handled_once(
    build: Callable[..., Any], mode: str, handled: list[Any]
) -> None:
    app, wechat = build(mode)
    xml = wechat.subscribe(OPENID)
    first = await wechat.post(app.asgi_client, xml)
    again = await wechat.post(app.asgi_client, xml)  # same CreateTime: a retry, new nonce
    assert wechat.read_reply(first.body) is not None
    assert again.text == "success"
    assert len(handled) == 1


async def test_outcomes_are_counted(build: Callable[..., Any]) -> None:
    app, wechat = build("safe")
    key = ("wuye_webhook_pushes_total", (("outcome", "duplicate"),))
    before = METRICS.counters[key]
    signed = wechat.signed(wechat.text(OPENID, "你好"))
    for _ in range(2):
        await app.asgi_client.post(signed.url, content=signed.body)
    assert METRICS.counters[key] == before + 1


# ---- the 5-second budget -------------------------------------------------------------------


async def test_slow_reply_arrives_as_customer_service_message(
    build: Callable[..., Any],
    emulator: tuple[str, Any],
    mode: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app, wechat = build(mode, reply_budget_s=0.05)
    gate = asyncio.Event()
    real = bot.handlers.handle

    async def slow(message: Any, services: Any) -> str | None:
        await gate.wait()  # held past the budget until the test has its answer
        return await real(message, services)

    monkeypatch.setattr(bot.handlers, "handle", slow)
    response = await wechat.post(app.asgi_client, wechat.text(OPENID, "你好"))
    assert response.status == 200
    assert response.text == "success"
    gate.set()
    await bot.webhook.drain_deferred(app)
    _, state = emulator
    sends = state.calls(kind="custom", openid=OPENID)
    assert [send["payload"]["msgtype"] for send in sends] == ["text"]
    assert sends[0]["payload"]["text"]["content"] == render_text("help")


async def test_handler_failure_tells_user_to_retry(
    build: Callable[..., Any], mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    app, wechat = build(mode)

    async def broken(message: Any, services: Any) -> str | None:
        raise RuntimeError("dialogue store down")

    monkeypatch.setattr(bot.handlers, "handle", broken)
    response = await wechat.post(app.asgi_client, wechat.text(OPENID, "你好"))
    assert response.status == 200
    reply = wechat.read_reply(response.body)
    assert reply is not None and reply["Content"] == render_text("busy_retry")


async def test_late_reply_refused_by_wechat_is_logged(
    build: Callable[..., Any],
    emulator: tuple[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    app, wechat = build("safe", reply_budget_s=0.05)
    gate = asyncio.Event()
    real = bot.handlers.handle

    async def slow(message: Any, services: Any) -> str | None:
        await gate.wait()
        return await real(message, services)

    monkeypatch.setattr(bot.handlers, "handle", slow)
    _, state = emulator
    state.fail_next("/cgi-bin/message/custom/send", 45015)  # outside the 48-hour window
    response = await wechat.post(app.asgi_client, wechat.text(OPENID, "你好"))
    assert response.text == "success"
    gate.set()
    await bot.webhook.drain_deferred(app)
    assert state.calls(kind="custom", openid=OPENID) == []
    assert any("late reply" in record.getMessage() for record in caplog.records)
