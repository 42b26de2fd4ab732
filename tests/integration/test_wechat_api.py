"""WechatApi against the WeChat emulator over real loopback HTTP, with the suite's Redis."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import httpx
import pytest

from server.adapters.redis import connect_redis
from server.adapters.wechat_api import WechatApi, WechatApiError
from server.services import Services
from server.settings import Settings, load_settings
from tests.support.servers import free_port

CUSTOM = "/cgi-bin/message/custom/send"


@pytest.fixture
def settings(emulator) -> Settings:
    """The suite's settings minus the per-test database, which these tests never touch
    (creating one per test on PostgreSQL would cost more than the tests themselves)."""
    base_url, _ = emulator
    loaded = load_settings(
        env={
            "DATABASE_URL": "sqlite://:memory:",
            "REDIS_URL": os.environ.get("REDIS_URL") or f"memory://{uuid.uuid4().hex}",
            "WECHAT_API_BASE": f"{base_url}/_emulator/wechat",
            "SMS_ENDPOINT": f"{base_url}/_emulator/sms",
        }
    )
    return loaded.with_(redis_prefix=f"t{uuid.uuid4().hex[:12]}:")


@asynccontextmanager
async def separate_clients(settings: Settings, count: int) -> AsyncIterator[list[WechatApi]]:
    """`count` clients of the official account, each with its own Redis and HTTP connections,
    as separate worker processes would have."""
    async with AsyncExitStack() as stack:
        apis = []
        for _ in range(count):
            redis = connect_redis(settings.redis_url)
            stack.push_async_callback(redis.aclose)
            http = await stack.enter_async_context(httpx.AsyncClient(timeout=5.0))
            apis.append(
                WechatApi(
                    base_url=settings.effective_wechat_api_base,
                    appid=settings.wechat_appid,
                    secret=settings.wechat_secret,
                    redis=redis,
                    http=http,
                    key_prefix=settings.redis_prefix,
                )
            )
        yield apis


@pytest.mark.parametrize("staleness", ["expired_by_wechat", "stale_in_cache"])
async def test_fifty_concurrent_calls_with_expired_token_fetch_once(
    services: Services, settings: Settings, wechat_calls, staleness: str
):
    async with separate_clients(settings, 5) as apis:
        if staleness == "expired_by_wechat":
            await apis[0].send_custom_text("o-warmup", "warm up")
            wechat_calls.expire_tokens()
        else:
            await services.redis.set(apis[0].token_key, "a-token-wechat-never-issued")
        fetches_before = wechat_calls.token_fetches()

        results = await asyncio.gather(
            *(apis[i % 5].send_custom_text(f"o-user-{i}", f"message {i}") for i in range(50))
        )

    assert wechat_calls.token_fetches() - fetches_before == 1
    assert all(result["errcode"] == 0 for result in results)
    assert {c["openid"] for c in wechat_calls.calls(kind="custom")} >= {
        f"o-user-{i}" for i in range(50)
    }


async def test_token_is_cached_and_reused_across_calls_and_clients(
    settings: Settings, services: Services, wechat_calls
):
    async with separate_clients(settings, 2) as (first, second):
        await first.send_custom_text("o-1", "one")
        await first.send_custom_text("o-1", "two")
        await second.send_custom_text("o-1", "three")

    assert wechat_calls.token_fetches(settings.wechat_appid) == 1
    assert len(wechat_calls.calls(openid="o-1")) == 3


async def test_invalid_credential_refreshes_token_and_retries_once(
    services: Services, wechat_calls
):
    await services.wechat.access_token()
    wechat_calls.fail_next(CUSTOM, 40001)

    result = await services.wechat.send_custom_text("o-1", "hello")

    assert result["errcode"] == 0
    assert wechat_calls.token_fetches() == 2
    assert len(wechat_calls.calls(kind="custom")) == 1


async def test_second_invalid_credential_raises(services: Services, wechat_calls):
    wechat_calls.fail_next(CUSTOM, 40001, times=2)

    with pytest.raises(WechatApiError) as raised:
        await services.wechat.send_custom_text("o-1", "hello")

    assert raised.value.errcode == 40001
    assert wechat_calls.token_fetches() == 2
    assert wechat_calls.calls() == []


async def test_official_account_and_miniapp_keep_separate_tokens(
    services: Services, settings: Settings, wechat_calls
):
    official = await services.wechat.access_token()
    miniapp = await services.miniapp.access_token()

    assert official != miniapp
    assert wechat_calls.token_fetches(settings.wechat_appid) == 1
    assert wechat_calls.token_fetches(settings.miniapp_appid) == 1


async def test_template_send_is_recorded_with_its_payload(services: Services, wechat_calls):
    result = await services.wechat.send_template(
        "o-resident",
        "TPL_REPAIR",
        {"character_string1": "T1042", "thing2": "water leak"},
        url="https://example.invalid/t/1042",
        miniprogram={"appid": "wxm", "pagepath": "p/t"},
        client_msg_id="outbox-77",
    )

    assert result["msgid"]
    [call] = wechat_calls.calls(kind="template", openid="o-resident")
    assert call["payload"] == {
        "touser": "o-resident",
        "template_id": "TPL_REPAIR",
        "url": "https://example.invalid/t/1042",
        "miniprogram": {"appid": "wxm", "pagepath": "p/t"},
        "data": {"character_string1": {"value": "T1042"}, "thing2": {"value": "water leak"}},
        "client_msg_id": "outbox-77",
    }


async def test_custom_text_is_recorded_with_its_payload(services: Services, wechat_calls):
    await services.wechat.send_custom_text("o-resident", "维修师傅已出发")

    [call] = wechat_calls.calls(kind="custom")
    assert call["openid"] == "o-resident"
    assert call["payload"] == {
        "touser": "o-resident",
        "msgtype": "text",
        "text": {"content": "维修师傅已出发"},
    }


async def test_subscribe_send_is_recorded_with_its_payload(services: Services, wechat_calls):
    await services.miniapp.send_subscribe(
        "o-mini", "SUB_TASK", {"thing1": "new task T1042"}, page="pages/task/index?ref=T1042"
    )

    [call] = wechat_calls.calls(kind="subscribe", openid="o-mini")
    assert call["payload"] == {
        "touser": "o-mini",
        "template_id": "SUB_TASK",
        "data": {"thing1": {"value": "new task T1042"}},
        "page": "pages/task/index?ref=T1042",
    }


async def test_user_refusal_is_a_definitive_error(services: Services, wechat_calls):
    wechat_calls.fail_next("/cgi-bin/message/template/send", 43101)

    with pytest.raises(WechatApiError) as raised:
        await services.wechat.send_template("o-1", "TPL", {"thing1": "x"})

    assert (raised.value.errcode, raised.value.transient) == (43101, False)


async def test_daily_quota_is_a_transient_error(services: Services, wechat_calls):
    wechat_calls.fail_next("/cgi-bin/message/template/send", 45009)

    with pytest.raises(WechatApiError) as raised:
        await services.wechat.send_template("o-1", "TPL", {"thing1": "x"})

    assert (raised.value.errcode, raised.value.transient) == (45009, True)


async def test_server_error_is_a_transient_error(services: Services, wechat_calls):
    wechat_calls.fail_next(CUSTOM, 0, http_status=502)

    with pytest.raises(WechatApiError) as raised:
        await services.wechat.send_custom_text("o-1", "hello")

    assert (raised.value.errcode, raised.value.transient) == (502, True)


async def test_unreachable_api_is_a_transient_error(services: Services, settings: Settings):
    api = WechatApi(
        base_url=f"http://127.0.0.1:{free_port()}",
        appid="wx-nowhere",
        secret="s",
        redis=services.redis,
        http=services.http,
        key_prefix=settings.redis_prefix,
    )

    with pytest.raises(WechatApiError) as raised:
        await api.send_custom_text("o-1", "hello")

    assert (raised.value.errcode, raised.value.transient) == (-1, True)


async def test_media_download_returns_bytes_and_content_type(services: Services, wechat_calls):
    photo = b"\xff\xd8\xff\xe0 a photo of the leak"
    wechat_calls.register_media("MEDIA_1", photo, "image/jpeg")

    assert await services.wechat.download_media("MEDIA_1") == (photo, "image/jpeg")


async def test_unknown_media_raises(services: Services):
    with pytest.raises(WechatApiError) as raised:
        await services.wechat.download_media("NO_SUCH_MEDIA")

    assert raised.value.errcode == 40007


async def test_code_to_session_returns_the_registered_identity(services: Services, wechat_calls):
    wechat_calls.register_code("CODE_1", openid="o-mini-1", unionid="u-1")

    session = await services.miniapp.code_to_session("CODE_1")

    assert (session["openid"], session["unionid"]) == ("o-mini-1", "u-1")
    assert session["session_key"]


async def test_reused_login_code_is_refused(services: Services):
    await services.miniapp.code_to_session("CODE_ONCE")

    with pytest.raises(WechatApiError) as raised:
        await services.miniapp.code_to_session("CODE_ONCE")

    assert raised.value.errcode == 40163


async def test_phone_code_gives_the_phone_number(services: Services, wechat_calls):
    wechat_calls.register_phone_code("PHONE_CODE_1", "13800138000")

    assert await services.miniapp.get_user_phone_number("PHONE_CODE_1") == "13800138000"


async def test_unknown_phone_code_raises(services: Services):
    with pytest.raises(WechatApiError) as raised:
        await services.miniapp.get_user_phone_number("NOT_ISSUED")

    assert raised.value.errcode == 40029
