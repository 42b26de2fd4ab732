"""bot.protocol parses pushes with ElementTree; the messages must be what wechatpy builds itself.

Handlers read wechatpy's message objects (fields, nested dicts of menu events, lists of photos),
so every kind of push is parsed both ways and compared: same class, same fields.
"""

from __future__ import annotations

import pytest
from wechatpy import parse_message

from bot import protocol
from tests.support.wechat import WechatPusher, to_xml

OPENID = "oRESIDENT00000000000000001"
pusher = WechatPusher(token="t", appid="wx0", clock=lambda: 1790000000.0)


def event(name: str, extra: str = "") -> str:
    return (
        f"<xml><ToUserName><![CDATA[gh_0fficia1demo]]></ToUserName>"
        f"<FromUserName><![CDATA[{OPENID}]]></FromUserName><CreateTime>1790000000</CreateTime>"
        f"<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[{name}]]></Event>{extra}</xml>"
    )


PUSHES = {
    "text": pusher.text(OPENID, "  5号楼2单元302 卫生间漏水 "),
    "text_empty": pusher.text(OPENID, ""),
    "text_markup": pusher.text(OPENID, "水管 <b>&amp;</b> 漏了"),
    "image": pusher.image(OPENID),
    "voice": pusher.voice(OPENID, "电梯坏了"),
    "voice_unrecognised": pusher.voice(OPENID, None),
    "location": pusher.location(OPENID, 30.2891, 120.1212, "西湖花园5号楼"),
    "link": pusher.message(OPENID, "link", Title="t", Description="d", Url="http://x", MsgId=7),
    "shortvideo": pusher.message(OPENID, "shortvideo", MediaId="m", ThumbMediaId="t", MsgId=8),
    "unknown_type": pusher.message(OPENID, "miniprogrampage", Title="t", MsgId=9),
    "subscribe": pusher.subscribe(OPENID),
    "subscribe_scan": pusher.subscribe(OPENID, scene="community_alpha"),
    "subscribe_product": event("subscribe", "<EventKey><![CDATA[scanbarcode|x]]></EventKey>"),
    "scan": pusher.scan(OPENID, "community_alpha"),
    "unsubscribe": pusher.unsubscribe(OPENID),
    "location_event": pusher.location_event(OPENID, 30.2891, 120.1212),
    "template_finished": pusher.template_finished(OPENID, 1000001),
    "click": event("CLICK", "<EventKey><![CDATA[MENU_REPAIR]]></EventKey>"),
    "view": event("VIEW", "<EventKey><![CDATA[https://wuye.example/fees]]></EventKey>"),
    "scancode_push": event(
        "scancode_push",
        "<EventKey><![CDATA[scan]]></EventKey><ScanCodeInfo><ScanType><![CDATA[qrcode]]>"
        "</ScanType><ScanResult><![CDATA[door-7]]></ScanResult></ScanCodeInfo>",
    ),
    "pic_sysphoto_many": event(
        "pic_sysphoto",
        "<EventKey><![CDATA[photo]]></EventKey><SendPicsInfo><Count>2</Count><PicList>"
        "<item><PicMd5Sum><![CDATA[aa]]></PicMd5Sum></item>"
        "<item><PicMd5Sum><![CDATA[bb]]></PicMd5Sum></item></PicList></SendPicsInfo>",
    ),
    "pic_sysphoto_one": event(
        "pic_sysphoto",
        "<SendPicsInfo><Count>1</Count><PicList><item><PicMd5Sum>cc</PicMd5Sum></item>"
        "</PicList></SendPicsInfo>",
    ),
    "location_select": event(
        "location_select",
        "<SendLocationInfo><Location_X>30.1</Location_X><Location_Y>120.2</Location_Y>"
        "<Scale>15</Scale><Label><![CDATA[ 门口 ]]></Label><Poiname></Poiname>"
        "</SendLocationInfo>",
    ),
    "no_event_name": to_xml(
        {"ToUserName": "gh", "FromUserName": OPENID, "CreateTime": 1, "MsgType": "event"}
    ),
    "device_event": to_xml(
        {
            "ToUserName": "gh",
            "FromUserName": OPENID,
            "CreateTime": 1,
            "MsgType": "device_event",
            "Event": "bind",
        }
    ),
    "attribute_and_mixed_text": event("CLICK", '<EventKey k="v">a<b>c</b>d</EventKey>'),
}


@pytest.mark.parametrize("xml", PUSHES.values(), ids=PUSHES.keys())
def test_a_push_parses_to_what_wechatpy_builds(xml: str) -> None:
    ours = protocol._message_of(protocol._parse_xml(xml.encode()))
    theirs = parse_message(xml)
    assert type(ours) is type(theirs)
    assert ours._data == theirs._data


@pytest.mark.parametrize(
    "xml",
    [
        "<notxml><MsgType>text</MsgType></notxml>",
        "<xml>just text</xml>",
        "<xml><Encrypt>broken",
        "\xff\xfe<xml/>",
        "<xml>" + "<a>" * 5000 + "</a>" * 5000 + "</xml>",  # deeper than Python recurses
    ],
    ids=["other_root", "text_only", "truncated", "not_utf8", "deep"],
)
def test_what_is_not_a_push_envelope_is_malformed(xml: str) -> None:
    with pytest.raises(protocol.BadPush) as refused:
        protocol._parse_xml(xml.encode("utf-8", "surrogateescape"))
    assert refused.value.reason == "malformed_xml"


def test_an_event_name_that_is_not_text_is_a_bad_push_not_a_crash() -> None:
    xml = event("x").replace("<Event><![CDATA[x]]></Event>", "<Event><a>1</a></Event>")
    with pytest.raises(protocol.BadPush) as refused:
        protocol._parse_message(xml.encode())
    assert refused.value.reason == "malformed_xml"


BOMB = (
    '<!DOCTYPE xml [<!ENTITY a "AAAAAAAAAA"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
    "<xml><ToUserName>gh</ToUserName><FromUserName>o1</FromUserName><CreateTime>1</CreateTime>"
    "<MsgType>text</MsgType><Content>&b;</Content><MsgId>1</MsgId></xml>"
)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16", "utf-16-le", "utf-16-be", "utf-32"])
def test_a_dtd_is_refused_in_any_encoding(encoding: str) -> None:
    """UTF-16 hides "<!DOCTYPE" from a byte search; the body is read as UTF-8 first."""
    with pytest.raises(protocol.BadPush):
        protocol._parse_message(BOMB.encode(encoding))


@pytest.mark.parametrize("declared", ["utf-8", "GBK", "ISO-8859-1", "x", "base64"])
def test_the_body_is_read_as_utf8_whatever_its_prolog_declares(declared: str) -> None:
    xml = f'<?xml version="1.0" encoding="{declared}"?>' + pusher.text(OPENID, "你好")
    assert protocol._parse_message(xml.encode()).content == "你好"
