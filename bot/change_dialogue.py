"""Field staff propose registry changes in chat; department leads decide them (article 5.1).

- 东门新增路灯2盏 -> (which estate, when it is not clear) -> "send a photo" -> the photo submits
  change request C12 to the owning department;
- 报废路灯 lamp-003 / 北门路灯lamp-002报废了 -> the same, retiring that facility;
- 同意变更 C12 / 驳回变更 C12 位置不对 -> the owning department's lead or manager decides.

Resident-data corrections and facility modifications go through the API (the mini-program or
the customer-service console), where the fields are typed rather than guessed from chat.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Any

from bot import lexicon
from bot.context import Turn, mentions, pick
from bot.media import fetch_photo
from bot.nlu import Parsed
from server.actions.changes import (
    ChangeRefused,
    decide_change,
    get_change,
    submit_change,
    summary_of,
    summary_text,
)
from server.actions.photos import PhotoRefused
from server.db.estate import Community
from server.db.governance import Facility
from server.db.people import Department
from server.domain.changes import ChangeInvalid, owner_of, subject_of
from templates_msg import label, render_text

FLOW = "change"
MAX_PHOTOS = 9


@dataclass(frozen=True)
class _Words:
    add: tuple[str, ...]
    retire: tuple[str, ...]
    approve: tuple[str, ...]
    reject: tuple[str, ...]
    openers: tuple[str, ...]
    kinds: tuple[tuple[str, str], ...]  # (word, facility kind), longest word first
    count_re: re.Pattern[str]
    digits: dict[str, int]


def _longest(words: list[Any]) -> tuple[str, ...]:
    """Longer words first, so 不同意变更 is found before 同意变更."""
    return tuple(sorted(map(str, words), key=len, reverse=True))


@cache
def _words() -> _Words:
    w = lexicon.load("changes")
    kinds = [(str(word), kind) for kind, words in w["facility_words"].items() for word in words]
    kinds.sort(key=lambda pair: len(pair[0]), reverse=True)
    digits = {str(k): int(v) for k, v in lexicon.load("numerals")["digits"].items()}
    units = "|".join(re.escape(str(u)) for u in w["count_units"])
    numerals = "".join(re.escape(k) for k in digits)
    return _Words(
        add=_longest(w["add_verbs"]),
        retire=_longest(w["retire_verbs"]),
        approve=_longest(w["approve_words"]),
        reject=_longest(w["reject_words"]),
        openers=_longest(w["reason_openers"]),
        kinds=tuple(kinds),
        count_re=re.compile(rf"(\d{{1,2}}|[{numerals}])(?:{units})"),
        digits=digits,
    )


_REF = re.compile(r"c?(\d{1,9})")
_CODE = re.compile(r"([a-z]{2,16})[,_]?(\d{1,6})")


@dataclass(frozen=True)
class Proposal:
    """What a staff member's message proposes: add `count` of a kind at a place, or retire one."""

    kind: str  # add_facility or retire_facility
    facility_kind: str
    location: str = ""
    count: int = 1
    code: str = ""


def parse_proposal(normalized: str) -> Proposal | None:
    """东门新增路灯2盏 / 报废路灯lamp,003 -> a Proposal; None when the message is something else."""
    w = _words()
    facility_kind = next((kind for word, kind in w.kinds if word in normalized), None)
    for verb in w.add:
        at = normalized.find(verb)
        if at >= 0 and facility_kind is not None:
            found = w.count_re.search(normalized, at)
            count = 1
            if found:
                token = found.group(1)
                count = int(token) if token.isdigit() else w.digits[token]
            location = normalized[:at].strip(",")
            return Proposal("add_facility", facility_kind, location[:64], max(count, 1))
    if any(verb in normalized for verb in w.retire):
        code = _CODE.search(normalized)
        if code is not None:
            return Proposal(
                "retire_facility", facility_kind or "other", code=f"{code.group(1)}-{code.group(2)}"
            )
    return None


def parse_decision(normalized: str) -> tuple[bool, str, str] | None:
    """同意变更c12 / 驳回变更c12,位置不对 -> (approve, ref, reason); None otherwise."""
    w = _words()
    for words, approve in ((w.reject, False), (w.approve, True)):
        for word in words:
            if normalized.startswith(word):
                rest = normalized[len(word) :].strip(",")
                ref = _REF.match(rest)
                if ref is None:
                    return None
                reason = rest[ref.end() :].strip(",:")
                for opener in w.openers:
                    if reason.startswith(opener):
                        reason = reason[len(opener) :].strip(",:")
                        break
                return approve, f"C{ref.group(1)}", reason
    return None


async def decision(turn: Turn, normalized: str) -> str | None:
    """同意变更 C12 / 驳回变更 C12 原因; None when the message is not a decision on a change.

    Asked before managers' commands: their 同意 / 不同意 (opinions on tasks) would take it."""
    found = parse_decision(normalized)
    return await _decide(turn, *found) if found is not None else None


async def text(turn: Turn, parsed: Parsed, normalized: str) -> str | None:
    """A proposal, or the answer to this flow's question; None for anything else."""
    if parsed.intent == "cancel_dialogue":
        return None  # bot/chat.py ends the flow
    proposal = parse_proposal(normalized)
    if proposal is not None:
        return await _start(turn, proposal)
    d = turn.dialogue
    if d.flow != FLOW:
        return None
    if d.asking == "change_community":
        return await _answer_community(turn, normalized)
    return await _ask_photo(turn)


