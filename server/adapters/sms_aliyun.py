"""Aliyun SMS (dysmsapi SendSms, RPC style 2017-05-25) through aliyun-python-sdk-core."""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import urlsplit

from aliyunsdkcore.acs_exception.exceptions import ClientException, ServerException
from aliyunsdkcore.client import AcsClient
from aliyunsdkcore.http import protocol_type
from aliyunsdkcore.request import CommonRequest

API_VERSION = "2017-05-25"
# Codes worth retrying later with back-off. isv.BUSINESS_LIMIT_CONTROL is NOT one of them: it is
# Aliyun's per-number flow control (e.g. 1/min, 5/h, 10/day for one number), so retrying only
# burns the quota; the notification router falls back to another channel instead.
_TRANSIENT_CODES = frozenset(
    {
        "isp.SYSTEM_ERROR",
        "isp.GATEWAY_ERROR",
        "isp.UNKNOWN",
        "ServiceUnavailable",
        "InternalError",
        "SignatureNonceUsed",
        "SDK.HttpError",
        "SDK.TimeoutError",
    }
)
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


class SmsError(Exception):
    """SendSms failed: `code` is Aliyun's Code (isv.MOBILE_NUMBER_ILLEGAL, ...) or an SDK code."""

    def __init__(self, code: str, message: str, *, http_status: int | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.http_status = http_status

    @property
    def transient(self) -> bool:
        """True for throttling, 5xx and transport failures; business refusals are definitive."""
        if self.code in _TRANSIENT_CODES or self.code.startswith("Throttling"):
            return True
        return self.http_status is not None and self.http_status >= 500


class AliyunSms:
    """Sends template SMS; the SDK is synchronous, so each send runs in a worker thread."""

    def __init__(
        self,
        *,
        endpoint: str,
        access_key_id: str,
        access_key_secret: str,
        sign_name: str,
        connect_timeout_s: int = 3,
        read_timeout_s: int = 10,
    ) -> None:
        self.sign_name = sign_name
        self.domain, self.protocol = _split_endpoint(endpoint)
        host = urlsplit(f"//{self.domain}").hostname or ""
        self._client = AcsClient(
            access_key_id,
            access_key_secret,
            region_id="cn-hangzhou",
            # No SDK retries: SendSms is not idempotent, retries belong to the outbox (own key).
            auto_retry=False,
            connect_timeout=connect_timeout_s,
            timeout=read_timeout_s,
            # The SDK applies HTTP(S)_PROXY itself and ignores NO_PROXY: never proxy loopback.
            proxy={"http": None, "https": None} if host in _LOOPBACK_HOSTS else None,
        )

    async def send(
        self, phone: str, template_code: str, params: dict[str, str], *, out_id: str
    ) -> str:
        """Send one template SMS and return Aliyun's BizId (the key of later delivery reports)."""
        return await asyncio.to_thread(self._send_sync, phone, template_code, params, out_id)

    def _request(
        self, phone: str, template_code: str, params: dict[str, str], out_id: str
    ) -> CommonRequest:
        request = CommonRequest()
        request.set_accept_format("json")
        # An explicit domain skips the SDK's endpoint resolution; for the emulator it carries a
        # port and a path ("127.0.0.1:PORT/_emulator/sms"): the SDK appends "/?<signed query>".
        # The RPC signature always signs the path as "/", so the emulator verifies it the same way.
        request.set_domain(self.domain)
        request.set_protocol_type(self.protocol)
        request.set_method("POST")
        request.set_version(API_VERSION)
        request.set_action_name("SendSms")
        request.add_query_param("PhoneNumbers", phone)
        request.add_query_param("SignName", self.sign_name)
        request.add_query_param("TemplateCode", template_code)
        # Aliyun wants string values only ({"code":"123456"}, not {"code":123456}).
        request.add_query_param(
            "TemplateParam", json.dumps({k: str(v) for k, v in params.items()}, ensure_ascii=False)
        )
        request.add_query_param("OutId", out_id)
        return request

    def _send_sync(
        self, phone: str, template_code: str, params: dict[str, str], out_id: str
    ) -> str:
        request = self._request(phone, template_code, params, out_id)
        try:
            raw = self._client.do_action_with_exception(request)
        except ServerException as exc:
            raise SmsError(
                str(exc.get_error_code()),
                str(exc.get_error_msg()),
                http_status=exc.get_http_status(),
            ) from exc
        except ClientException as exc:
            raise SmsError(str(exc.get_error_code()), str(exc.get_error_msg())) from exc
        try:
            body: dict[str, Any] = json.loads(raw)
        except ValueError as exc:
            raise SmsError(
                "InvalidResponse", "SendSms answered with non-JSON", http_status=200
            ) from exc
        # A refusal comes back as HTTP 200 with Code != "OK": the SDK does not raise for it.
        code = str(body.get("Code", ""))
        if code != "OK":
            raise SmsError(code or "Unknown", str(body.get("Message", "")), http_status=200)
        return str(body["BizId"])


def _split_endpoint(endpoint: str) -> tuple[str, str]:
    """`dysmsapi.aliyuncs.com` -> (host, https); `http://127.0.0.1:80/x/sms` -> (rest, http)."""
    # The SDK compares the protocol with `is`: pass its own constants, never a parsed string.
    if "://" not in endpoint:
        return endpoint.rstrip("/"), protocol_type.HTTPS
    parts = urlsplit(endpoint)
    scheme = protocol_type.HTTP if parts.scheme == "http" else protocol_type.HTTPS
    return (parts.netloc + parts.path).rstrip("/"), scheme
