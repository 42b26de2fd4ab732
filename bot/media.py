"""Photos sent in chat: fetched by MediaId from WeChat, then checked and stored like any upload."""

from __future__ import annotations

import logging

from bot.context import Turn
from server.actions.photos import store_photo
from server.db.tasks import Photo

log = logging.getLogger("wuye.bot.media")


async def fetch_photo(turn: Turn, media_id: str, kind: str, person_id: int | None) -> Photo | None:
    """The stored photo, None when WeChat would not give it; raises PhotoRefused (type, size).

    The push's PicUrl is a public CDN link anyone could forge in a test push; the MediaId is
    fetched with our own access_token from media/get (temporary media, kept 3 days by WeChat).
    """
    if not media_id:
        return None
    try:
        content, _ = await turn.services.wechat.download_media(media_id)
    except Exception:  # WechatApiError (40007 invalid media_id, expired) or the network
        log.warning("could not download media %s for %s", media_id, turn.openid, exc_info=True)
        return None
    return await store_photo(
        content,
        media_dir=turn.services.settings.media_dir,
        uploaded_by_kind=kind,
        uploaded_by_id=person_id,
        now=turn.now,
    )
