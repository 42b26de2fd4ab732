"""The long-lived clients a process needs, built from settings in one place."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from server import db
from server.adapters.http import HttpClient, new_http_client
from server.adapters.redis import Redis, connect_redis
from server.adapters.sms_aliyun import AliyunSms
from server.adapters.wechat_api import WechatApi
from server.settings import Settings


@dataclass
class Services:
    """Shared by handlers through `app.ctx.services`; tests build one and inject it."""

    settings: Settings
    redis: Redis
    http: HttpClient
    wechat: WechatApi
    miniapp: WechatApi
    sms: AliyunSms
    owns_db: bool = False
    extras: dict[str, Any] = field(default_factory=dict)

    @classmethod
    async def start(cls, settings: Settings, *, connect_db: bool = True) -> Services:
        if connect_db:
            await db.connect(settings.database_url)
        redis = connect_redis(settings.redis_url)
        http = new_http_client()
        base = settings.effective_wechat_api_base
        return cls(
            settings=settings,
            redis=redis,
            http=http,
            wechat=WechatApi(
                base_url=base,
                appid=settings.wechat_appid,
                secret=settings.wechat_secret,
                redis=redis,
                http=http,
                key_prefix=settings.redis_prefix,
            ),
            miniapp=WechatApi(
                base_url=base,
                appid=settings.miniapp_appid,
                secret=settings.miniapp_secret,
                redis=redis,
                http=http,
                key_prefix=settings.redis_prefix,
            ),
            sms=AliyunSms(
                endpoint=settings.effective_sms_endpoint,
                access_key_id=settings.sms_access_key_id,
                access_key_secret=settings.sms_access_key_secret,
                sign_name=settings.sms_sign_name,
            ),
            owns_db=connect_db,
        )

    async def close(self) -> None:
        await self.http.aclose()
        await self.redis.aclose()
        if self.owns_db:
            await db.close()
