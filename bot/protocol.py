"""The official-account push protocol, pure: signatures, timestamp window, AES, parsing, replies.

wechatpy does the crypto and builds the message objects; this module adds what it leaves out
(timestamp window, refusing plaintext in safe mode, entity-free XML, a size cap, the dedupe key)
and parses the XML itself with the C ElementTree (see _xml_fields).
"""

# Official docs this follows (developers.weixin.qq.com/doc/offiaccount):
# - 接入指南: signature = sha1 of the sorted token, timestamp, nonce.
# - 消息加解密说明: safe mode adds encrypt_type=aes and msg_signature = sha1 of the sorted
#   token, timestamp, nonce, Encrypt; AES-256-CBC keyed by the EncodingAESKey.
# - 被动回复用户消息: answer within 5 s, in the push's own mode, or "success".

from __future__ import annotations

import binascii
import functools
import hmac
import re
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from xml.etree import ElementTree

from wechatpy.crypto import WeChatCrypto
from wechatpy.events import EVENT_TYPES, BaseEvent
from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException
from wechatpy.messages import MESSAGE_TYPES, BaseMessage, UnknownMessage
from wechatpy.replies import create_reply
from wechatpy.utils import WeChatSigner

# A real push is a few hundred bytes (a text message is at most 2048 characters); anything far
# larger is not from WeChat and is refused before it is parsed.
MAX_BODY_BYTES = 64 * 1024

# WeChat answers an empty body or "success" as "received, no reply" and does not retry
# (被动回复用户消息: "直接回复success或者直接回复空串").
SUCCESS = "success"

# User actions that open the 48-hour customer-service window (客服消息 doc: 用户发送信息,
# 点击自定义菜单 (click / scancode_push / scancode_waitmsg), 关注公众号, 扫描二维码).
# An automatic LOCATION report, a template receipt or an unsubscribe does not.
_WINDOW_EVENTS = frozenset(
    {"subscribe", "subscribe_scan", "scan", "click", "scancode_push", "scancode_waitmsg"}
)

# No WeChat push carries a DTD, which is the only way to declare entities: refusing one (in
# any letter case) before parsing rules out entity expansion ("billion laughs") and external
# entities whatever the parser's defaults are.
_DTD = re.compile(r"<!(?:DOCTYPE|ENTITY)", re.IGNORECASE)


class PushRefused(Exception):
    """Not provably from WeChat, or too old: answered 403 and nothing is written."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class BadPush(Exception):
    """Authentic-looking but unusable (malformed, oversized, entity XML): answered 4xx."""

    def __init__(self, reason: str, status: int = 400) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


@dataclass(frozen=True)
class Push:
    """An authenticated, decoded push, and what its reply must carry to be accepted."""

    message: BaseMessage
    safe_mode: bool
    nonce: str
    timestamp: str


@dataclass(frozen=True)
class InboundFacts:
    """What the push tells us to record: the dedupe key and the follower's state changes."""

    dedupe_key: str
    openid: str
    kind: str
    content: str
    opens_window: bool
    subscribed: bool | None
    scene: str | None


def signature_of(token: str, *parts: str) -> str:
    """WeChat's signature: sha1 of the sorted, concatenated token, timestamp, nonce[, Encrypt]."""
    signer = WeChatSigner()
    signer.add_data(token, *parts)
    return str(signer.signature)


def signature_ok(token: str, signature: str, timestamp: str, nonce: str) -> bool:
    """True when `signature` proves the request came from WeChat (constant-time compare)."""
    if not (signature and timestamp and nonce):
        return False
    return hmac.compare_digest(signature_of(token, timestamp, nonce), signature)


def timestamp_fresh(timestamp: str, now_s: float, max_skew_s: int) -> bool:
    """A signature never expires: refuse a replayed push once its timestamp is too far off."""
    try:
        sent_s = int(timestamp)
    except (TypeError, ValueError):
        return False
    return abs(now_s - sent_s) <= max_skew_s


@functools.lru_cache(maxsize=8)
def crypto_for(token: str, aes_key: str, appid: str) -> WeChatCrypto:
    """One WeChatCrypto per account (decoding the key each push is wasted work)."""
    return WeChatCrypto(token, aes_key, appid)


