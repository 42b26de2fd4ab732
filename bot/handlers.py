"""What the bot answers, dispatched by message type and event; the dialogue plugs in here later."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from wechatpy.messages import BaseMessage

from bot.protocol import event_name, scene_community_code
from server.db.estate import Community
from templates_msg import render_text

Handler = Callable[[BaseMessage, Any], Awaitable[str | None]]


async def handle(message: BaseMessage, services: Any) -> str | None:
    """Reply text for one decoded push, or None for "no reply" (answered `success`)."""
    event = event_name(message)
    if event is not None:
        on_event = EVENT_HANDLERS.get(event, no_reply)
        return await on_event(message, services)
    on_message = MESSAGE_HANDLERS.get(str(message.type), on_unsupported)
    return await on_message(message, services)


async def on_text(message: BaseMessage, services: Any) -> str | None:
    """Free text: until the dialogue exists, say what the bot can do."""
    return render_text("help")


async def on_voice(message: BaseMessage, services: Any) -> str | None:
    """Voice arrives with WeChat's speech recognition; treat it as the text it says."""
    if not (message.recognition or "").strip():
        return render_text("voice_unrecognized")
    return await on_text(message, services)


async def on_image(message: BaseMessage, services: Any) -> str | None:
    return render_text("received_image")


async def on_location(message: BaseMessage, services: Any) -> str | None:
    return render_text("received_location", label=message.label or "")


async def on_unsupported(message: BaseMessage, services: Any) -> str | None:
    """Video, links, mini-program cards...: say which kinds we take."""
    return render_text("unsupported_message")


async def on_subscribe(message: BaseMessage, services: Any) -> str | None:
    """A new follower; a `community_<code>` QR scene names the estate they scanned at."""
    code = scene_community_code(getattr(message, "scene_id", None))
    community = await Community.get_or_none(code=code) if code else None
    return render_text("welcome", community_name=community.name if community else "")


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
}
