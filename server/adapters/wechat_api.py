"""Async WeChat server-API client (official account and mini-program) with a shared access_token.

Only the handful of endpoints wuye uses; wechatpy's own client is synchronous and hard-codes the
token host (see STACK-NOTES.md), so outbound calls go through httpx against a configurable base
(the built-in emulator or https://api.weixin.qq.com).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import httpx
import redis.asyncio as aioredis

# 40001 invalid credential, 42001 expired, 40014 invalid access_token: the token we hold is no
# longer good (another holder force-refreshed it, it expired early, or the cache is stale).
# WeChat's guidance is to fetch a fresh token and retry once.
TOKEN_INVALID_CODES = frozenset({40001, 42001, 40014})
# -1 "system busy", 45009 daily quota (resets; the outbox retries later), 45011 minute quota.
TRANSIENT_CODES = frozenset({-1, 45009, 45011})

# Compare-and-delete: release a lock only if we still own it, and drop a cached token only if
# it is still the one that failed (a newer token written by another process must survive).
_COMPARE_AND_DELETE = """
if redis.call("get", KEYS[1]) == ARGV[1] then
    return redis.call("del", KEYS[1])
end
return 0
"""


class WechatApiError(Exception):
    """A WeChat refusal (errcode != 0) or a transport failure (errcode -1 or the HTTP status)."""

    def __init__(self, errcode: int, errmsg: str) -> None:
        super().__init__(f"{errcode} {errmsg}")
        self.errcode = errcode
        self.errmsg = errmsg

    @property
    def transient(self) -> bool:
        """True when the same call may succeed later (busy, quota, 5xx, timeout): retry it."""
        return self.errcode in TRANSIENT_CODES or 500 <= self.errcode <= 599


class WechatApi:
    """One WeChat account (appid); every process with the same Redis shares one access_token."""

    def __init__(
        self,
        *,
        base_url: str,
        appid: str,
        secret: str,
        redis: aioredis.Redis,
        http: httpx.AsyncClient,
        key_prefix: str = "wuye:",
        token_margin_s: int = 300,
        lock_ttl_s: float = 10.0,
        lock_wait_s: float = 15.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.appid = appid
        self.secret = secret
        self.redis = redis
        self.http = http
        self.token_key = f"{key_prefix}wechat:access_token:{appid}"
        self.lock_key = f"{key_prefix}wechat:access_token_lock:{appid}"
        self.token_margin_s = token_margin_s
        self.lock_ttl_s = lock_ttl_s
        self.lock_wait_s = lock_wait_s
        self._compare_and_delete = redis.register_script(_COMPARE_AND_DELETE)
        self._refreshing: asyncio.Future[str] | None = None

    # -- access_token -------------------------------------------------------------------------

    async def access_token(self) -> str:
        """The cached token, or a fresh one fetched by exactly one caller across all processes."""
        cached = _text(await self.redis.get(self.token_key))
        if cached:
            return cached
        # Callers in this process share one refresh; processes coordinate through the Redis lock.
        if self._refreshing is None or self._refreshing.done():
            self._refreshing = asyncio.ensure_future(self._refresh())
        return await asyncio.shield(self._refreshing)

    async def _refresh(self) -> str:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.lock_wait_s
        pause = 0.005
        while True:
            cached = _text(await self.redis.get(self.token_key))
            if cached:
                return cached
            owner = uuid.uuid4().hex
            if await self.redis.set(self.lock_key, owner, nx=True, px=int(self.lock_ttl_s * 1000)):
                try:
                    # Another process may have stored a token between our GET and our SET NX.
                    cached = _text(await self.redis.get(self.token_key))
                    if cached:
                        return cached
                    token, expires_in = await self._fetch_token()
                    await self.redis.set(self.token_key, token, ex=self._cache_ttl(expires_in))
                    return token
                finally:
                    await self._compare_and_delete(keys=[self.lock_key], args=[owner])
            if loop.time() >= deadline:
                raise WechatApiError(-1, "timed out waiting for another process to fetch the token")
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.1)

    def _cache_ttl(self, expires_in: int) -> int:
        # Stop using a token well before WeChat does; stable_token guarantees expires_in >= 300
        # ("普通模式下平台会提前5分钟更新access_token"), so keep at least half of it.
        return max(expires_in - self.token_margin_s, expires_in // 2, 1)

    async def _fetch_token(self) -> tuple[str, int]:
        # stable_token, not cgi-bin/token: in normal mode it returns the token that is already
        # valid instead of minting a new one, so a fetch never invalidates the token other holders
        # (other deployments, ops scripts) still use; cgi-bin/token rotates it on every call.
        # https://developers.weixin.qq.com/doc/service/api/base/api_getstableaccesstoken
        data = await self._request(
            "POST",
            "/cgi-bin/stable_token",
            body={"grant_type": "client_credential", "appid": self.appid, "secret": self.secret},
        )
        token = data.get("access_token")
        if not isinstance(token, str) or not token:
            raise WechatApiError(-1, "token response without access_token")
        return token, int(data.get("expires_in", 7200))

    async def _invalidate(self, failed_token: str) -> None:
        await self._compare_and_delete(keys=[self.token_key], args=[failed_token])

    # -- transport ----------------------------------------------------------------------------

    async def _request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        body: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        response = await self._send(method, path, params=params, body=body)
        return _json_result(response)

    async def _send(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        body: dict[str, Any] | None = None,
    ) -> httpx.Response:
        headers, content = {}, None
        if body is not None:
            # UTF-8 JSON without \u escapes, as wechatpy sends it: some WeChat endpoints store the
            # escapes literally instead of decoding them.
            content = json.dumps(body, ensure_ascii=False).encode("utf-8")
            headers["Content-Type"] = "application/json; charset=utf-8"
        try:
            response = await self.http.request(
                method, self.base_url + path, params=params, content=content, headers=headers
            )
        except httpx.HTTPError as exc:
            raise WechatApiError(-1, f"transport error: {exc!r}") from exc
        if response.status_code >= 400:
            raise WechatApiError(response.status_code, f"HTTP {response.status_code}")
        return response

    async def _call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        body: dict[str, Any] | None = None,
        raw: bool = False,
    ) -> Any:
        """Call with the shared token; on a token error refresh and retry exactly once."""
        for attempt in (1, 2):
            token = await self.access_token()
            try:
                response = await self._send(
                    method, path, params={**(params or {}), "access_token": token}, body=body
                )
                return _media_result(response) if raw else _json_result(response)
            except WechatApiError as exc:
                if exc.errcode in TOKEN_INVALID_CODES and attempt == 1:
                    await self._invalidate(token)
                    continue
                raise
        raise AssertionError("unreachable")  # pragma: no cover

    # -- official account messages ------------------------------------------------------------

    async def send_template(
        self,
        openid: str,
        template_id: str,
        data: dict[str, str],
        *,
        url: str | None = None,
        miniprogram: dict[str, Any] | None = None,
        client_msg_id: str | None = None,
    ) -> dict[str, Any]:
        """Template message; client_msg_id lets WeChat drop a duplicate of a retried send."""
        body: dict[str, Any] = {
            "touser": openid,
            "template_id": template_id,
            "data": {key: {"value": value} for key, value in data.items()},
        }
        if url is not None:
            body["url"] = url
        if miniprogram is not None:
            body["miniprogram"] = miniprogram
        if client_msg_id is not None:
            body["client_msg_id"] = client_msg_id
        result: dict[str, Any] = await self._call(
            "POST", "/cgi-bin/message/template/send", body=body
        )
        return result

    async def send_custom_text(self, openid: str, text: str) -> dict[str, Any]:
        """Customer-service text; refused (45015) outside 48 h of the user's last message."""
        body = {"touser": openid, "msgtype": "text", "text": {"content": text}}
        result: dict[str, Any] = await self._call("POST", "/cgi-bin/message/custom/send", body=body)
        return result

    async def download_media(self, media_id: str) -> tuple[bytes, str]:
        """Bytes and content type of a temporary media item (photos and voice users send us)."""
        result: tuple[bytes, str] = await self._call(
            "GET", "/cgi-bin/media/get", params={"media_id": media_id}, raw=True
        )
        return result

    # -- mini-program -------------------------------------------------------------------------

    async def send_subscribe(
        self, openid: str, template_id: str, data: dict[str, str], *, page: str | None = None
    ) -> dict[str, Any]:
        """Mini-program subscribe message: one send per authorization the user granted."""
        body: dict[str, Any] = {
            "touser": openid,
            "template_id": template_id,
            "data": {key: {"value": value} for key, value in data.items()},
        }
        if page is not None:
            body["page"] = page
        result: dict[str, Any] = await self._call(
            "POST", "/cgi-bin/message/subscribe/send", body=body
        )
        return result

    async def send_subscribe_biz(
        self,
        openid: str,
        template_id: str,
        data: dict[str, str],
        *,
        miniprogram: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Official-account subscription notification (订阅通知): one send per popup accept."""
        # https://developers.weixin.qq.com/doc/service/api/notify/notify/api_sendnewsubscribemsg.html
        body: dict[str, Any] = {
            "touser": openid,
            "template_id": template_id,
            "data": {key: {"value": value} for key, value in data.items()},
        }
        if miniprogram is not None:
            body["miniprogram"] = miniprogram
        result: dict[str, Any] = await self._call(
            "POST", "/cgi-bin/message/subscribe/bizsend", body=body
        )
        return result

    async def code_to_session(self, code: str) -> dict[str, Any]:
        """Exchange a single-use wx.login code for openid, session_key and maybe unionid."""
        # jscode2session authenticates with appid+secret itself; it needs no access_token.
        return await self._request(
            "GET",
            "/sns/jscode2session",
            params={
                "appid": self.appid,
                "secret": self.secret,
                "js_code": code,
                "grant_type": "authorization_code",
            },
        )

    async def get_user_phone_number(self, phone_code: str) -> str:
        """The phone number behind a getPhoneNumber code (mainland numbers, no country code)."""
        data = await self._call(
            "POST", "/wxa/business/getuserphonenumber", body={"code": phone_code}
        )
        phone = (data.get("phone_info") or {}).get("purePhoneNumber")
        if not isinstance(phone, str) or not phone:
            raise WechatApiError(-1, "phone response without phone_info.purePhoneNumber")
        return phone


def _text(value: str | bytes | None) -> str | None:
    return value.decode() if isinstance(value, bytes) else value


def _json_result(response: httpx.Response) -> dict[str, Any]:
    # WeChat answers some endpoints (jscode2session) with text/plain JSON: parse regardless.
    try:
        data = response.json()
    except ValueError as exc:
        raise WechatApiError(-1, "response is not JSON") from exc
    if not isinstance(data, dict):
        raise WechatApiError(-1, "response is not a JSON object")
    errcode = int(data.get("errcode") or 0)
    if errcode != 0:
        raise WechatApiError(errcode, str(data.get("errmsg", "")))
    return data


def _media_result(response: httpx.Response) -> tuple[bytes, str]:
    content_type = response.headers.get("content-type", "application/octet-stream")
    # media/get answers errors as a JSON body (often labelled text/plain) instead of the file.
    if content_type.startswith(("application/json", "text/plain")):
        try:
            data = response.json()
        except ValueError:
            data = None
        if isinstance(data, dict) and int(data.get("errcode") or 0) != 0:
            raise WechatApiError(int(data["errcode"]), str(data.get("errmsg", "")))
    return response.content, content_type