def open_push(
    body: bytes,
    query: Mapping[str, str],
    *,
    token: str,
    aes_key: str,
    appid: str,
    now_s: float,
    max_skew_s: int,
) -> Push:
    """Authenticate and decode one POST; raises PushRefused (403) or BadPush (4xx).

    Signatures and the timestamp are checked before the body is trusted; in safe mode the
    msg_signature covers the Encrypt element, so the envelope is read (entity-free, size-capped)
    first and its signature checked before anything is decrypted.
    """
    timestamp, nonce = query.get("timestamp", ""), query.get("nonce", "")
    safe_mode = bool(aes_key)
    if safe_mode and query.get("encrypt_type") != "aes":
        # CONTRACT.md: with a key configured a plaintext push is refused (downgrade attack).
        raise PushRefused("plaintext_in_safe_mode")
    signature = query.get("signature")
    if (not safe_mode or signature is not None) and not signature_ok(
        token, signature or "", timestamp, nonce
    ):
        raise PushRefused("bad_signature")
    if safe_mode and not query.get("msg_signature"):
        raise PushRefused("bad_signature")
    if not timestamp_fresh(timestamp, now_s, max_skew_s):
        raise PushRefused("stale_timestamp")
    if len(body) > MAX_BODY_BYTES:
        raise BadPush("too_large", status=413)

    if safe_mode:
        envelope = _parse_xml(body)
        encrypted = envelope.get("Encrypt")
        if not isinstance(encrypted, str) or not encrypted:
            raise BadPush("no_encrypt_element")
        try:
            xml = crypto_for(token, aes_key, appid).decrypt_message(
                {"Encrypt": encrypted}, query["msg_signature"], timestamp, nonce
            )
        except InvalidSignatureException as exc:
            raise PushRefused("bad_signature") from exc
        except InvalidAppIdException as exc:
            raise BadPush("wrong_appid") from exc
        except (binascii.Error, ValueError, IndexError, struct.error) as exc:
            raise BadPush("undecryptable") from exc
        plain = xml.encode()
    else:
        plain = body
    return Push(_parse_message(plain), safe_mode, nonce, timestamp)


def _parse_xml(xml: bytes) -> dict[str, Any]:
    """The fields under a push's <xml> root.

    Read as UTF-8 whatever a prolog declares, as wechatpy did (WeChat sends UTF-8): a body in
    UTF-16 cannot hide a DOCTYPE from the check, and an encoding the parser does not know is
    not an error.
    """
    try:
        text = xml.decode()
    except UnicodeDecodeError as exc:
        raise BadPush("malformed_xml") from exc
    if _DTD.search(text):
        raise BadPush("doctype")
    if "\x00" in text:  # UTF-16 read as UTF-8; never in a push
        raise BadPush("malformed_xml")
    try:
        root = ElementTree.fromstring(text)
        inner = _xml_fields(root) if root.tag == "xml" else None
    except (ElementTree.ParseError, ValueError, LookupError, RecursionError) as exc:
        raise BadPush("malformed_xml") from exc  # RecursionError: nested deeper than Python goes
    if not isinstance(inner, dict):
        raise BadPush("malformed_xml")
    return inner


def _xml_fields(element: ElementTree.Element) -> Any:
    """An element as xmltodict gives it (what wechatpy's messages read): nested dicts, a repeated
    tag as a list, whitespace-stripped text, None when empty, attributes as "@name".

    ElementTree builds the tree in C; xmltodict calls Python for every tag and text, which made
    the two parses of a push a third of the webhook's CPU (docs/benchmarks.md). Safe here because
    a DOCTYPE, the only way to declare entities, is refused before parsing (_parse_xml).
    """
    if not len(element) and not element.attrib:  # a plain field: most of a push
        return (element.text or "").strip() or None
    item: dict[str, Any] | None = {f"@{k}": v for k, v in element.attrib.items()} or None
    for child in element:
        value = _xml_fields(child)
        if item is None:
            item = {}
        if child.tag not in item:
            item[child.tag] = value
        elif isinstance(item[child.tag], list):
            item[child.tag].append(value)
        else:
            item[child.tag] = [item[child.tag], value]
    text = ((element.text or "") + "".join(child.tail or "" for child in element)).strip()
    if item is None:
        return text or None
    if text:
        item["#text"] = text
    return item


_REQUIRED = ("ToUserName", "FromUserName", "CreateTime", "MsgType")


def _parse_message(xml: bytes) -> BaseMessage:
    fields = _parse_xml(xml)
    if not all(isinstance(fields.get(name), str) and fields[name] for name in _REQUIRED):
        raise BadPush("missing_fields")
    try:
        message = _message_of(fields)
    except Exception as exc:  # an Event or EventKey that is not text
        raise BadPush("malformed_xml") from exc
    try:
        # wechatpy converts lazily: touch the typed fields now so a bad value is a 400 here,
        # not an exception in a handler.
        _ = (message.time, message.id, message.source)
        if isinstance(message, BaseEvent) and message.event == "location":
            _ = (message.latitude, message.longitude)
    except Exception as exc:  # ValueError/TypeError from wechatpy's converters
        raise BadPush("malformed_fields") from exc
    return message


