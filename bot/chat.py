"""The conversation: who is writing, what their dialogue is waiting for, which step answers.

Order for a text (or a voice's recognition): staff commands first for staff; then 取消/重新开始;
then, if the bot asked something, the answer to it; then the message's own intent. A message that
is not an answer to the pending question but a command (我的报修, 催单 ...) is answered and the
question asked again; anything not understood gets help, never an error.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from bot import (
    binding,
    change_dialogue,
    dialogue,
    intake,
    manager_commands,
    poll_dialogue,
    resident_commands,
    staff_commands,
)
from bot.context import Turn, rooms_of
from bot.nlu import Parsed, normalize, parse
from server.db.estate import Community
from server.db.people import Resident, Staff
from templates_msg import label, render_text

RESIDENT_COMMANDS = frozenset({"query_progress", "cancel_task", "urge_task", "rate", "check_fees"})
ADDRESS_KEYS = ("building", "unit", "room")


@asynccontextmanager
async def _turn(services: Any, openid: str) -> AsyncIterator[Turn]:
    """Load the sender and their dialogue; save the dialogue when the reply is ready (not on
    an error: the previous state then stays as it was)."""
    now = dialogue.clock()
    redis, prefix = services.redis, services.settings.redis_prefix
    async with dialogue.turn_lock(redis, prefix, openid):
        state = await dialogue.load(redis, prefix, openid, now)
        resident = await Resident.get_or_none(openid=openid)
        staff = await Staff.get_or_none(openid=openid)
        turn = Turn(services, openid, now, state, resident, staff)
        yield turn
        await dialogue.save(redis, prefix, turn.dialogue, now)


async def reply_to_text(services: Any, openid: str, text: str) -> str:
    """The reply to a text message (or a voice message's recognition)."""
    async with _turn(services, openid) as turn:
        return await _text(turn, text)


async def reply_to_image(services: Any, openid: str, media_id: str) -> str:
    async with _turn(services, openid) as turn:
        return await _image(turn, media_id)


async def reply_to_location(
    services: Any, openid: str, lat: float, lng: float, label_text: str
) -> str:
    async with _turn(services, openid) as turn:
        return await _location(turn, lat, lng, label_text)


async def offer_binding(services: Any, openid: str, community: Community) -> str:
    """After a follow through an estate's QR code: start binding there (empty if bound)."""
    async with _turn(services, openid) as turn:
        return await binding.offer_after_follow(turn, community)


def _join(*parts: str) -> str:
    return "\n\n".join(p for p in parts if p)


def _help(turn: Turn) -> str:
    return render_text("staff_help" if turn.staff is not None else "help")


async def _text(turn: Turn, text: str) -> str:
    normalized = normalize(text)
    if not normalized:
        return _help(turn)
    parsed = parse(text, now=turn.now.astimezone(turn.tz))
    if turn.staff is not None:
        # managers' instructions, questions and orders, opinions (issue 5): their wording is
        # specific (a verb then a department, 同意, 指示 T1042), so they go before field work.
        # Change requests (issue 9): 同意变更 C12 before 同意 T1042; 东门新增路灯2盏 after them.
        reply = await change_dialogue.decision(turn, normalized)
        if reply is None:
            reply = await manager_commands.text(turn, text, parsed, normalized)
        if reply is None:
            reply = await change_dialogue.text(turn, parsed, normalized)
        if reply is None:
            reply = await staff_commands.text(turn, parsed, normalized)
        if reply is not None:
            return reply
    if parsed.intent == "cancel_dialogue":
        return _cancel(turn, restart=bool(parsed.slots.get("restart")))
    if turn.dialogue.asking:
        reply = await _answer(turn, text, parsed)
        if reply is not None:
            return reply
    if poll_dialogue.wants_poll(normalized):
        return await poll_dialogue.start(turn)
    return await _dispatch(turn, parsed, text)


def _cancel(turn: Turn, *, restart: bool) -> str:
    d = turn.dialogue
    if restart:
        d.reset()
        return render_text("dialogue_restarted")
    if d.flow:
        what = d.flow
        d.end_flow()
        return render_text("dialogue_cancelled", what=what)
    if d.asking == "visit_time":
        d.asking = ""
        return render_text("dialogue_closed", ref=d.task_ref)
    return render_text("nothing_to_cancel")


async def _answer(turn: Turn, text: str, parsed: Parsed) -> str | None:
    d = turn.dialogue
    if d.flow == "bind":
        return await binding.answer(turn, text)
    if d.flow == "unbind":
        return await binding.answer_unbind(turn, text)
    if d.flow == "report":
        return await intake.answer(turn, text)
    if d.flow == poll_dialogue.FLOW:
        return await poll_dialogue.answer(turn, text)
    if d.asking == "visit_time":
        if parsed.intent == "deny":
            d.asking = ""
            return render_text("dialogue_closed", ref=d.task_ref)
        if _moved_on(parsed):
            d.asking = ""
            return None
        reply = await intake.answer_visit_time(turn, text)
        if reply is None:
            d.asking = ""  # they moved on: the optional question is dropped
        return reply
    return None


def _moved_on(parsed: Parsed) -> bool:
    """A command or a new fault, not an answer to "when may we come?" ("下午厨房也漏水了")."""
    if parsed.intent in RESIDENT_COMMANDS or parsed.intent in ("bind", "unbind"):
        return True
    return parsed.intent == "report_repair" and parsed.slots.get("category", "other") != "other"


async def _dispatch(turn: Turn, parsed: Parsed, text: str) -> str:
    d = turn.dialogue
    intent, slots = parsed.intent, parsed.slots
    if intent == "report_repair":
        return await _report(turn, slots)
    if intent == "bind":
        if d.flow == "bind":
            return await binding.advance(turn)
        return await binding.start(turn, slots={k: slots[k] for k in ADDRESS_KEYS if k in slots})
    if intent == "unbind":
        return await binding.unbind(turn)
    if intent in RESIDENT_COMMANDS:
        reply = await resident_commands.run(turn, intent, slots, text)
        return _join(reply, await _pending_question(turn))
    if d.flow:
        return _join(render_text("not_understood"), await _pending_question(turn))
    return _help(turn)


async def _report(turn: Turn, slots: dict[str, str]) -> str:
    intake.merge(turn, slots)
    if turn.dialogue.flow == "bind":
        return _join(render_text("bind_report_kept"), await binding.advance(turn))
    return await _continue_report(turn)


async def _continue_report(turn: Turn) -> str:
    """Go on with the report, or bind first when the sender has no room yet (draft kept)."""
    if not await rooms_of(turn.resident):
        return await binding.start(turn, for_report=True)
    return await intake.advance(turn)


async def _pending_question(turn: Turn) -> str:
    """The question the dialogue is waiting on, asked again (empty when none)."""
    flow = turn.dialogue.flow
    if flow == "bind":
        return await binding.advance(turn)
    if flow == "report":
        return await _continue_report(turn)
    if flow == "unbind":
        return await binding.unbind_question(turn)
    if flow == poll_dialogue.FLOW:
        return await poll_dialogue.question_again(turn)
    return ""


async def _image(turn: Turn, media_id: str) -> str:
    d = turn.dialogue
    if turn.staff is not None and d.flow == change_dialogue.FLOW:
        return await change_dialogue.photo(turn, media_id) or staff_commands.nothing("photo")
    if turn.staff is not None and d.flow == "instruct":
        return await manager_commands.photo(turn, media_id) or staff_commands.nothing("photo")
    if turn.staff is not None and not d.flow:
        reply = await staff_commands.photo(turn, media_id)
        if reply is None:  # a manager's photo for an instruction
            reply = await manager_commands.photo(turn, media_id)
        if reply is not None:
            return reply
        if turn.resident is None:
            return staff_commands.nothing("photo")
    in_flow = bool(d.flow)
    reply = await intake.photo(turn, media_id)
    if in_flow and d.flow:
        return _join(reply, await _pending_question(turn))
    return reply


async def _location(turn: Turn, lat: float, lng: float, label_text: str) -> str:
    d = turn.dialogue
    if turn.staff is not None and not d.flow:
        reply = await staff_commands.check_in(turn, lat, lng)
        if reply is not None:
            return reply
        if turn.resident is None:
            return staff_commands.nothing("check_in")
    await intake.location(turn, lat, lng, label_text)
    noted = render_text("location_noted", place=d.draft.get("place", ""))
    return _join(noted, await _pending_question(turn))


def bad_location() -> str:
    return render_text("task_refused", ref="", reason=label("refusal", "bad_location"))
