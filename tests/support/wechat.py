"""Play the WeChat server in tests: the one push builder lives in server/adapters/emulators/push.py
(the chat simulator uses it too); this module keeps the names tests import."""

from server.adapters.emulators.push import (
    ACCOUNT,
    BadReply,
    Signed,
    WechatPusher,
    cdata,
    sign,
    to_xml,
)

__all__ = ["ACCOUNT", "BadReply", "Signed", "WechatPusher", "cdata", "sign", "to_xml"]
