"""What a manager's chat message asks for: an instruction to a department, a question about
running work, an opinion, an order on a task. Pure: words from bot/lexicon/manager.yaml, the
departments passed in, the clock passed in; input is bot.nlu.normalize()d text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from bot import lexicon
from bot.nlu import parse_task_ref
from bot.timeparse import Deadline, find_deadline

Span = tuple[int, int]


@dataclass(frozen=True)
class DepartmentName:
    """A department as chat needs it: its id and every name people may call it."""

    id: int
    code: str
    name: str


@dataclass(frozen=True)
class Instruction:
    """通知工程部明天中午前把3号楼电梯修好 -> department, what to do, by when."""

    department_id: int
    work: str  # what to do, as said ("把3号楼电梯修好")
    deadline: Deadline | None


@dataclass(frozen=True)
class Opinion:
    """同意 T1042 / 不同意 T1042 价格太高."""

    agree: bool
    ref: str | None
    reason: str


@dataclass(frozen=True)
class TaskOrder:
    """An order on a running task: T1042 指示 今天处理完 / 返工 T1042 还在漏 / 评价 T1042 5分."""

    command: str  # instruct, rework, urge, rate
    ref: str
    rest: str  # the words after the command and the reference


@dataclass(frozen=True)
class _Words:
    verbs: tuple[str, ...]
    openers: tuple[str, ...]
    joiners: tuple[str, ...]
    late: tuple[str, ...]
    progress: tuple[str, ...]
    done: tuple[str, ...]
    disagree: tuple[str, ...]
    agree: tuple[str, ...]
    reason_openers: tuple[str, ...]
    commands: tuple[tuple[str, str], ...]  # (word, command), longest word first
    groups: tuple[frozenset[str], ...]
    suffixes: tuple[str, ...]
    ref_re: re.Pattern[str]


def _longest_first(words: Iterable[Any]) -> tuple[str, ...]:
    return tuple(sorted({str(w) for w in words}, key=lambda w: (-len(w), w)))


@cache
def _words() -> _Words:
    m = lexicon.load("manager")
    commands = [(str(w), str(c)) for c, words in m["task_commands"].items() for w in words]
    return _Words(
        verbs=_longest_first(m["instruct_verbs"]),
        openers=_longest_first(m["instruct_openers"]),
        joiners=_longest_first(m["instruct_joiners"]),
        late=_longest_first(m["late_words"]),
        progress=_longest_first(m["progress_words"]),
        done=_longest_first(m["done_words"]),
        disagree=_longest_first(m["disagree_words"]),
        agree=_longest_first(m["agree_words"]),
        reason_openers=_longest_first(m["reason_openers"]),
        commands=tuple(sorted(commands, key=lambda wc: (-len(wc[0]), wc[0]))),
        groups=tuple(frozenset(str(w).lower() for w in group) for group in m["departments"]),
        suffixes=_longest_first(m["name_suffixes"]),
        # the same task references bot.nlu reads (T1042, t1042), kept to cut them out of text
        ref_re=re.compile(r"(?<![a-z])t\d{1,9}(?!\d)"),
    )


def department_aliases(departments: Iterable[DepartmentName]) -> dict[str, int]:
    """Every word that names one of `departments` -> its id (a word naming two is dropped)."""
    w = _words()
    own_names: dict[str, set[int]] = {}
    other_names: dict[str, set[int]] = {}
    for department in departments:
        own = {department.code.lower(), department.name.lower()}
        for suffix in w.suffixes:
            if department.name.endswith(suffix) and len(department.name) > len(suffix) + 1:
                own.add(department.name[: -len(suffix)].lower())
        for name in own:
            own_names.setdefault(name, set()).add(department.id)
        for group in w.groups:
            if group & own:
                for name in group - own:
                    other_names.setdefault(name, set()).add(department.id)
    # A department's own name or code always means it; a lexicon alias only when one
    # department claims it.
    aliases = {n: ids.pop() for n, ids in other_names.items() if len(ids) == 1}
    aliases.update({n: ids.pop() for n, ids in own_names.items() if len(ids) == 1})
    return aliases


def find_department(text: str, aliases: dict[str, int], start: int = 0) -> tuple[int, Span] | None:
    """The department named first in `text` from `start` (the longest name at a position wins)."""
    best: tuple[int, int, int] | None = None
    for name, department_id in aliases.items():
        at = text.find(name, start)
        if at != -1 and (best is None or (at, -(len(name))) < (best[1], -(best[2] - best[1]))):
            best = (department_id, at, at + len(name))
    return (best[0], (best[1], best[2])) if best else None


def _strip_start(text: str, words: tuple[str, ...]) -> str:
    changed = True
    while changed:
        changed = False
        text = text.lstrip(",:")
        for word in words:
            if text.startswith(word) and len(text) > len(word):
                text, changed = text[len(word) :], True
    return text


def parse_instruction(text: str, aliases: dict[str, int], now: datetime) -> Instruction | None:
    """An instruction to a department, or None when the message is not one.

    It must open with an instruct verb followed by a department; the rest, less the deadline
    phrase, is the work. A department named with no work gives Instruction(work="").
    """
    w = _words()
    body = _strip_start(text, w.openers)
    verb = next((v for v in w.verbs if body.startswith(v)), None)
    if verb is None:
        return None
    found = find_department(body, aliases, len(verb))
    if found is None or body[len(verb) : found[1][0]].strip(",:") != "":
        return None
    department_id, (_, end) = found
    return parse_work(body[end:], department_id, now)


def parse_work(text: str, department_id: int, now: datetime) -> Instruction:
    """What to do and by when, for a department already named ("明天中午前把电梯修好")."""
    w = _words()
    rest = _strip_start(text, w.joiners)
    deadline = find_deadline(rest, now)
    if deadline is not None:
        rest = _cut(rest, deadline.spans)
    return Instruction(department_id, _strip_start(rest, w.joiners).strip(","), deadline)


def _cut(text: str, spans: Iterable[Span]) -> str:
    kept, cursor = [], 0
    for start, end in sorted(spans):
        kept.append(text[cursor:start])
        cursor = max(cursor, end)
    kept.append(text[cursor:])
    return re.sub(r",{2,}", ",", "".join(kept)).strip(",")


def _has(text: str, words: tuple[str, ...]) -> bool:
    return any(word in text for word in words)


def asks_late(text: str) -> bool:
    """工程部有哪些超时任务 / 有没有逾期的单子."""
    return _has(text, _words().late)


def asks_done(text: str) -> bool:
    """今天完成了多少."""
    return _has(text, _words().done)


def asks_progress(text: str) -> bool:
    """T1042 到哪了 (the caller checks that a reference was named)."""
    return _has(text, _words().progress)


def parse_opinion(text: str) -> Opinion | None:
    """同意 / 不同意 (+ reference, + reason); None when the message gives no opinion."""
    w = _words()
    ref = parse_task_ref(text)
    core = w.ref_re.sub(",", text).strip(",") if ref else text
    for words, agree in ((w.disagree, False), (w.agree, True)):
        for word in words:
            if core.startswith(word):
                reason = _strip_start(core[len(word) :], w.reason_openers)
                return Opinion(agree, ref, reason.strip(","))
    return None


def parse_task_order(text: str) -> TaskOrder | None:
    """指示 / 返工 / 催办 / 评价 with a task reference; None otherwise."""
    w = _words()
    ref = parse_task_ref(text)
    if ref is None:
        return None
    core = w.ref_re.sub(",", text).strip(",")
    for word, command in w.commands:
        if core.startswith(word):
            return TaskOrder(command, ref, core[len(word) :].strip(",:"))
    return None


@dataclass(frozen=True)
class NoticeOrder:
    """通知3号楼全体住户明天9点到12点停水 -> building 3, everyone, water outage, the words."""

    kind: str
    building: str  # "" = the whole estate
    unit: str
    relation: str  # "" = every resident, else owner or tenant
    body: str
    target: str  # the words naming the audience, echoed in the reply


@cache
def _notice_words() -> dict[str, Any]:
    c = lexicon.load("comms")
    buildings = "|".join(re.escape(s) for s in _longest_first(c["building_suffixes"]))
    units = "|".join(re.escape(s) for s in _longest_first(c["unit_suffixes"]))
    return {
        "verbs": _longest_first(c["notice_verbs"]),
        "whole": _longest_first(c["whole_estate"]),
        "audience": {str(k): str(v or "") for k, v in c["audience_words"].items()},
        "audience_order": _longest_first(c["audience_words"]),
        "kinds": [(str(k), [str(w) for w in ws]) for k, ws in c["notice_kinds"].items()],
        "default_kind": str(c["default_kind"]),
        "place_re": re.compile(rf"([0-9a-z]{{1,4}})(?:{buildings})(?:([0-9]{{1,3}})(?:{units}))?"),
    }


def parse_notice(text: str) -> NoticeOrder | None:
    """A notice to residents ("通知" + a place + 住户/业主/租户 + what), or None.

    The people word is what tells it from an instruction to a department (通知工程部...). A
    community name in the text is the caller's to find and cut out first.
    """
    w = _notice_words()
    body = _strip_start(text, _words().openers)
    verb = next((v for v in w["verbs"] if body.startswith(v)), None)
    if verb is None:
        return None
    rest = body[len(verb) :].lstrip(",:")
    place = w["place_re"].match(rest)
    building = unit = ""
    if place is not None:
        building, unit = place.group(1).upper(), place.group(2) or ""
        rest = rest[place.end() :]
    else:
        rest = _strip_start(rest, w["whole"])
    who = next((a for a in w["audience_order"] if rest.startswith(a)), None)
    if who is None:
        return None
    target = body[len(verb) : len(body) - len(rest) + len(who)].strip(",:")
    said = rest[len(who) :].strip(",:")
    if not said:
        return NoticeOrder(w["default_kind"], building, unit, w["audience"][who], "", target)
    kind = next((k for k, words in w["kinds"] if any(x in said for x in words)), None)
    return NoticeOrder(kind or w["default_kind"], building, unit, w["audience"][who], said, target)


@dataclass(frozen=True)
class KpiQuestion:
    """本月工程部及时率 / 我的完成率 / 上周客服部满意度 (docs/kpi.md, "In chat")."""

    measure: str  # a server.domain.kpi.Kpis field
    period: str  # day, week, month or year
    previous: bool  # 上周, 上月, ...: the period before the current one
    department_id: int | None
    mine: bool


@cache
def _kpi_words() -> dict[str, Any]:
    m = lexicon.load("manager")

    def pairs(section: str) -> list[tuple[str, str]]:
        found = [(str(w), str(k)) for k, words in m[section].items() for w in words]
        return sorted(found, key=lambda wk: (-len(wk[0]), wk[0]))

    return {
        "measures": pairs("kpi_measures"),
        "periods": pairs("kpi_periods"),
        "previous": pairs("kpi_previous_periods"),
        "mine": _longest_first(m["kpi_mine"]),
    }


def parse_kpi_question(text: str, aliases: dict[str, int]) -> KpiQuestion | None:
    """A question about a KPI, or None when no measure is named. Default period: this month."""
    w = _kpi_words()
    measure = next((k for word, k in w["measures"] if word in text), None)
    if measure is None:
        return None
    previous = next((k for word, k in w["previous"] if word in text), None)
    current = next((k for word, k in w["periods"] if word in text), None)
    found = find_department(text, aliases)
    return KpiQuestion(
        measure=measure,
        period=previous or current or "month",
        previous=previous is not None,
        department_id=found[0] if found else None,
        mine=found is None and _has(text, w["mine"]),
    )
