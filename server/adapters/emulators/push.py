"""Build official-account pushes exactly as WeChat sends them, and read the replies back.

Plaintext mode: `?signature=&timestamp=&nonce=&openid=` and the message XML as the body.
Safe mode (消息加解密, encrypt_type=aes): the same query plus `encrypt_type=aes&msg_signature=`,
and a body holding only the account's ToUserName and the Encrypt element (AES by wechatpy).
One implementation for everything that plays WeChat's part: the chat simulator
(server/api/simulator.py), the e2e tests and the webhook benchmark.
"""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import xmltodict
from wechatpy.crypto import WeChatCrypto
from wechatpy.utils import WeChatSigner

from server.settings import Settings

ACCOUNT = "gh_0fficia1demo"  # the official account's original id, WeChat's ToUserName


def cdata(value: str) -> str:
    """Wrap a string value in CDATA, the way WeChat writes every string element."""
    # "]]>" cannot appear inside CDATA: split it across two sections as XML requires.
    return "<![CDATA[" + value.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def sign(*parts: str) -> str:
    """WeChat's signature: SHA1 over the sorted parts (token, timestamp, nonce[, Encrypt])."""
    signer = WeChatSigner()
    signer.add_data(*parts)
    return str(signer.signature)


def to_xml(fields: dict[str, str | int | float]) -> str:
    """WeChat's layout: strings in CDATA, numbers bare, one element per line."""
    lines = []
    for name, value in fields.items():
        inner = cdata(value) if isinstance(value, str) else str(value)
        lines.append(f"<{name}>{inner}</{name}>")
    return "<xml>\n" + "\n".join(lines) + "\n</xml>"


class BadReply(ValueError):
    """A reply WeChat itself would reject: wrong mode, or a bad signature/AppID in safe mode."""


@dataclass(frozen=True)
class Signed:
    """One push ready to send: the request path with its query, and the body bytes."""

    path: str
    query: dict[str, str]
    body: bytes

    @property
    def url(self) -> str:
        return f"{self.path}?{urlencode(self.query)}"


