"""Per-follower dialogue state in Redis: the question the bot asked and what it gathered so far.

One JSON value per openid at `{prefix}dialogue:{openid}`, rewritten with a 600 s TTL on every
message: a dialogue left idle for 10 minutes is gone (issue 3). The time of the last message is
stored too, so an injected clock (tests) expires it the same way. Anything unreadable is a fresh
start, never an error.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

log = logging.getLogger("wuye.bot.dialogue")

TTL_S = 600
LOCK_TTL_MS = 15_000
LOCK_WAIT_S = 4.0
LOCK_POLL_S = 0.05

# Release the per-user lock only if it is still ours (it may have expired and been retaken).
_RELEASE = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"
)


def clock() -> datetime:
    """Now, as an aware UTC datetime; tests replace it to move time without sleeping."""
    return datetime.now(UTC)


@dataclass
class Dialogue:
    """What one follower's conversation holds between messages."""

    openid: str
    flow: str = ""  # "", "bind", "report", "unbind"
    asking: str = ""  # the question asked last: community, room, phone, which_room, ...
    bind: dict[str, Any] = field(default_factory=dict)  # community_id, building, unit, room...
    draft: dict[str, Any] = field(default_factory=dict)  # the report being gathered
    choices: list[Any] = field(default_factory=list)  # what the numbers of the last list mean
    task_ref: str = ""  # the task this dialogue created (visit time, late photos)
    touched_at: float = 0.0  # unix seconds of the last message

    @property
    def idle(self) -> bool:
        return not (self.flow or self.asking or self.bind or self.draft or self.task_ref)

    def ask(self, question: str, choices: list[Any] | None = None) -> None:
        self.asking = question
        self.choices = list(choices or [])

    def end_flow(self) -> None:
        """The current flow is over; a created task stays for follow-ups."""
        self.flow, self.asking, self.choices = "", "", []
        self.bind, self.draft = {}, {}

    def reset(self) -> None:
        self.end_flow()
        self.task_ref = ""


def key(prefix: str, openid: str) -> str:
    return f"{prefix}dialogue:{openid}"


def _from_json(openid: str, raw: str) -> Dialogue:
    data = json.loads(raw)
    if not isinstance(data, dict):
        raise ValueError("dialogue is not an object")
    dialogue = Dialogue(
        openid=openid,
        flow=str(data.get("flow") or ""),
        asking=str(data.get("asking") or ""),
        bind=dict(data.get("bind") or {}),
        draft=dict(data.get("draft") or {}),
        choices=list(data.get("choices") or []),
        task_ref=str(data.get("task_ref") or ""),
        touched_at=float(data.get("touched_at") or 0.0),
    )
    photo_ids = dialogue.draft.get("photo_ids", [])
    if not isinstance(photo_ids, list) or not all(isinstance(i, int) for i in photo_ids):
        raise ValueError("bad photo ids")
    return dialogue


async def load(redis: Any, prefix: str, openid: str, now: datetime) -> Dialogue:
    """The follower's dialogue, or a fresh one when there is none, it expired or is corrupt."""
    raw = await redis.get(key(prefix, openid))
    if raw is None:
        return Dialogue(openid)
    try:
        dialogue = _from_json(openid, raw)
    except (ValueError, TypeError, AttributeError):
        log.warning("corrupt dialogue state for %s: starting afresh", openid)
        return Dialogue(openid)
    if now.timestamp() - dialogue.touched_at > TTL_S:
        return Dialogue(openid)
    return dialogue


async def save(redis: Any, prefix: str, dialogue: Dialogue, now: datetime) -> None:
    """Store the dialogue for another 10 idle minutes, or drop it when nothing is pending."""
    if dialogue.idle:
        await redis.delete(key(prefix, dialogue.openid))
        return
    dialogue.touched_at = now.timestamp()
    body = asdict(dialogue)
    body.pop("openid")
    await redis.set(key(prefix, dialogue.openid), json.dumps(body, ensure_ascii=False), ex=TTL_S)


@asynccontextmanager
async def turn_lock(redis: Any, prefix: str, openid: str) -> AsyncIterator[None]:
    """One message of a follower at a time: a photo and the text right after it must not both
    read the same draft and each save half of it. Waits up to LOCK_WAIT_S, then goes ahead (a
    reply matters more than perfect ordering; WeChat retries after 5 s anyway)."""
    lock_key = f"{prefix}dialogue-lock:{openid}"
    token = secrets.token_hex(8)
    waited = 0.0
    held = False
    while not held:
        held = bool(await redis.set(lock_key, token, nx=True, px=LOCK_TTL_MS))
        if held or waited >= LOCK_WAIT_S:
            break
        await asyncio.sleep(LOCK_POLL_S)
        waited += LOCK_POLL_S
    try:
        yield
    finally:
        if held:
            await redis.eval(_RELEASE, 1, lock_key, token)
