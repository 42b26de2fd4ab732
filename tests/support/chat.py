"""Talk to the bot as WeChat users do: signed (and in safe mode encrypted) pushes, text replies."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from server.settings import Settings
from tests.support.wechat import WechatPusher

# The smallest valid PNG and JPEG headers followed by padding: the photo store sniffs the bytes.
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64


@dataclass
class Chat:
    """One WeChat account's server pushing to the app; every method returns the reply text."""

    app: Any
    pusher: WechatPusher

    @classmethod
    def of(cls, app: Any, settings: Settings) -> Chat:
        return cls(app, WechatPusher.for_settings(settings))

    async def _push(self, xml: str) -> str:
        response = await self.pusher.post(self.app.asgi_client, xml)
        assert response.status == 200, response.body
        reply = self.pusher.read_reply(response.body)
        return reply["Content"] if reply else ""

    async def say(self, openid: str, text: str) -> str:
        return await self._push(self.pusher.text(openid, text))

    async def speak(self, openid: str, recognition: str) -> str:
        return await self._push(self.pusher.voice(openid, recognition))

    async def photo(self, openid: str, media_id: str) -> str:
        return await self._push(self.pusher.image(openid, media_id=media_id))

    async def location(self, openid: str, lat: float, lng: float, label: str = "") -> str:
        return await self._push(self.pusher.location(openid, lat, lng, label))

    async def follow(self, openid: str, scene: str | None = None) -> str:
        return await self._push(self.pusher.subscribe(openid, scene))