@dataclass
class WechatPusher:
    """Plays the WeChat server for one official account (token, AppID, EncodingAESKey)."""

    token: str
    appid: str
    aes_key: str = ""
    account: str = ACCOUNT
    path: str = "/wechat/official"
    clock: Callable[[], float] = time.time
    _msg_ids: itertools.count[int] = field(
        default_factory=lambda: itertools.count(random.randrange(10**18, 9 * 10**18))
    )

    @classmethod
    def for_settings(cls, settings: Settings, **kwargs: Any) -> WechatPusher:
        return cls(settings.wechat_token, settings.wechat_appid, settings.wechat_aes_key, **kwargs)

    @property
    def safe_mode(self) -> bool:
        return bool(self.aes_key)

    @property
    def crypto(self) -> WeChatCrypto:
        return WeChatCrypto(self.token, self.aes_key, self.appid)

    def next_msg_id(self) -> int:
        return next(self._msg_ids)

    # ---- message bodies (接收普通消息 / 接收事件推送) -------------------------------

    def _head(self, openid: str, msg_type: str, create_time: int | None) -> dict[str, Any]:
        return {
            "ToUserName": self.account,
            "FromUserName": openid,
            "CreateTime": int(self.clock()) if create_time is None else create_time,
            "MsgType": msg_type,
        }

    def message(
        self,
        openid: str,
        msg_type: str,
        *,
        create_time: int | None = None,
        **fields: str | int | float,
    ) -> str:
        """Any message type, fields in the order given (WeChat's own order where it matters)."""
        return to_xml(self._head(openid, msg_type, create_time) | fields)

    def text(
        self,
        openid: str,
        content: str,
        *,
        msg_id: int | None = None,
        create_time: int | None = None,
    ) -> str:
        fields = self._head(openid, "text", create_time)
        fields |= {"Content": content, "MsgId": msg_id or self.next_msg_id()}
        return to_xml(fields)

    def image(
        self,
        openid: str,
        *,
        pic_url: str = "http://mmbiz.qpic.cn/demo.jpg",
        media_id: str = "media_image_1",
        msg_id: int | None = None,
    ) -> str:
        fields = self._head(openid, "image", None)
        fields |= {"PicUrl": pic_url, "MediaId": media_id, "MsgId": msg_id or self.next_msg_id()}
        return to_xml(fields)

    def voice(
        self,
        openid: str,
        recognition: str | None,
        *,
        media_id: str = "media_voice_1",
        msg_id: int | None = None,
    ) -> str:
        fields = self._head(openid, "voice", None)
        fields |= {"MediaId": media_id, "Format": "amr"}
        if recognition is not None:  # only when speech recognition is switched on
            fields["Recognition"] = recognition
        fields["MsgId"] = msg_id or self.next_msg_id()
        return to_xml(fields)

    def location(
        self,
        openid: str,
        lat: float,
        lng: float,
        label: str,
        *,
        scale: int = 15,
        msg_id: int | None = None,
    ) -> str:
        fields = self._head(openid, "location", None)
        fields |= {
            "Location_X": lat,
            "Location_Y": lng,
            "Scale": scale,
            "Label": label,
            "MsgId": msg_id or self.next_msg_id(),
        }
        return to_xml(fields)

    def event(
        self, openid: str, event: str, *, create_time: int | None = None, **extra: str | int | float
    ) -> str:
        fields = self._head(openid, "event", create_time)
        fields["Event"] = event
        fields |= extra
        return to_xml(fields)

    def subscribe(self, openid: str, scene: str | None = None, **kw: Any) -> str:
        if scene is None:
            return self.event(openid, "subscribe", EventKey="", **kw)
        return self.event(
            openid,
            "subscribe",
            EventKey=f"qrscene_{scene}",
            Ticket="gQH47joAAAAAAAAAASxodHRwOi8v",
            **kw,
        )

    def scan(self, openid: str, scene: str, **kw: Any) -> str:
        return self.event(
            openid, "SCAN", EventKey=scene, Ticket="gQH47joAAAAAAAAAASxodHRwOi8v", **kw
        )

    def unsubscribe(self, openid: str, **kw: Any) -> str:
        return self.event(openid, "unsubscribe", EventKey="", **kw)

    def location_event(self, openid: str, lat: float, lng: float, **kw: Any) -> str:
        return self.event(openid, "LOCATION", Latitude=lat, Longitude=lng, Precision=65.0, **kw)

    def template_finished(
        self, openid: str, msg_id: int, status: str = "success", **kw: Any
    ) -> str:
        return self.event(openid, "TEMPLATESENDJOBFINISH", MsgID=msg_id, Status=status, **kw)

    # ---- signing and encryption --------------------------------------------------------

    def signed(
        self,
        xml: str,
        *,
        openid: str | None = None,
        timestamp: int | None = None,
        nonce: str | None = None,
        encrypt: bool | None = None,
        bad_signature: bool = False,
        bad_msg_signature: bool = False,
    ) -> Signed:
        """Sign (and in safe mode encrypt) `xml` as WeChat would; the flags forge a bad one."""
        ts = str(int(self.clock()) if timestamp is None else timestamp)
        nonce = nonce or str(random.randrange(10**8, 10**10))
        if openid is None:
            openid = str(xmltodict.parse(xml)["xml"]["FromUserName"])
        query = {
            "signature": sign(self.token, ts, nonce),
            "timestamp": ts,
            "nonce": nonce,
            "openid": openid,
        }
        if bad_signature:
            query["signature"] = sign("not-the-token", ts, nonce)
        encrypt = self.safe_mode if encrypt is None else encrypt
        if not encrypt:
            return Signed(self.path, query, xml.encode())
        envelope = xmltodict.parse(self.crypto.encrypt_message(xml, nonce, ts))["xml"]
        body = to_xml({"ToUserName": self.account, "Encrypt": envelope["Encrypt"]})
        msg_signature = envelope["MsgSignature"]
        if bad_msg_signature:
            msg_signature = sign("not-the-token", ts, nonce, envelope["Encrypt"])
        query |= {"encrypt_type": "aes", "msg_signature": msg_signature}
        return Signed(self.path, query, body.encode())

    def verification(self, echostr: str, *, bad_signature: bool = False) -> Signed:
        """The GET WeChat sends when the server URL is configured (接入指南)."""
        ts, nonce = str(int(self.clock())), str(random.randrange(10**8, 10**10))
        token = "not-the-token" if bad_signature else self.token
        query = {
            "signature": sign(token, ts, nonce),
            "timestamp": ts,
            "nonce": nonce,
            "echostr": echostr,
        }
        return Signed(self.path, query, b"")

    async def post(self, client: Any, xml: str, **kwargs: Any) -> Any:
        """POST a push through a Sanic test client (`app.asgi_client`); returns the response."""
        signed = self.signed(xml, **kwargs)
        _, response = await client.post(
            signed.url, content=signed.body, headers={"Content-Type": "text/xml"}
        )
        return response

    # ---- replies -----------------------------------------------------------------------

    def read_reply(self, body: str | bytes) -> dict[str, str] | None:
        """The reply message's fields, decrypted and signature-checked in safe mode.

        None for the "no reply" answers WeChat accepts: "success" or an empty body.
        """
        text = body.decode() if isinstance(body, bytes) else body
        if text in ("", "success"):
            return None
        outer = xmltodict.parse(text)["xml"]
        if not self.safe_mode:
            if "Encrypt" in outer:
                raise BadReply("plaintext push answered with an encrypted reply")
            return dict(outer)
        if set(outer) != {"Encrypt", "MsgSignature", "TimeStamp", "Nonce"}:
            raise BadReply(f"safe-mode reply must hold only the encrypted envelope: {outer}")
        # decrypt_message checks MsgSignature over token/TimeStamp/Nonce/Encrypt and the AppID,
        # exactly what WeChat checks before showing the reply.
        inner = self.crypto.decrypt_message(
            text, outer["MsgSignature"], outer["TimeStamp"], outer["Nonce"]
        )
        return dict(xmltodict.parse(inner)["xml"])