def _message_of(fields: dict[str, Any]) -> BaseMessage:
    """The message or event class wechatpy.parse_message would build from these fields (its
    dispatch, wechatpy 2.0.0a26; tests/unit/test_protocol.py compares the two on every kind)."""
    message_type = fields["MsgType"].lower()
    if message_type != "event" and not message_type.startswith("device_"):
        return MESSAGE_TYPES.get(message_type, UnknownMessage)(fields)
    event_type = fields["Event"].lower() if "Event" in fields else None
    if event_type is None and message_type.startswith("device_"):
        event_type = message_type
    elif message_type.startswith("device_"):
        event_type = f"device_{event_type}"
    event_key = fields.get("EventKey")
    if event_type == "subscribe" and event_key:
        if event_key.startswith(("scanbarcode|", "scanimage|")):
            event_type = fields["Event"] = "subscribe_scan_product"
        elif event_key.startswith("qrscene_"):
            event_type = fields["Event"] = "subscribe_scan"
            fields["EventKey"] = event_key[len("qrscene_") :]
    return EVENT_TYPES.get(event_type, UnknownMessage)(fields)


def event_name(message: BaseMessage) -> str | None:
    """The lower-cased event of an event push (wechatpy's name, e.g. subscribe_scan), else None."""
    if isinstance(message, BaseEvent):
        return str(message.event)
    if message.type == "event" or message._data.get("MsgType") == "event":
        raw = message._data.get("Event")
        return str(raw).lower() if raw else "unknown"
    return None


def dedupe_key(message: BaseMessage) -> str:
    """WeChat's own retry key: MsgId for messages, FromUserName + CreateTime (+Event) for events."""
    # 被动回复用户消息: "关于重试的消息排重，推荐使用msgid排重。事件类型消息推荐使用
    # FromUserName + CreateTime 排重。" The event name keeps two events of one second apart.
    event = event_name(message)
    if event is None and message.id:
        return str(message.id)
    return f"{message.source}:{message.time}:{event or message.type}"[:128]


def describe(message: BaseMessage) -> InboundFacts:
    """What to record for a push: its kind, a short content summary and follower changes."""
    event = event_name(message)
    subscribed: bool | None = None
    scene: str | None = None
    if event is None:
        kind = str(message.type)[:32]
        content = _summary(message)
        opens_window = True
    else:
        kind = f"event:{event}"[:32]
        content = str(message._data.get("EventKey") or "")
        opens_window = event in _WINDOW_EVENTS
        if event in ("subscribe", "subscribe_scan"):
            subscribed = True
        elif event == "unsubscribe":
            subscribed = False
        if event in ("subscribe_scan", "scan"):
            scene = str(message.scene_id or "")[:64]
        elif event == "templatesendjobfinish":
            content = str(message.status or "")
        elif event == "location":
            content = f"{message.latitude},{message.longitude}"
    if opens_window and subscribed is None:
        # Only a follower can message the account, click its menu or scan its codes.
        subscribed = True
    return InboundFacts(
        dedupe_key=dedupe_key(message),
        openid=str(message.source)[:64],
        kind=kind,
        content=content[:2000],
        opens_window=opens_window,
        subscribed=subscribed,
        scene=scene,
    )


def _summary(message: BaseMessage) -> str:
    kind = message.type
    if kind == "text":
        return str(message.content or "")
    if kind == "voice":
        return str(message.recognition or "")
    if kind == "image":
        return str(message.image or "")
    if kind == "location":
        return f"{message.location_x},{message.location_y} {message.label or ''}".strip()
    return ""


def render_reply(push: Push, text: str | None, *, token: str, aes_key: str, appid: str) -> str:
    """The body answering `push`: "success" without text, else a text reply in the push's mode."""
    if not text:
        return SUCCESS
    xml = create_reply(text, push.message, render=True)
    if not push.safe_mode:
        return str(xml)
    return str(crypto_for(token, aes_key, appid).encrypt_message(xml, push.nonce, push.timestamp))


def scene_community_code(scene: str | None) -> str | None:
    """The community code in a `community_<code>` QR scene (our parametric QR codes), else None."""
    prefix = "community_"
    if scene and scene.startswith(prefix) and len(scene) > len(prefix):
        return scene[len(prefix) :]
    return None
