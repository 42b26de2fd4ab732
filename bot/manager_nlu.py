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
