"""The WeChat and SMS emulators answer like the real services and record what they were sent."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from server.adapters.emulators import EmulatorState
from server.adapters.sms_aliyun import AliyunSms, SmsError

APPID, SECRET = "wx-test-app", "test-secret"


@pytest.fixture
async def http(emulator: tuple[str, EmulatorState]) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=emulator[0], timeout=5.0) as client:
        yield client


@pytest.fixture
def state(emulator: tuple[str, EmulatorState]) -> EmulatorState:
    return emulator[1]


async def fetch_token(http: httpx.AsyncClient, **extra: object) -> dict:
    body = {"grant_type": "client_credential", "appid": APPID, "secret": SECRET, **extra}
    return (await http.post("/_emulator/wechat/cgi-bin/stable_token", json=body)).json()


async def custom_text(http: httpx.AsyncClient, token: str, openid: str = "o-1") -> dict:
    response = await http.post(
        "/_emulator/wechat/cgi-bin/message/custom/send",
        params={"access_token": token},
        json={"touser": openid, "msgtype": "text", "text": {"content": "hi"}},
    )
    return response.json()


async def subscribe(http: httpx.AsyncClient, token: str, data: dict) -> dict:
    response = await http.post(
        "/_emulator/wechat/cgi-bin/message/subscribe/send",
        params={"access_token": token},
        json={"touser": "o-1", "template_id": "SUB", "data": data},
    )
    return response.json()


def sms_client(emulator: tuple[str, EmulatorState]) -> AliyunSms:
    return AliyunSms(
        endpoint=f"{emulator[0]}/_emulator/sms",
        access_key_id="demo-key-id",
        access_key_secret="demo-key-secret",
        sign_name="物业服务",
    )


# -- WeChat ---------------------------------------------------------------------------------------


async def test_wrong_access_token_gets_invalid_credential(http):
    assert (await custom_text(http, "not-a-token"))["errcode"] == 40001


async def test_stable_token_returns_the_same_token_while_it_is_valid(http):
    first, second = await fetch_token(http), await fetch_token(http)

    assert first["access_token"] == second["access_token"]
    assert first["expires_in"] > 300


async def test_force_refresh_invalidates_the_previous_token(http):
    old = (await fetch_token(http))["access_token"]
    new = (await fetch_token(http, force_refresh=True))["access_token"]

    assert (await custom_text(http, old))["errcode"] == 40001
    assert (await custom_text(http, new))["errcode"] == 0


async def test_expired_tokens_answer_42001_until_a_new_one_is_fetched(http, state):
    old = (await fetch_token(http))["access_token"]
    state.expire_tokens()

    assert (await custom_text(http, old))["errcode"] == 42001
    new = (await fetch_token(http))["access_token"]
    assert new != old
    assert (await custom_text(http, new))["errcode"] == 0
    assert state.token_fetches(APPID) == 2


async def test_fail_control_endpoint_fails_only_the_next_call(http, state):
    token = (await fetch_token(http))["access_token"]

    control = await http.post(
        "/_emulator/wechat/_control/fail",
        json={"path": "/cgi-bin/message/custom/send", "errcode": 45015},
    )

    assert control.status_code == 200
    assert (await custom_text(http, token))["errcode"] == 45015
    assert (await custom_text(http, token))["errcode"] == 0
    assert len(state.calls(kind="custom")) == 1


async def test_calls_view_lists_the_sends_to_one_openid(http):
    token = (await fetch_token(http))["access_token"]
    await custom_text(http, token, "o-alice")
    await custom_text(http, token, "o-bob")

    listed = (await http.get("/_emulator/wechat/_calls", params={"openid": "o-alice"})).json()

    assert [(c["kind"], c["openid"], c["payload"]["text"]["content"]) for c in listed] == [
        ("custom", "o-alice", "hi")
    ]
    assert listed[0]["time"] > 0


async def test_unregistered_login_code_gets_a_deterministic_openid(emulator, http):
    async def openid_for(code: str) -> str:
        response = await http.get(
            "/_emulator/wechat/sns/jscode2session",
            params={
                "appid": APPID,
                "secret": SECRET,
                "js_code": code,
                "grant_type": "authorization_code",
            },
        )
        return response.json()["openid"]

    first = await openid_for("code-a")
    emulator[1].reset()

    assert await openid_for("code-a") == first
    assert await openid_for("code-b") != first


async def test_unknown_openid_is_refused_only_once_openids_are_registered(http, state):
    token = (await fetch_token(http))["access_token"]
    assert (await custom_text(http, token, "o-anyone"))["errcode"] == 0

    state.register_openids(["o-known"])

    assert (await custom_text(http, token, "o-anyone"))["errcode"] == 40003
    assert (await custom_text(http, token, "o-known"))["errcode"] == 0


async def test_template_value_missing_is_refused(http, state):
    token = (await fetch_token(http))["access_token"]

    response = await http.post(
        "/_emulator/wechat/cgi-bin/message/template/send",
        params={"access_token": token},
        json={"touser": "o-1", "template_id": "TPL", "data": {"thing1": {"value": ""}}},
    )

    assert response.json()["errcode"] == 47003
    assert state.calls() == []


async def test_subscribe_value_longer_than_its_type_allows_is_refused(http, state):
    token = (await fetch_token(http))["access_token"]

    too_long = await subscribe(http, token, {"thing1": {"value": "x" * 21}})
    fits = await subscribe(http, token, {"thing1": {"value": "x" * 20}})

    assert (too_long["errcode"], fits["errcode"]) == (47003, 0)


async def test_media_registered_over_http_is_served_with_its_type(http):
    token = (await fetch_token(http))["access_token"]
    await http.post(
        "/_emulator/wechat/_control/media",
        params={"media_id": "M1"},
        content=b"#!AMR voice",
        headers={"content-type": "audio/amr"},
    )

    response = await http.get(
        "/_emulator/wechat/cgi-bin/media/get", params={"access_token": token, "media_id": "M1"}
    )

    assert (response.content, response.headers["content-type"]) == (b"#!AMR voice", "audio/amr")


async def test_reset_forgets_sends_and_tokens(http, state):
    token = (await fetch_token(http))["access_token"]
    await custom_text(http, token)

    await http.post("/_emulator/wechat/_control/reset")

    assert state.calls() == []
    assert (await custom_text(http, token))["errcode"] == 40001


async def test_wrong_app_secret_is_refused_once_apps_are_registered(http, state):
    assert "access_token" in await fetch_token(http)

    state.register_app(APPID, "the-real-secret")

    assert (await fetch_token(http))["errcode"] == 40125


# -- SMS ------------------------------------------------------------------------------------------


async def test_sms_replayed_signature_nonce_is_refused(emulator, monkeypatch):
    # Make the SDK reuse one nonce, as a replayed (captured) request would.
    monkeypatch.setattr(
        "aliyunsdkcore.utils.parameter_helper.get_uuid", lambda: "same-nonce-every-time"
    )
    client = sms_client(emulator)
    await client.send("13800138000", "SMS_100", {"ref": "T1"}, out_id="o1")

    with pytest.raises(SmsError) as raised:
        await client.send("13800138000", "SMS_100", {"ref": "T1"}, out_id="o1")

    assert raised.value.code == "SignatureNonceUsed"
    assert len(emulator[1].sms_calls()) == 1


async def test_sms_unsigned_request_is_refused(http, state):
    response = await http.get(
        "/_emulator/sms/",
        params={
            "Action": "SendSms",
            "Version": "2017-05-25",
            "PhoneNumbers": "13800138000",
            "SignName": "x",
            "TemplateCode": "SMS_1",
        },
    )

    assert response.status_code == 400
    assert response.json()["Code"] == "MissingAccessKeyId"
    assert state.sms_calls() == []


async def test_sms_rate_limit_refuses_until_the_window_passes(emulator):
    state = emulator[1]
    now = [state.clock()]
    state.clock = lambda: now[0]
    state.sms_rate_limit(2, per_s=60)
    client = sms_client(emulator)
    for n in range(2):
        await client.send("13800138000", "SMS_100", {}, out_id=f"o{n}")

    with pytest.raises(SmsError) as raised:
        await client.send("13800138000", "SMS_100", {}, out_id="o3")
    now[0] += 61
    await client.send("13800138000", "SMS_100", {}, out_id="o4")

    assert (raised.value.code, raised.value.transient) == ("isv.BUSINESS_LIMIT_CONTROL", False)
    assert len(state.sms_calls()) == 3


async def test_sms_calls_view_lists_the_sends_to_one_number(emulator, http):
    client = sms_client(emulator)
    await client.send("13800138000", "SMS_100", {"ref": "T1"}, out_id="o1")
    await client.send("+8613900139000", "SMS_100", {"ref": "T2"}, out_id="o2")

    listed = (await http.get("/_emulator/sms/_calls", params={"phone": "13900139000"})).json()

    assert [(c["kind"], c["phone"], c["params"]) for c in listed] == [
        ("sms", "13900139000", {"ref": "T2"})
    ]


async def test_sms_fail_control_endpoint_refuses_the_next_send(emulator, http):
    await http.post("/_emulator/sms/_control/fail", json={"code": "isv.AMOUNT_NOT_ENOUGH"})

    with pytest.raises(SmsError) as raised:
        await sms_client(emulator).send("13800138000", "SMS_100", {}, out_id="o1")

    assert raised.value.code == "isv.AMOUNT_NOT_ENOUGH"