async def photo(turn: Turn, media_id: str) -> str | None:
    """The photo a pending proposal waits for: it submits the change request."""
    d = turn.dialogue
    staff = turn.staff
    if d.flow != FLOW or d.asking != "change_photo" or staff is None:
        return None
    try:
        stored = await fetch_photo(turn, media_id, "staff", staff.id)
    except PhotoRefused as refused:
        return render_text("photo_failed", reason=label("photo", refused.code))
    if stored is None:
        return render_text("photo_unavailable")
    draft = d.draft
    community = await Community.get(id=draft["community_id"])
    values: dict[str, Any] = {}
    if draft["kind"] == "add_facility":
        values = {
            "kind": draft["facility_kind"],
            "location": draft["location"],
            "count": draft["count"],
        }
    try:
        cr = await submit_change(
            staff=staff,
            community=community,
            kind=draft["kind"],
            values=values,
            facility_code=draft.get("code") or None,
            photo_ids=[stored.id],
            source="wechat",
            now=turn.now,
            governance=turn.services.settings.governance,
        )
    except ChangeRefused as refused:
        d.end_flow()
        return _refused("", refused)
    d.end_flow()
    department = await Department.get_or_none(code=cr.department)
    facility = await Facility.get_or_none(id=cr.facility_id) if cr.facility_id else None
    return render_text(
        "change_submitted",
        ref=cr.ref,
        summary=summary_of(cr, facility),
        photos=len(cr.photo_ids),
        department_name=department.name if department else cr.department,
    )


def _refused(ref: str, refused: ChangeRefused) -> str:
    return render_text(
        "change_refused", ref=ref or refused.ref, reason=label("change_refusal", refused.code)
    )


async def _start(turn: Turn, proposal: Proposal) -> str:
    d = turn.dialogue
    d.end_flow()
    d.flow = FLOW
    d.draft = {
        "kind": proposal.kind,
        "facility_kind": proposal.facility_kind,
        "location": proposal.location,
        "count": proposal.count,
        "code": proposal.code,
    }
    assert turn.staff is not None
    scope = await _scope(turn)
    named = [c for c in scope if mentions(proposal.location, c.name)]
    chosen = named if len(named) == 1 else scope
    if len(chosen) == 1:
        return await _with_community(turn, chosen[0])
    if not chosen:
        d.end_flow()
        return render_text("change_refused", ref="", reason=label("change_refusal", "not_allowed"))
    d.ask("change_community", [c.id for c in chosen])
    return render_text("change_ask_community", items=[c.name for c in chosen])


async def _scope(turn: Turn) -> list[Community]:
    staff = turn.staff
    assert staff is not None
    if staff.all_communities:
        return list(await Community.all().order_by("id"))
    return list(await staff.communities.all().order_by("id"))


async def _answer_community(turn: Turn, normalized: str) -> str:
    d = turn.dialogue
    communities = {c.id: c for c in await Community.filter(id__in=d.choices)}
    index = pick(normalized, len(d.choices))
    chosen = communities.get(d.choices[index]) if index is not None else None
    if chosen is None:
        chosen = next((c for c in communities.values() if mentions(normalized, c.name)), None)
    if chosen is None:
        ordered = [communities[i] for i in d.choices if i in communities]
        return render_text("change_ask_community", items=[c.name for c in ordered])
    return await _with_community(turn, chosen)


async def _with_community(turn: Turn, community: Community) -> str:
    """Check what can be checked now (the facility exists), then ask for the photo."""
    d = turn.dialogue
    d.draft["community_id"] = community.id
    if d.draft["kind"] == "retire_facility":
        facility = await Facility.get_or_none(community_id=community.id, code=d.draft["code"])
        if facility is None:
            d.end_flow()
            return _refused("", ChangeRefused("no_such_facility"))
        d.draft["facility_kind"] = facility.kind
    d.ask("change_photo")
    return await _ask_photo(turn)


async def _ask_photo(turn: Turn) -> str:
    d = turn.dialogue
    draft = d.draft
    facility = None
    if draft.get("code") and draft.get("community_id"):
        facility = await Facility.get_or_none(
            community_id=draft["community_id"], code=draft["code"]
        )
    payload = {
        "kind": draft["facility_kind"],
        "location": draft["location"],
        "count": draft["count"],
    }
    summary = summary_text(draft["kind"], payload, facility)
    governance = turn.services.settings.governance
    try:
        code = owner_of(subject_of(draft["kind"], draft["facility_kind"]), governance.owners)
    except ChangeInvalid:
        code = ""
    department = await Department.get_or_none(code=code) if code else None
    return render_text(
        "change_ask_photo",
        summary=summary,
        department_name=department.name if department else code,
    )


async def _decide(turn: Turn, approve: bool, ref: str, reason: str) -> str:
    staff = turn.staff
    assert staff is not None
    try:
        cr = await decide_change(
            ref,
            staff,
            approve=approve,
            reason=reason,
            now=turn.now,
            governance=turn.services.settings.governance,
        )
    except ChangeRefused as refused:
        return _refused(ref, refused)
    cr = await get_change(cr.ref)
    facility = await Facility.get_or_none(id=cr.facility_id) if cr.facility_id else None
    return render_text(
        "change_decision_done",
        ref=cr.ref,
        approved=approve,
        summary=summary_of(cr, facility),
        reason=cr.reason,
    )
