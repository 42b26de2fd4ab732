"""AliyunSms (the real aliyun-python-sdk-core) against the SMS emulator over loopback HTTP."""

from __future__ import annotations

import pytest

from server.adapters.emulators import EmulatorState
from server.adapters.sms_aliyun import AliyunSms, SmsError
from tests.support.servers import free_port

KEY_ID, KEY_SECRET = "test-key-id", "test-key-secret"


@pytest.fixture
def state(emulator: tuple[str, EmulatorState]) -> EmulatorState:
    emulator[1].sms_access_keys[KEY_ID] = KEY_SECRET
    return emulator[1]


def sms_client(emulator: tuple[str, EmulatorState], secret: str = KEY_SECRET) -> AliyunSms:
    return AliyunSms(
        endpoint=f"{emulator[0]}/_emulator/sms",
        access_key_id=KEY_ID,
        access_key_secret=secret,
        sign_name="物业服务",
    )


async def test_send_succeeds_and_is_recorded_with_params(emulator, state):
    biz_id = await sms_client(emulator).send(
        "13800138000", "SMS_100", {"ref": "T1042", "time": "14:00"}, out_id="outbox-9"
    )

    [call] = state.sms_calls(phone="13800138000")
    assert call["biz_id"] == biz_id
    assert (call["sign_name"], call["template_code"], call["params"], call["out_id"]) == (
        "物业服务",
        "SMS_100",
        {"ref": "T1042", "time": "14:00"},
        "outbox-9",
    )
    assert call["payload"]["PhoneNumbers"] == "13800138000"


async def test_wrong_secret_is_refused_by_the_signature_check(emulator, state):
    with pytest.raises(SmsError) as raised:
        await sms_client(emulator, secret="not-the-secret").send(
            "13800138000", "SMS_100", {"ref": "T1"}, out_id="o1"
        )

    assert (raised.value.code, raised.value.transient) == ("SignatureDoesNotMatch", False)
    assert state.sms_calls() == []


async def test_illegal_number_raises_with_aliyun_code(emulator, state):
    with pytest.raises(SmsError) as raised:
        await sms_client(emulator).send("0571-8888888", "SMS_100", {"ref": "T1"}, out_id="o1")

    assert (raised.value.code, raised.value.transient) == ("isv.MOBILE_NUMBER_ILLEGAL", False)
    assert state.sms_calls() == []


async def test_forced_business_limit_is_definitive(emulator, state):
    state.sms_fail_next("isv.BUSINESS_LIMIT_CONTROL")

    with pytest.raises(SmsError) as raised:
        await sms_client(emulator).send("13800138000", "SMS_100", {"ref": "T1"}, out_id="o1")

    assert (raised.value.code, raised.value.transient) == ("isv.BUSINESS_LIMIT_CONTROL", False)


async def test_forced_failures_last_the_given_number_of_sends(emulator, state):
    state.sms_fail_next("isp.SYSTEM_ERROR", times=2)
    client = sms_client(emulator)

    outcomes = []
    for n in range(3):
        try:
            outcomes.append(await client.send("13800138000", "SMS_100", {}, out_id=f"o{n}"))
        except SmsError as exc:
            outcomes.append(exc.code)

    assert outcomes[:2] == ["isp.SYSTEM_ERROR", "isp.SYSTEM_ERROR"]
    assert len(state.sms_calls()) == 1


@pytest.mark.parametrize("code", ["Throttling.User", "isp.SYSTEM_ERROR", "ServiceUnavailable"])
async def test_throttling_and_server_errors_are_transient(emulator, state, code):
    state.sms_fail_next(code)

    with pytest.raises(SmsError) as raised:
        await sms_client(emulator).send("13800138000", "SMS_100", {"ref": "T1"}, out_id="o1")

    assert (raised.value.code, raised.value.transient) == (code, True)


async def test_unreachable_endpoint_is_transient():
    client = AliyunSms(
        endpoint=f"http://127.0.0.1:{free_port()}/_emulator/sms",
        access_key_id=KEY_ID,
        access_key_secret=KEY_SECRET,
        sign_name="物业服务",
    )

    with pytest.raises(SmsError) as raised:
        await client.send("13800138000", "SMS_100", {"ref": "T1"}, out_id="o1")

    assert raised.value.transient


def test_bare_host_endpoint_means_https_to_that_host():
    client = AliyunSms(
        endpoint="dysmsapi.aliyuncs.com",
        access_key_id=KEY_ID,
        access_key_secret=KEY_SECRET,
        sign_name="物业服务",
    )

    assert (client.domain, client.protocol) == ("dysmsapi.aliyuncs.com", "https")
