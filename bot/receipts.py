"""Official-account events about our own messages: delivery receipts and subscribe consent.

None of them gets a reply. The webhook has already marked the push as seen, so a WeChat retry
of the same event never reaches these handlers twice, and the actions are idempotent anyway
(a receipt is kept once per msgid).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from wechatpy.messages import BaseMessage

from server.actions.notify import record_consent, record_receipt


def _now() -> datetime:
    return datetime.now(UTC)


def _subscribe_items(message: BaseMessage) -> list[dict[str, Any]]:
    """The <List> items of a subscribe_msg_* event (one item arrives as a dict, not a list)."""
    try:
        items = message.subscribes
    except (KeyError, TypeError, AttributeError):
        return []
    return [item for item in items if isinstance(item, dict)]


async def on_template_finish(message: BaseMessage, services: Any) -> str | None:
    """TEMPLATESENDJOBFINISH: `.status` is 'success', 'failed: user block' or
    'failed: system failed'; the msgid is the one template/send returned."""
    status = str(getattr(message, "status", "") or "")
    await record_receipt(
        "template",
        str(message.id or ""),
        ok=status == "success",
        status=status,
        now=_now(),
        raw={"openid": str(message.source), "status": status},
    )
    return None


async def on_subscribe_popup(message: BaseMessage, services: Any) -> str | None:
    """The user answered a subscription-notification popup: each accept grants one send."""
    answers = {
        str(item.get("TemplateId") or ""): str(item.get("SubscribeStatusString") or "")
        for item in _subscribe_items(message)
    }
    await record_consent("official", str(message.source), answers, _now())
    return None


async def on_subscribe_change(message: BaseMessage, services: Any) -> str | None:
    """The user changed a subscription in their settings: reject withdraws what was granted."""
    answers = {
        str(item.get("TemplateId") or ""): str(item.get("SubscribeStatusString") or "")
        for item in _subscribe_items(message)
    }
    await record_consent("official", str(message.source), answers, _now(), grants=False)
    return None


async def on_subscribe_sent(message: BaseMessage, services: Any) -> str | None:
    """The outcome of a subscription notification we sent (MsgID, ErrorCode, ErrorStatus)."""
    for item in _subscribe_items(message):
        code = str(item.get("ErrorCode") or "0")
        status = str(item.get("ErrorStatus") or ("success" if code == "0" else code))
        await record_receipt(
            "subscribe",
            str(item.get("MsgID") or ""),
            ok=code == "0",
            status=status,
            now=_now(),
            raw={"openid": str(message.source), **item},
        )
    return None
