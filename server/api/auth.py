"""Mini-program sign-in: wx.login code -> jscode2session -> our own signed token."""

from __future__ import annotations

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, json

from server.actions.identity import link_miniapp_user
from server.adapters.wechat_api import WechatApiError
from server.api.access import PUBLIC, endpoint
from server.api.errors import ApiError
from server.api.tokens import issue_token

bp = Blueprint("api_auth", url_prefix="/api/v1")

LOGIN_BODY = {
    "type": "object",
    "required": ["code"],
    "properties": {
        "code": {"type": "string", "maxLength": 128},
        "phone_code": {"type": "string", "maxLength": 128},
    },
}


@endpoint(
    bp,
    "POST",
    "/auth/miniapp",
    allow=PUBLIC,
    summary="Sign in with a wx.login code",
    body=LOGIN_BODY,
)
async def miniapp_login(request: Request) -> HTTPResponse:
    services = request.app.ctx.services
    body = request.ctx.body
    try:
        session = await services.miniapp.code_to_session(body["code"])
    except WechatApiError as exc:
        raise ApiError(400, "bad_code", "the login code is invalid or already used") from exc
    openid = session["openid"]
    # session_key stays on the server: it decrypts mini-program data and must never reach clients.
    await services.redis.set(
        f"{services.settings.redis_prefix}miniapp:session:{openid}",
        session["session_key"],
        ex=3 * 24 * 3600,
    )
    phone = None
    if body.get("phone_code"):
        try:
            phone = await services.miniapp.get_user_phone_number(body["phone_code"])
        except WechatApiError as exc:
            raise ApiError(400, "bad_phone_code", "the phone authorization is invalid") from exc
    user = await link_miniapp_user(openid, session.get("unionid"), phone)
    claims = {"kind": user.kind, "id": user.id, "openid": openid}
    token = issue_token(services.settings.secret_key, claims, services.settings.token_ttl_s)
    return json(
        {"token": token, "expires_in": services.settings.token_ttl_s, "user": user.as_json()}
    )
