"""WeChat server-API emulator: the endpoints wuye calls, answering the way api.weixin.qq.com does.

Mounted at /_emulator/wechat, so `WECHAT_API_BASE=http://HOST:PORT/_emulator/wechat` makes the
real client talk to it. Errors are `{"errcode", "errmsg"}` with HTTP 200, as WeChat sends them.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable
from functools import partial
from typing import Any

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, raw
from sanic.response import json as json_response

from server.adapters.emulators.state import (
    EmulatorState,
    IssuedToken,
    normalize_path,
    session_view,
)

PREFIX = "/_emulator/wechat"
TOKEN_PATHS = frozenset({"/cgi-bin/stable_token", "/cgi-bin/token"})
CLIENT_MSG_ID_WINDOW_S = 600  # template/send dedupes openid + client_msg_id for 10 minutes

ERRMSG = {
    -1: "system error",
    40001: "invalid credential, access_token is invalid or not latest",
    40002: "invalid grant_type",
    40003: "invalid openid",
    40007: "invalid media_id",
    40013: "invalid appid",
    40014: "invalid access_token",
    40029: "invalid code",
    40037: "invalid template_id",
    40125: "invalid appsecret",
    40163: "code been used",
    41001: "access_token missing",
    41002: "appid missing",
    41004: "appsecret missing",
    41008: "missing code",
    42001: "access_token expired",
    43101: "user refuse to accept the msg",
    44004: "empty content",
    45009: "reach max api daily quota limit",
    45015: "response out of time limit or subscription is canceled",
    47001: "data format error",
    47003: "argument invalid!",
}

# Subscribe-message value limits by key type (mini-program subscribe message docs): WeChat
# refuses longer values with 47003, unlike official-account template messages, which truncate.
SUBSCRIBE_LIMITS = {
    "thing": 20,
    "number": 32,
    "letter": 32,
    "symbol": 5,
    "character_string": 32,
    "phone_number": 17,
    "car_number": 8,
    "name": 20,
    "phrase": 5,
    "amount": 11,
}
_KEY_TYPE = re.compile(r"^([a-z_]+?)\d+$")
CUSTOM_MSGTYPES = frozenset(
    {"text", "image", "voice", "video", "music", "news", "mpnews", "msgmenu", "miniprogrampage"}
)

Reply = dict[str, Any] | HTTPResponse
Handler = Callable[[Request, str | None], Reply]


def wechat_blueprint(state: EmulatorState) -> Blueprint:
    """Routes of the WeChat emulator bound to `state`."""
    bp = Blueprint("emulator_wechat", url_prefix=PREFIX)
    bp.ctx.state = state

    def api(path: str, method: str, *, needs_token: bool = True) -> Callable[[Handler], Handler]:
        """Register an API route: forced failures first, then the token check, then `handler`."""

        def register(handler: Handler) -> Handler:
            async def route(request: Request) -> HTTPResponse:
                appid = None if needs_token else _caller_appid(request)
                if path in TOKEN_PATHS:
                    state.token_fetch_log.append(
                        {"appid": appid, "path": path, "time": state.clock()}
                    )
                reply = _forced(state, path)
                if reply is None and needs_token:
                    appid, reply = _check_token(state, request.args.get("access_token"))
                if reply is None:
                    reply = handler(request, appid)
                return _finish(state, path, appid, reply)

            bp.add_route(route, path, methods=[method], name=re.sub(r"\W", "_", path.strip("/")))
            return handler

        return register

    @api("/cgi-bin/stable_token", "POST", needs_token=False)
    def stable_token(request: Request, appid: str | None) -> Reply:
        body = _body(request)
        if body is None:
            return _error(47001)
        refused = _check_app(state, body.get("grant_type"), body.get("appid"), body.get("secret"))
        if refused:
            return refused
        app = str(body["appid"])
        now = state.clock()
        current = _current_token(state, app)
        if current and body.get("force_refresh"):
            current[1].revoked = True  # force mode invalidates the previous token at once
        elif current and current[1].expires_at - now > 300:
            # Normal mode hands back the still-valid token rather than rotating it; within its
            # last 5 minutes it issues the next one while the old keeps working until expiry.
            token, issued = current
            return {"access_token": token, "expires_in": int(issued.expires_at - now)}
        return _issue(state, app)

    @api("/cgi-bin/token", "GET", needs_token=False)
    def classic_token(request: Request, appid: str | None) -> Reply:
        args = request.args
        refused = _check_app(state, args.get("grant_type"), args.get("appid"), args.get("secret"))
        if refused:
            return refused
        app = str(args.get("appid"))
        # Each classic fetch rotates the token; the previous one keeps working for 5 minutes.
        grace = state.clock() + 300
        for issued in state.tokens.values():
            if issued.appid == app:
                issued.expires_at = min(issued.expires_at, grace)
        return _issue(state, app)

    @api("/cgi-bin/message/template/send", "POST")
    def template_send(request: Request, appid: str | None) -> Reply:
        body = _body(request)
        if body is None:
            return _error(47001)
        refused = _check_touser(state, body) or _check_template(body, limits=None)
        if refused:
            return refused
        # "对于同一个openid + client_msg_id, 只发送一条消息, 10分钟有效": a retried send with the
        # same client_msg_id within 10 minutes is answered with the first msgid, not sent again.
        dedupe = (body["touser"], str(body.get("client_msg_id") or ""))
        first = state.template_client_ids.get(dedupe) if dedupe[1] else None
        if first is not None and state.clock() - first[1] < CLIENT_MSG_ID_WINDOW_S:
            return {"errcode": 0, "errmsg": "ok", "msgid": first[0]}
        msgid = _record(state, "template", appid, body)
        if dedupe[1]:
            state.template_client_ids[dedupe] = (msgid, state.clock())
        return {"errcode": 0, "errmsg": "ok", "msgid": msgid}

    @api("/cgi-bin/message/custom/send", "POST")
    def custom_send(request: Request, appid: str | None) -> Reply:
        body = _body(request)
        if body is None:
            return _error(47001)
        refused = _check_touser(state, body)
        if refused:
            return refused
        msgtype = body.get("msgtype")
        if msgtype not in CUSTOM_MSGTYPES or not isinstance(body.get(msgtype), dict):
            return _error(47001)
        if msgtype == "text" and not str(body["text"].get("content") or "").strip():
            return _error(44004)
        _record(state, "custom", appid, body)
        return {"errcode": 0, "errmsg": "ok"}

    @api("/cgi-bin/message/subscribe/send", "POST")
    def subscribe_send(request: Request, appid: str | None) -> Reply:
        body = _body(request)
        if body is None:
            return _error(47001)
        refused = _check_touser(state, body) or _check_template(body, limits=SUBSCRIBE_LIMITS)
        if refused:
            return refused
        msgid = _record(state, "subscribe", appid, body)
        return {"errcode": 0, "errmsg": "ok", "msgid": msgid}

    @api("/cgi-bin/message/subscribe/bizsend", "POST")
    def subscribe_bizsend(request: Request, appid: str | None) -> Reply:
        # Official-account subscription notification: same typed-value limits as subscribe/send.
        body = _body(request)
        if body is None:
            return _error(47001)
        refused = _check_touser(state, body) or _check_template(body, limits=SUBSCRIBE_LIMITS)
        if refused:
            return refused
        msgid = _record(state, "bizsend", appid, body)
        return {"errcode": 0, "errmsg": "ok", "msgid": msgid}

    @api("/cgi-bin/media/get", "GET")
    def media_get(request: Request, appid: str | None) -> Reply:
        media = state.media.get(request.args.get("media_id") or "")
        if media is None:
            # WeChat labels this JSON error text/plain; clients must look inside.
            return _error(40007)
        content, content_type = media
        media_id = request.args.get("media_id")
        return raw(
            content,
            content_type=content_type,
            headers={"Content-Disposition": f'attachment; filename="{media_id}"'},
        )

    @api("/sns/jscode2session", "GET", needs_token=False)
    def jscode2session(request: Request, appid: str | None) -> Reply:
        args = request.args
        if args.get("grant_type") != "authorization_code":
            return _error(40002)
        refused = _check_app(state, "client_credential", args.get("appid"), args.get("secret"))
        if refused:
            return refused
        code = args.get("js_code") or ""
        if not code:
            return _error(41008)
        if code in state.used_codes:
            return _error(40163)
        state.used_codes.add(code)
        session = state.sessions.get(code)
        if session is None:  # unregistered: a stable identity derived from the code
            view = state.register_code(code)
            state.used_codes.add(code)
            return view
        return session_view(session)

    @api("/wxa/business/getuserphonenumber", "POST")
    def phone_number(request: Request, appid: str | None) -> Reply:
        body = _body(request) or {}
        code = str(body.get("code") or "")
        phone = state.phone_codes.get(code)
        if phone is None or code in state.used_phone_codes:
            return _error(40029)
        state.used_phone_codes.add(code)
        return {
            "errcode": 0,
            "errmsg": "ok",
            "phone_info": {
                "phoneNumber": phone,
                "purePhoneNumber": phone,
                "countryCode": "86",
                "watermark": {"timestamp": int(state.clock()), "appid": appid},
            },
        }

    # -- control and views (not WeChat API) ---------------------------------------------------

    @bp.post("/_control/fail", name="control_fail")
    async def control_fail(request: Request) -> HTTPResponse:
        body = _body(request) or {}
        if not body.get("path") or not isinstance(body.get("errcode"), int):
            return _json({"error": "need path and integer errcode"}, status=400)
        state.fail_next(
            str(body["path"]),
            int(body["errcode"]),
            int(body.get("times", 1)),
            errmsg=body.get("errmsg"),
            http_status=int(body.get("http_status", 200)),
        )
        return _json({"ok": True, "path": normalize_path(str(body["path"]))})

    @bp.post("/_control/expire_tokens", name="control_expire_tokens")
    async def control_expire(request: Request) -> HTTPResponse:
        state.expire_tokens((_body(request) or {}).get("appid"))
        return _json({"ok": True})

    @bp.post("/_control/code", name="control_code")
    async def control_code(request: Request) -> HTTPResponse:
        body = _body(request) or {}
        if not body.get("code"):
            return _json({"error": "need code"}, status=400)
        session = state.register_code(
            str(body["code"]), openid=body.get("openid"), unionid=body.get("unionid")
        )
        return _json(session)

    @bp.post("/_control/phone_code", name="control_phone_code")
    async def control_phone_code(request: Request) -> HTTPResponse:
        body = _body(request) or {}
        if not body.get("code") or not body.get("phone"):
            return _json({"error": "need code and phone"}, status=400)
        state.register_phone_code(str(body["code"]), str(body["phone"]))
        return _json({"ok": True})

    @bp.post("/_control/media", name="control_media")
    async def control_media(request: Request) -> HTTPResponse:
        media_id = request.args.get("media_id") or secrets.token_urlsafe(24)
        content_type = request.headers.get("content-type", "application/octet-stream")
        state.register_media(media_id, request.body, content_type)
        return _json({"media_id": media_id})

    @bp.post("/_control/reset", name="control_reset")
    async def control_reset(request: Request) -> HTTPResponse:
        state.reset()
        return _json({"ok": True})

    @bp.get("/_calls", name="calls")
    async def calls(request: Request) -> HTTPResponse:
        return _json(state.calls(kind=request.args.get("kind"), openid=request.args.get("openid")))

    return bp


# -- helpers ----------------------------------------------------------------------------------


def _json(body: Any, status: int = 200) -> HTTPResponse:
    return json_response(body, status=status, dumps=partial(json.dumps, ensure_ascii=False))


def _error(errcode: int, detail: str = "") -> dict[str, Any]:
    # Real errmsgs end with a request id ("rid: ..."), which people quote to WeChat support.
    message = ERRMSG.get(errcode, "error") + (f" {detail}" if detail else "")
    return {"errcode": errcode, "errmsg": f"{message} rid: {secrets.token_hex(12)}"}


def _body(request: Request) -> dict[str, Any] | None:
    try:
        data = json.loads(request.body or b"{}")
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _caller_appid(request: Request) -> str | None:
    appid = (
        request.args.get("appid")
        if request.method == "GET"
        else (_body(request) or {}).get("appid")
    )
    return str(appid) if appid else None


def _forced(state: EmulatorState, path: str) -> Reply | None:
    failure = state.take_failure(path)
    if failure is None:
        return None
    if failure.http_status >= 400:
        return raw(b"upstream error", status=failure.http_status, content_type="text/plain")
    reply = _error(failure.errcode)
    if failure.errmsg:
        reply["errmsg"] = failure.errmsg
    return reply


def _check_token(state: EmulatorState, token: str | None) -> tuple[str | None, Reply | None]:
    if not token:
        return None, _error(41001)
    issued = state.tokens.get(token)
    if issued is None or issued.revoked:
        return None, _error(40001)
    if issued.expires_at <= state.clock():
        return issued.appid, _error(42001)
    return issued.appid, None


def _check_app(
    state: EmulatorState, grant_type: Any, appid: Any, secret: Any
) -> dict[str, Any] | None:
    if grant_type != "client_credential":
        return _error(40002)
    if not appid:
        return _error(41002)
    if not secret:
        return _error(41004)
    if state.apps:
        if appid not in state.apps:
            return _error(40013)
        if state.apps[appid] != secret:
            return _error(40125)
    return None


def _current_token(state: EmulatorState, appid: str) -> tuple[str, IssuedToken] | None:
    now = state.clock()
    for token, issued in reversed(state.tokens.items()):
        if issued.appid == appid and not issued.revoked and issued.expires_at > now:
            return token, issued
    return None


def _issue(state: EmulatorState, appid: str) -> dict[str, Any]:
    token = "EMU_" + secrets.token_urlsafe(48)
    state.tokens[token] = IssuedToken(appid=appid, expires_at=state.clock() + state.token_ttl_s)
    return {"access_token": token, "expires_in": state.token_ttl_s}


def _check_touser(state: EmulatorState, body: dict[str, Any]) -> dict[str, Any] | None:
    touser = body.get("touser")
    if not isinstance(touser, str) or not touser:
        return _error(40003)
    if state.known_openids is not None and touser not in state.known_openids:
        return _error(40003)
    return None


def _check_template(
    body: dict[str, Any], *, limits: dict[str, int] | None
) -> dict[str, Any] | None:
    if not body.get("template_id"):
        return _error(40037)
    data = body.get("data")
    if not isinstance(data, dict) or not data:
        return _error(47003, "data is empty")
    for key, item in data.items():
        value = item.get("value") if isinstance(item, dict) else None
        if not isinstance(value, str) or not value:
            return _error(47003, f"data.{key}.value is empty")
        match = _KEY_TYPE.match(key)
        limit = (limits or {}).get(match.group(1)) if match else None
        if limit is not None and len(value) > limit:
            return _error(47003, f"data.{key}.value invalid")
    return None


def _record(state: EmulatorState, kind: str, appid: str | None, body: dict[str, Any]) -> int:
    msgid = 2_000_000_000 + len(state.sends) + 1
    state.sends.append(
        {
            "kind": kind,
            "appid": appid,
            "openid": body["touser"],
            "payload": body,
            "msgid": msgid,
            "time": state.clock(),
        }
    )
    return msgid


def _finish(state: EmulatorState, path: str, appid: str | None, reply: Reply) -> HTTPResponse:
    if isinstance(reply, HTTPResponse):
        errcode = 0 if reply.status < 400 else reply.status
        response = reply
    else:
        errcode = int(reply.get("errcode") or 0)
        # jscode2session and media/get errors come back labelled text/plain, like WeChat's.
        plain = path == "/sns/jscode2session" or (path == "/cgi-bin/media/get" and errcode)
        response = json_response(
            reply,
            content_type="text/plain" if plain else "application/json",
            dumps=partial(json.dumps, ensure_ascii=False),
        )
    state.requests.append({"path": path, "appid": appid, "errcode": errcode, "time": state.clock()})
    return response
