"""What the bot answers, dispatched by message type and event; the dialogue is bot/chat.py."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from wechatpy.messages import BaseMessage

from bot import chat, dialogue, receipts
from bot.protocol import event_name, scene_community_code
from server.db.estate import Community
from server.metrics import METRICS
from templates_msg import render_text

log = logging.getLogger("wuye.bot")

Handler = Callable[[BaseMessage, Any], Awaitable[str | None]]


async def handle(message: BaseMessage, services: Any) -> str | None:
    """Reply text for one decoded push, or None for "no reply" (answered `success`)."""
    event = event_name(message)
    if event is not None:
        on_event = EVENT_HANDLERS.get(event, no_reply)
        return await on_event(message, services)
    count = await messages_this_minute(services, str(message.source))
    limit = services.settings.messages_per_minute
    if count > limit:
        # A flood: recorded by the webhook (nothing lost), not answered; one polite word.
        METRICS.inc("wuye_bot_rate_limited_total")
        return render_text("slow_down") if count == limit + 1 else None
    on_message = MESSAGE_HANDLERS.get(str(message.type), on_unsupported)
    return await on_message(message, services)


async def messages_this_minute(services: Any, openid: str) -> int:
    """This sender's messages in the current minute (a Redis counter per openid and minute).

    A Redis outage must not silence the bot: the count is then 0 and the message is answered.
    """
    minute = int(dialogue.clock().timestamp() // 60)
    key = f"{services.settings.redis_prefix}rate:{openid}:{minute}"
    try:
        count = int(await services.redis.incr(key))
        if count == 1:
            await services.redis.expire(key, 120)
    except Exception:
        log.warning("rate limit unavailable for %s (Redis)", openid, exc_info=True)
        return 0
    return count


async def on_text(message: BaseMessage, services: Any) -> str | None:
    """Free text goes to the dialogue (binding, repair intake, queries, staff commands)."""
    return await chat.reply_to_text(services, str(message.source), str(message.content or ""))


async def on_voice(message: BaseMessage, services: Any) -> str | None:
    """Voice arrives with WeChat's speech recognition; treat it as the text it says."""
    if not (message.recognition or "").strip():
        return render_text("voice_unrecognized")
    return await chat.reply_to_text(services, str(message.source), str(message.recognition))


async def on_image(message: BaseMessage, services: Any) -> str | None:
    """A photo: fetched by MediaId (PicUrl is not to be trusted) into a report or a task."""
    media_id = str(message.media_id or "")
    return await chat.reply_to_image(services, str(message.source), media_id)


async def on_location(message: BaseMessage, services: Any) -> str | None:
    """A location message: a staff check-in, or the public spot of a resident's report."""
    try:
        lat, lng = float(message.location_x), float(message.location_y)
    except (TypeError, ValueError):
        return chat.bad_location()
    label = str(message.label or "")
    return await chat.reply_to_location(services, str(message.source), lat, lng, label)


async def on_unsupported(message: BaseMessage, services: Any) -> str | None:
    """Video, links, mini-program cards...: say which kinds we take."""
    return render_text("unsupported_message")


async def on_subscribe(message: BaseMessage, services: Any) -> str | None:
    """A new follower; a `community_<code>` QR scene names the estate they scanned at."""
    code = scene_community_code(getattr(message, "scene_id", None))
    community = await Community.get_or_none(code=code) if code else None
    welcome = render_text("welcome", community_name=community.name if community else "")
    if community is None:
        return welcome
    offer = await chat.offer_binding(services, str(message.source), community)
    return f"{welcome}\n\n{offer}" if offer else welcome


async def no_reply(message: BaseMessage, services: Any) -> str | None:
    """Events nobody reads a reply to: unsubscribe, LOCATION reports, template receipts."""
    return None


MESSAGE_HANDLERS: dict[str, Handler] = {
    "text": on_text,
    "voice": on_voice,
    "image": on_image,
    "location": on_location,
}

EVENT_HANDLERS: dict[str, Handler] = {
    "subscribe": on_subscribe,
    "subscribe_scan": on_subscribe,
    "scan": on_subscribe,
    "templatesendjobfinish": receipts.on_template_finish,
    "subscribe_msg_popup_event": receipts.on_subscribe_popup,
    "subscribe_msg_change_event": receipts.on_subscribe_change,
    "subscribe_msg_sent_event": receipts.on_subscribe_sent,
}
