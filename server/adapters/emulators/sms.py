"""Aliyun SMS (dysmsapi RPC 2017-05-25) emulator: verifies signatures and answers like Aliyun.

Mounted at /_emulator/sms, so `SMS_ENDPOINT=http://HOST:PORT/_emulator/sms` makes the real SDK
(aliyun-python-sdk-core) talk to it. Checks follow Aliyun's RPC rules: signature v1
(HMAC-SHA1 over the canonicalized query, key = secret + "&"), timestamp window, single-use
SignatureNonce; then SendSms's own business checks, answered as HTTP 200 with Code != "OK".
(Aliyun OpenAPI docs, "RPC signature mechanism").
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import uuid
from datetime import UTC, datetime
from functools import partial
from typing import Any
from urllib.parse import parse_qsl, quote

from sanic import Blueprint, Request
from sanic.response import HTTPResponse
from sanic.response import json as json_response

from server.adapters.emulators.state import EmulatorState

PREFIX = "/_emulator/sms"
TIMESTAMP_WINDOW_S = 15 * 60  # Aliyun refuses requests whose Timestamp is off by more
# Mainland mobile numbers, optionally with the 86 / +86 / 0086 country prefix.
MAINLAND_MOBILE = re.compile(r"^(?:\+86|0086|86)?(1[3-9]\d{9})$")
REQUIRED = (
    "AccessKeyId",
    "Signature",
    "SignatureMethod",
    "SignatureVersion",
    "SignatureNonce",
    "Timestamp",
    "Action",
    "Version",
)
MAX_NUMBERS = 1000
SEND_PARAMS = ("PhoneNumbers", "SignName", "TemplateCode", "TemplateParam", "OutId")


class SmsRefusal(Exception):
    """An Aliyun error answer: Code, Message and the HTTP status Aliyun uses for it."""

    def __init__(self, code: str, message: str, status: int = 200) -> None:
        super().__init__(code)
        self.code, self.message, self.status = code, message, status


def sms_blueprint(state: EmulatorState) -> Blueprint:
    """Routes of the SMS emulator bound to `state`."""
    bp = Blueprint("emulator_sms", url_prefix=PREFIX)
    bp.ctx.state = state

    async def endpoint(request: Request) -> HTTPResponse:
        request_id = str(uuid.uuid4()).upper()
        params = _params(request)
        try:
            body = _send_sms(state, request.method, params, request_id)
            status = 200
        except SmsRefusal as refusal:
            body = {
                "RequestId": request_id,
                "Code": refusal.code,
                "Message": refusal.message,
                "HostId": "dysmsapi.aliyuncs.com",
            }
            status = refusal.status
        state.sms_requests.append(
            {
                "phone": params.get("PhoneNumbers"),
                "code": body["Code"],
                "status": status,
                "time": state.clock(),
            }
        )
        return _json(body, status=status)

    # The SDK requests "<domain>/?<signed query>", so the mount point ends with a slash.
    bp.add_route(endpoint, "/", methods=["GET", "POST"], name="rpc", strict_slashes=False)

    @bp.post("/_control/fail", name="control_fail")
    async def control_fail(request: Request) -> HTTPResponse:
        body = _json_body(request)
        if not body.get("code"):
            return _json({"error": "need code"}, status=400)
        state.sms_fail_next(
            str(body["code"]),
            int(body.get("times", 1)),
            message=body.get("message"),
            http_status=body.get("http_status"),
        )
        return _json({"ok": True})

    @bp.post("/_control/rate_limit", name="control_rate_limit")
    async def control_rate_limit(request: Request) -> HTTPResponse:
        body = _json_body(request)
        state.sms_rate_limit(body.get("max_sends"), float(body.get("per_s", 60)))
        return _json({"ok": True})

    @bp.post("/_control/reset", name="control_reset")
    async def control_reset(request: Request) -> HTTPResponse:
        state.reset()
        return _json({"ok": True})

    @bp.get("/_calls", name="calls")
    async def calls(request: Request) -> HTTPResponse:
        phone = request.args.get("phone")
        return _json(state.sms_calls(phone=normalize_phone(phone) if phone else None))

    return bp


def _send_sms(
    state: EmulatorState, method: str, params: dict[str, str], request_id: str
) -> dict[str, Any]:
    _check_signature(state, method, params)
    if params["Action"] != "SendSms":
        raise SmsRefusal("InvalidAction.NotFound", "Specified api is not found.", 404)
    if params["Version"] != "2017-05-25":
        raise SmsRefusal("InvalidVersion", "Specified parameter Version is not valid.", 400)
    for name in ("PhoneNumbers", "SignName", "TemplateCode"):
        if name not in params:
            raise SmsRefusal(f"Missing{name}", f"{name} is mandatory for this action.", 400)

    failure = state.take_sms_failure()
    if failure is not None:
        raise SmsRefusal(
            failure.code,
            failure.message or failure.code,
            failure.http_status or _status_for(failure.code),
        )

    raw_numbers = [n.strip() for n in params["PhoneNumbers"].split(",")]
    if len(raw_numbers) > MAX_NUMBERS:
        raise SmsRefusal("isv.MOBILE_COUNT_OVER_LIMIT", "too many phone numbers in one call")
    phones = [normalize_phone(n) for n in raw_numbers]
    if not all(phones):
        raise SmsRefusal(
            "isv.MOBILE_NUMBER_ILLEGAL", "the phone number is not a mainland mobile number"
        )
    if not params["SignName"].strip():
        raise SmsRefusal(
            "isv.SMS_SIGNATURE_ILLEGAL", "the sign name is not approved for this account"
        )
    if not params["TemplateCode"].strip():
        raise SmsRefusal(
            "isv.SMS_TEMPLATE_ILLEGAL", "the template is not approved for this account"
        )
    template_params = _template_params(params.get("TemplateParam"))
    now = state.clock()
    if state.sms_limit is not None:
        max_sends, per_s = state.sms_limit
        for phone in phones:
            recent = [c for c in state.sms_sends if c["phone"] == phone and c["time"] > now - per_s]
            if len(recent) >= max_sends:
                raise SmsRefusal(
                    "isv.BUSINESS_LIMIT_CONTROL",
                    f"per-number flow control: at most {max_sends} per {per_s:g} s",
                )

    biz_id = f"{secrets.randbelow(10**17):017d}^0"
    # `payload` is what Aliyun received; the parsed fields beside it are for quick assertions.
    payload = {k: params[k] for k in SEND_PARAMS if k in params}
    for phone in phones:
        state.sms_sends.append(
            {
                "kind": "sms",
                "phone": phone,
                "sign_name": params["SignName"],
                "template_code": params["TemplateCode"],
                "params": template_params,
                "out_id": params.get("OutId"),
                "biz_id": biz_id,
                "request_id": request_id,
                "payload": payload,
                "time": now,
            }
        )
    return {"RequestId": request_id, "Code": "OK", "Message": "OK", "BizId": biz_id}


def _check_signature(state: EmulatorState, method: str, params: dict[str, str]) -> None:
    for name in REQUIRED:
        if not params.get(name):
            raise SmsRefusal(f"Missing{name}", f"{name} is mandatory for this action.", 400)
    secret = state.sms_access_keys.get(params["AccessKeyId"])
    if secret is None:
        raise SmsRefusal("InvalidAccessKeyId.NotFound", "Specified access key is not found.", 404)
    if params["SignatureMethod"] != "HMAC-SHA1" or params["SignatureVersion"] != "1.0":
        raise SmsRefusal("InvalidSignatureMethod", "Specified signature method is not valid.", 400)
    to_sign = string_to_sign(method, params)
    if not hmac.compare_digest(sign(to_sign, secret), params["Signature"]):
        # Aliyun puts its string-to-sign after the only ':' so clients can compare; the SDK
        # turns an equal string into InvalidAccessKeySecret (the secret, not the request, is bad).
        raise SmsRefusal(
            "SignatureDoesNotMatch",
            "Specified signature does not match our "
            f"calculation. server string to sign is:{to_sign}",
            400,
        )
    now = state.clock()
    try:
        sent_at = datetime.strptime(params["Timestamp"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError as exc:
        raise SmsRefusal(
            "InvalidTimeStamp.Format", "Specified time stamp is not valid.", 400
        ) from exc
    if abs(now - sent_at.timestamp()) > TIMESTAMP_WINDOW_S:
        raise SmsRefusal(
            "InvalidTimeStamp.Expired", "Specified time stamp or date value is expired.", 400
        )
    # A nonce may be used once within the timestamp window: a captured request cannot be replayed.
    state.sms_nonces = {n: t for n, t in state.sms_nonces.items() if t > now - TIMESTAMP_WINDOW_S}
    nonce = params["SignatureNonce"]
    if nonce in state.sms_nonces:
        raise SmsRefusal("SignatureNonceUsed", "Specified signature nonce was used already.", 400)
    state.sms_nonces[nonce] = now


def string_to_sign(method: str, params: dict[str, str]) -> str:
    """Aliyun RPC v1: METHOD&%2F&percent(sorted k=v pairs joined by &), RFC 3986 encoding."""
    canonical = "&".join(
        f"{_percent(k)}={_percent(v)}" for k, v in sorted(params.items()) if k != "Signature"
    )
    return f"{method.upper()}&{_percent('/')}&{_percent(canonical)}"


def sign(to_sign: str, secret: str) -> str:
    digest = hmac.new(f"{secret}&".encode(), to_sign.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def normalize_phone(number: str) -> str | None:
    """11-digit mainland mobile number, or None when Aliyun would call it illegal."""
    match = MAINLAND_MOBILE.match(number.strip())
    return match.group(1) if match else None


def _percent(value: str) -> str:
    return quote(value, safe="~")


def _template_params(raw: str | None) -> dict[str, str]:
    if raw is None or raw == "":
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        data = None
    # Aliyun accepts string values only: {"code":"123456"}, not {"code":123456}.
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise SmsRefusal(
            "isv.INVALID_JSON_PARAM", "TemplateParam must be a JSON object of string values"
        )
    return data


def _status_for(code: str) -> int:
    if code.startswith(("isv.", "isp.")):
        return 200
    if code in ("ServiceUnavailable", "InternalError"):
        return 503 if code == "ServiceUnavailable" else 500
    return 400  # Throttling.*, SignatureNonceUsed, ...


def _params(request: Request) -> dict[str, str]:
    # Raw parsing keeps blank values (they are signed too); POST may carry params in a form body.
    params = dict(parse_qsl(request.query_string, keep_blank_values=True))
    if request.method == "POST" and request.body and "json" not in request.content_type:
        params.update(parse_qsl(request.body.decode(), keep_blank_values=True))
    return params


def _json_body(request: Request) -> dict[str, Any]:
    try:
        data = json.loads(request.body or b"{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _json(body: Any, status: int = 200) -> HTTPResponse:
    return json_response(body, status=status, dumps=partial(json.dumps, ensure_ascii=False))
