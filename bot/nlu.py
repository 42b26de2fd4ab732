"""Chinese message -> intent + slots for the bot: pure code, every word read from bot/lexicon/."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any

from bot import lexicon, timeparse

INTENTS = (
    "report_repair",
    "query_progress",
    "cancel_task",
    "urge_task",
    "rate",
    "bind",
    "unbind",
    "accept_task",
    "complete_task",
    "check_fees",
    "help",
    "cancel_dialogue",
    "affirm",
    "deny",
    "unknown",
)
TASK_INTENTS = frozenset(
    {"query_progress", "cancel_task", "urge_task", "accept_task", "complete_task", "rate"}
)
ADDRESS_INTENTS = frozenset({"bind", "affirm", "deny", "unknown"})
# Replies that may open with yes/no and go on with a correction ("no, building 6").
LEADING_INTENTS = frozenset({"affirm", "deny", "cancel_dialogue"})

Span = tuple[int, int]


@dataclass(frozen=True)
class Parsed:
    """What one message means: an intent from INTENTS, the slots found, a rough confidence."""

    intent: str
    slots: dict[str, str] = field(default_factory=dict)
    confidence: float = 0.0


# --------------------------------------------------------------------------- vocabulary


def _longest_first(words: Iterable[str]) -> list[str]:
    return sorted({str(w) for w in words}, key=lambda w: (-len(w), w))


def _alternation(words: Iterable[str]) -> str:
    return "|".join(re.escape(w) for w in _longest_first(words))


@dataclass(frozen=True)
class _Vocab:
    """The lexicon compiled once: regexes, lookup tables, ordered keyword lists."""

    typos: dict[str, str]
    typo_re: re.Pattern[str] | None
    digits: dict[str, int]
    units: dict[str, int]
    numeral_re: re.Pattern[str]
    num_before: tuple[str, ...]
    num_after: tuple[str, ...]
    num_keep: tuple[str, ...]
    num_approximate: frozenset[str]
    token_re: re.Pattern[str]
    room_answer_re: re.Pattern[str]
    dash_re: re.Pattern[str]
    marker_kind: dict[str, str]
    not_room_after_hao: tuple[str, ...]
    not_room_before: tuple[str, ...]
    joiners: frozenset[str]
    canonical: dict[str, str]
    spots: tuple[str, ...]
    indoor: tuple[str, ...]
    categories: tuple[tuple[str, int, tuple[str, ...]], ...]
    triggers: tuple[str, ...]
    triggers_except: tuple[str, ...]
    category_triggers: dict[str, tuple[str, ...]]
    outage_re: re.Pattern[str]
    outage_category: dict[str, str]
    outage_not: re.Pattern[str]
    rating_words: dict[str, int]
    rating_re: re.Pattern[str]
    rating_weak: frozenset[str]
    score_re: re.Pattern[str]
    comment_trim_start: tuple[str, ...]
    comment_trim_end: tuple[str, ...]
    exact: dict[str, str]
    restart: frozenset[str]
    particles: str
    courtesy: tuple[str, ...]
    segmentable: dict[str, str]
    order: tuple[str, ...]
    min_score: int
    phrases: dict[str, tuple[tuple[str, int], ...]]
    with_ref: dict[str, tuple[str, ...]]
    report_filler: tuple[str, ...]
    ref_re: re.Pattern[str]
    phone_tail_re: re.Pattern[str]


@cache
def _vocab() -> _Vocab:
    numerals = lexicon.load("numerals")
    typos = {str(k): str(v) for k, v in lexicon.load("typos").items()}
    address = lexicon.load("address")
    categories = lexicon.load("categories")["categories"]
    urgency = lexicon.load("urgency")
    outages = urgency["outages"]
    ratings = lexicon.load("ratings")
    intents = lexicon.load("intents")
    refs = lexicon.load("references")

    digits = {str(k): int(v) for k, v in numerals["digits"].items()}
    units = {str(k): int(v) for k, v in numerals["units"].items()}
    numeral_chars = "".join(re.escape(c) for c in [*digits, *units])

    marker_kind: dict[str, str] = {}
    for kind in ("building", "building_or_floor", "building_or_room", "unit", "floor", "room"):
        for marker in address[kind]:
            marker_kind[str(marker)] = kind
    markers = _alternation(marker_kind)
    # a number (or a single letter before a building marker: block "A") and the marker after it;
    # never the digits of a task reference (t1042) or of a longer number
    token_re = re.compile(
        rf"(?<![a-z\d])(?:(\d+)|([a-z])(?={_alternation(address['building'])}))({markers})?"
    )

    exact: dict[str, str] = {}
    phrases: dict[str, tuple[tuple[str, int], ...]] = {}
    with_ref: dict[str, tuple[str, ...]] = {}
    for name, entry in intents["intents"].items():
        for word in entry.get("exact", []):
            exact[str(word)] = name
        for word in entry.get("restart", []):
            exact[str(word)] = name
        scored = [(str(p), len(str(p))) for p in entry.get("phrases", [])]
        scored += [(str(p), len(str(p)) + 3) for p in entry.get("strong", [])]
        phrases[name] = tuple(scored)
        with_ref[name] = tuple(_longest_first(entry.get("with_ref", [])))
    restart = frozenset(str(w) for w in intents["intents"]["cancel_dialogue"].get("restart", []))

    rating_words = {str(k): int(v) for k, v in ratings["words"].items()}
    score_markers = _alternation(ratings["score_markers"])
    not_after = _alternation(ratings["not_score_after"])
    prefixes = _alternation(refs["task_ref_prefixes"])
    suffixes = _alternation(refs["task_ref_suffixes"])

    return _Vocab(
        typos=typos,
        typo_re=re.compile(_alternation(typos)) if typos else None,
        digits=digits,
        units=units,
        numeral_re=re.compile(f"[{numeral_chars}]+"),
        num_before=tuple(_longest_first(numerals["before"])),
        num_after=tuple(_longest_first(numerals["after"])),
        num_keep=tuple(_longest_first(numerals["keep"])),
        num_approximate=frozenset(str(w) for w in numerals.get("approximate", [])),
        token_re=token_re,
        room_answer_re=re.compile(
            rf"(\d{{3,4}})(?:{_alternation([*address['room'], *address['building_or_room']])})?"
        ),
        dash_re=re.compile(r"(?<![\d-])(\d{1,3})-(\d{1,2})-(\d{2,5})(?![\d-])"),
        marker_kind=marker_kind,
        not_room_after_hao=tuple(str(w) for w in address["not_room_after_hao"]),
        not_room_before=tuple(str(w) for w in address["not_room_before"]),
        joiners=frozenset([",", *(str(w) for w in address["joiners"])]),
        canonical={str(k): str(v) for k, v in address["canonical"].items()},
        spots=tuple(_longest_first(address["public_spots"])),
        indoor=tuple(_longest_first(address["indoor"])),
        categories=tuple(
            (str(c["name"]), int(c.get("priority", 1)), tuple(str(k) for k in c["keywords"]))
            for c in categories
        ),
        triggers=tuple(_longest_first(urgency["triggers"])),
        triggers_except=tuple(_longest_first(urgency.get("triggers_except", []))),
        category_triggers={
            str(k): tuple(str(w) for w in words)
            for k, words in (urgency.get("category_triggers") or {}).items()
        },
        outage_re=re.compile(
            rf"({_alternation(outages['supplies'])})[^,]{{0,{int(outages['window'])}}}?"
            rf"(?:{_alternation(outages['gone'])})"
        ),
        outage_category={str(k): str(c) for k, c in outages["supplies"].items()},
        outage_not=re.compile(
            _alternation([*outages["not_words"], *urgency.get("triggers_except", [])])
        ),
        rating_words=rating_words,
        rating_re=re.compile(_alternation(rating_words)),
        rating_weak=frozenset(str(w) for w in ratings.get("weak", [])),
        score_re=re.compile(rf"(?<![\d.])([1-5])(?:{score_markers})(?!{not_after})"),
        comment_trim_start=tuple(_longest_first(ratings["comment_trim_start"])),
        comment_trim_end=tuple(_longest_first(ratings["comment_trim_end"])),
        exact=exact,
        restart=restart,
        particles="".join(str(p) for p in intents["particles"]),
        courtesy=tuple(_longest_first(intents.get("courtesy", []))),
        segmentable={w: i for w, i in exact.items() if i in LEADING_INTENTS},
        order=tuple(str(i) for i in intents["order"]),
        min_score=int(intents["min_score"]),
        phrases=phrases,
        with_ref=with_ref,
        report_filler=tuple(_longest_first(intents.get("report_filler", []))),
        ref_re=re.compile(
            rf"(?<![a-z])t(\d{{1,9}})(?!\d)|(\d{{1,9}})(?:{suffixes})|(?:{prefixes})(\d{{1,9}})(?!\d)"
        ),
        phone_tail_re=re.compile(
            rf"(?:{_alternation(refs['phone_tail_prefixes'])})(\d{{4}})(?!\d)"
        ),
    )


# --------------------------------------------------------------------------- normalize

# Dash-like characters people and IMEs type between 5-2-302.
_DASHES = frozenset("-\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u30fc\uff0d\ufe63")


def _clean_characters(text: str) -> str:
    out: list[str] = []
    for ch in text:
        if ch.isspace():
            out.append(" ")
        elif ch in _DASHES:
            out.append("-")
        elif ch in ":.+":
            out.append(ch)
        else:
            kind = unicodedata.category(ch)
            if kind[0] == "P" or kind == "Sm":
                out.append(",")
            elif kind[0] in "SCM":
                continue  # emoji, skin tones, joiners, variation selectors, controls
            else:
                out.append(ch)
    cleaned = "".join(out)
    cleaned = re.sub(r"(?<=\d) +(?=\d)", ",", cleaned)  # "room 201, 5 o'clock" stays two numbers
    cleaned = cleaned.replace(" ", "")
    cleaned = re.sub(r"(?<!\d)[-:.]|[-:.](?!\d)", ",", cleaned)  # kept only inside numbers
    cleaned = re.sub(r"\+(?!\d)", ",", cleaned)
    return re.sub(r",{2,}", ",", cleaned).strip(",")


def _numeral_value(run: str, v: _Vocab) -> str | None:
    if not any(ch in v.units for ch in run):
        return "".join(str(v.digits[ch]) for ch in run)  # "three zero two" -> 302, digit by digit
    total, pending, last_unit, after_zero, previous_digit = 0, 0, 0, False, False
    for ch in run:
        if ch in v.units:
            unit = v.units[ch]
            if last_unit and unit >= last_unit:
                return None
            total += (pending or 1) * unit
            pending, last_unit, previous_digit = 0, unit, False
        else:
            if previous_digit and not after_zero:
                return None  # "twelve-thirteen": a range, not a number
            pending = v.digits[ch]
            after_zero = pending == 0
            previous_digit = True
    if pending and last_unit >= 100 and not after_zero and run[-2] not in v.digits:
        pending *= last_unit // 10  # "one hundred two" said for 120 (colloquial)
    return str(total + pending)


def _convert_numerals(text: str, v: _Vocab) -> str:
    keep: list[Span] = []
    for word in v.num_keep:
        start = text.find(word)
        while start != -1:
            keep.append((start, start + len(word)))
            start = text.find(word, start + 1)

    def convert(match: re.Match[str]) -> str:
        run = match.group(0)
        start, end = match.span()
        if any(ks <= start and end <= ke for ks, ke in keep) or run in v.num_approximate:
            return run
        if (
            len(run) >= 2
            or text.startswith(v.num_before, end)
            or text.endswith(v.num_after, 0, start)
        ):
            return _numeral_value(run, v) or run
        return run

    return v.numeral_re.sub(convert, text)


def normalize(text: str) -> str:
    """One spelling for everything the parser reads: half-width, no spaces or emoji, clause
    punctuation as ",", typos fixed, numbers of buildings/rooms/times/scores as digits."""
    v = _vocab()
    cleaned = _clean_characters(unicodedata.normalize("NFKC", text or "").lower())
    if v.typo_re is not None:
        cleaned = v.typo_re.sub(lambda m: v.typos[m.group(0)], cleaned)
    return _convert_numerals(cleaned, v)


# --------------------------------------------------------------------------- addresses


@dataclass
class _Address:
    building: str | None = None
    unit: str | None = None
    room: str | None = None
    floor: str | None = None
    spans: list[Span] = field(default_factory=list)

    def as_slots(self) -> dict[str, str]:
        found = {"building": self.building, "unit": self.unit, "room": self.room}
        found["floor"] = self.floor
        return {k: val for k, val in found.items() if val is not None}


def _adjacent(text: str, end: int | None, start: int, v: _Vocab) -> bool:
    return end is not None and all(ch in v.joiners for ch in text[end:start])


# markers that name their slot whatever surrounds them
_PLAIN_KINDS = frozenset({"building", "unit", "floor", "room"})


def _slot_of(
    kind: str | None,
    next_is: str,
    joined: bool,
    tok: re.Match[str],
    found: _Address,
    text: str,
    v: _Vocab,
) -> str | None:
    """Which address slot one number token fills, given its marker and its neighbours."""
    if kind in _PLAIN_KINDS:
        return kind
    if kind == "building_or_floor":
        building_next = next_is in ("unit", "bare_room")
        return "building" if building_next and found.building is None else "floor"
    if kind == "building_or_room":
        if text.startswith(v.not_room_after_hao, tok.end()):
            return None  # "order no. 1042" is a task
        if next_is == "unit" and found.building is None:
            return "building"
        return "room" if joined and (found.building or found.unit) else None
    number = tok.group(1)
    if not (number and joined and (found.unit or found.building or found.floor)):
        return None
    if 2 <= len(number) <= 5 and not text.startswith(v.not_room_before, tok.end()):
        return "room"  # the bare number right after a unit/building (building 5 unit 2 "302")
    return None


def _find_address(text: str, v: _Vocab) -> _Address:
    found = _Address()
    dash = v.dash_re.search(text)
    if dash:
        found.building, found.unit, found.room = dash.group(1), dash.group(2), dash.group(3)
        found.spans.append(dash.span())
    tokens = [
        m
        for m in v.token_re.finditer(text)
        if not (dash and dash.start() <= m.start() < dash.end()) and (m.group(1) or m.group(3))
    ]
    last_end: int | None = None
    for i, tok in enumerate(tokens):
        number = tok.group(1) or tok.group(2).upper()
        marker = tok.group(3)
        kind = v.marker_kind.get(marker) if marker else None
        nxt = tokens[i + 1] if i + 1 < len(tokens) else None
        next_is = ""
        if nxt is not None and _adjacent(text, tok.end(), nxt.start(), v):
            next_kind = v.marker_kind.get(nxt.group(3)) if nxt.group(3) else None
            bare_room = nxt.group(1) and 3 <= len(nxt.group(1)) <= 4
            next_is = next_kind or ("bare_room" if bare_room else "bare")
        joined = _adjacent(text, last_end, tok.start(), v)
        slot = _slot_of(kind, next_is, joined, tok, found, text, v)
        if slot is None or not _valid(slot, number) or getattr(found, slot) is not None:
            continue
        setattr(found, slot, number)
        found.spans.append(tok.span())
        last_end = tok.end()
    return found


def _valid(slot: str, number: str) -> bool:
    limits = {"building": 3, "unit": 2, "floor": 2, "room": 5}
    return len(number) <= limits[slot] and number.strip("0") != ""


def _overlaps(start: int, end: int, spans: Iterable[Span]) -> bool:
    return any(start < e and s < end for s, e in spans)


def _find_spot(text: str, address: _Address, v: _Vocab) -> tuple[str, Span] | None:
    best: tuple[int, int, str] | None = None
    for spot in v.spots:
        start = text.find(spot)
        while start != -1:
            end = start + len(spot)
            # "unit 2 door": the spot "unit door" may share the marker of the address before it
            inside = any(s <= start and end <= e for s, e in address.spans)
            if not inside and (best is None or (start, -len(spot)) < (best[0], -len(best[2]))):
                best = (start, end, spot)
            start = text.find(spot, start + 1)
    return (best[2], (best[0], best[1])) if best else None


def parse_room(text: str) -> dict[str, str] | None:
    """Building/unit/room (and floor) named in a message, partial when only some are given
    (the dialogue then asks for the rest); None when it names none."""
    v = _vocab()
    normalized = normalize(text)
    whole = v.room_answer_re.fullmatch(normalized)
    if whole:
        return {"room": whole.group(1)}  # the bare answer to "which room?"
    found = _find_address(normalized, v).as_slots()
    return found or None


# --------------------------------------------------------------------------- phone, task, score


def parse_phone(text: str) -> str | None:
    """A mainland mobile number (11 digits) or the last four digits someone gives to be found."""
    v = _vocab()
    normalized = normalize(text)
    joined = re.sub(r"(?<=\d)[,\-]+(?=\d)", "", normalized)
    mobile = re.search(r"(?<!\d)(?:\+?86)?(1[3-9]\d{9})(?!\d)", joined)
    if mobile:
        return mobile.group(1)
    tail = v.phone_tail_re.search(joined)
    if tail:
        return tail.group(1)
    return joined if re.fullmatch(r"\d{4}", joined) else None


def parse_task_ref(text: str) -> str | None:
    """The task a message names (T1042, t1042, "1042 order", "order no. 1042") as "T1042"."""
    return _task_ref(normalize(text), _vocab())


def _task_ref(normalized: str, v: _Vocab) -> str | None:
    match = v.ref_re.search(normalized)
    if match is None:
        return None
    digits = next(g for g in match.groups() if g)
    return "T" + digits


def _task_ref_span(normalized: str, v: _Vocab) -> Span | None:
    match = v.ref_re.search(normalized)
    return match.span() if match else None


def _strip_particles(text: str, v: _Vocab) -> str:
    return text.rstrip(v.particles + ",") or text


def _score(normalized: str, v: _Vocab) -> tuple[int, str, bool] | None:
    """(score, comment, strong): strong when the rating is unmistakable out of context."""
    core = _strip_particles(normalized, v)
    if re.fullmatch(r"[1-5]", core):
        return int(core), "", True
    numeric = v.score_re.search(normalized)
    words = list(v.rating_re.finditer(normalized))
    if numeric is None and not words:
        return None
    if numeric is not None:
        score, strong = int(numeric.group(1)), True
    else:
        first = words[0].group(0)
        score = v.rating_words[first]
        head = _strip_particles(normalized.partition(",")[0], v)
        # a weak word rates when it is the whole reply or its first clause ("OK-ish, but ...")
        strong = first not in v.rating_weak or first in (core, head)
    # take out the score and the unmistakable rating words ("five stars, praise"); keep weak
    # words that describe something ("the attitude was good") unless they are the rating itself
    removed = [
        m.span()
        for i, m in enumerate(words)
        if m.group(0) not in v.rating_weak or (numeric is None and i == 0)
    ]
    if numeric is not None:
        removed.append(numeric.span())
    comment = "".join(ch for i, ch in enumerate(normalized) if not _overlaps(i, i + 1, removed))
    return score, _trim_comment(comment, v), strong


def _trim_comment(comment: str, v: _Vocab) -> str:
    changed = True
    while changed:
        changed = False
        comment = comment.strip(",")
        for word in v.comment_trim_start:
            if comment.startswith(word):
                comment, changed = comment[len(word) :], True
        for word in v.comment_trim_end:
            if comment.endswith(word):
                comment, changed = comment[: -len(word)], True
    return comment


def parse_score(text: str) -> tuple[int, str] | None:
    """A 1..5 rating and the comment around it ("not satisfied, came late" -> (2, "came late"))."""
    found = _score(normalize(text), _vocab())
    return (found[0], found[1]) if found else None


# --------------------------------------------------------------------------- repair details


def _category(text: str, v: _Vocab) -> str | None:
    best: tuple[int, int, int] | None = None
    name: str | None = None
    for order, (category, priority, keywords) in enumerate(v.categories):
        length = max((len(k) for k in keywords if k in text), default=0)
        if length and (best is None or (priority, length, -order) > best):
            best, name = (priority, length, -order), category
    return name


def _category_strength(text: str, v: _Vocab) -> int:
    return max(
        (len(k) for _, _, keywords in v.categories for k in keywords if k in text), default=0
    )


def _outage(text: str, v: _Vocab) -> str | None:
    """The category of a supply said to be gone in other words (水一点都没有了), or None."""
    found = v.outage_re.search(v.outage_not.sub(lambda m: "#" * len(m.group()), text))
    return v.outage_category[found.group(1)] if found else None


def _urgent(text: str, category: str | None, v: _Vocab) -> bool:
    if _outage(text, v) is not None:
        return True
    if category is not None and any(w in text for w in v.category_triggers.get(category, ())):
        return True
    excepted: list[Span] = []
    for word in v.triggers_except:
        start = text.find(word)
        while start != -1:
            excepted.append((start, start + len(word)))
            start = text.find(word, start + 1)
    for word in v.triggers:
        start = text.find(word)
        while start != -1:
            if not _overlaps(start, start + len(word), excepted):
                return True
            start = text.find(word, start + 1)
    return False


def _trigger_strength(text: str, v: _Vocab) -> int:
    outage = 3 if _outage(text, v) is not None else 0  # as strong as 没水了
    return max([outage, *(len(w) for w in v.triggers if w in text)])


def _remove_spans(text: str, spans: Iterable[Span]) -> str:
    spans = sorted(spans)
    kept, cursor = [], 0
    for start, end in spans:
        if start > cursor:
            kept.append(text[cursor:start])
        cursor = max(cursor, end)
    kept.append(text[cursor:])
    return re.sub(r",{2,}", ",", ",".join(k for k in kept if k)).strip(",")


def _description(text: str, spans: Iterable[Span], v: _Vocab) -> str:
    rest = _remove_spans(text, spans)
    changed = True
    while changed:
        changed = False
        rest = rest.strip(",")
        for filler in v.report_filler:
            if rest.startswith(filler):
                rest, changed = rest[len(filler) :], True
    return rest.strip(",")


def _place(address: _Address, spot: str, v: _Vocab) -> str:
    prefix = ""
    if address.building:
        lettered = not address.building.isdigit()
        marker = v.canonical["lettered_building" if lettered else "building"]
        prefix += address.building + marker
        if address.unit:
            prefix += address.unit + v.canonical["unit"]
    return prefix + spot


def _repair_slots(text: str, address: _Address, now: datetime | None, v: _Vocab) -> dict[str, str]:
    slots = address.as_slots()
    spans = list(address.spans)
    spot = _find_spot(text, address, v)
    if address.room:
        slots["place_kind"] = "room"
    elif spot is not None:
        slots["place_kind"] = "public"
        slots["place"] = _place(address, spot[0], v)
    elif any(word in text for word in v.indoor):
        slots["place_kind"] = "room"
    visit = timeparse.find_visit_time(text, now, require_cue=True)
    if visit is not None:
        spans.extend(visit.spans)
        slots["visit_time"] = visit.phrase
        if visit.any_time:
            slots["visit_any"] = "1"
        if visit.start is not None and visit.end is not None:
            slots["visit_from"] = visit.start.isoformat()
            slots["visit_to"] = visit.end.isoformat()
    description = _description(text, spans, v)
    if description:
        slots["description"] = description
        category = _category(text, v) or _outage(text, v)
        slots["category"] = category or "other"
        slots["urgency"] = "urgent" if _urgent(text, category, v) else "normal"
    return slots


# --------------------------------------------------------------------------- intents


def _bare_task_number(text: str, address: _Address) -> str | None:
    for match in re.finditer(r"(?<![\d\-a-z])(\d{3,6})(?![\d\-])", text):
        if not _overlaps(match.start(), match.end(), address.spans):
            return match.group(1)
    return None


def _intent_scores(text: str, has_ref: bool, v: _Vocab) -> dict[str, int]:
    scores: dict[str, int] = {}
    for name, phrases in v.phrases.items():
        best = max((weight for phrase, weight in phrases if phrase in text), default=0)
        if has_ref:
            best = max(best, max((len(p) + 2 for p in v.with_ref[name] if p in text), default=0))
        if best:
            scores[name] = best
    category = _category_strength(text, v)
    trigger = _trigger_strength(text, v)
    report = max(
        scores.get("report_repair", 0),
        category + 1 if category else 0,
        trigger + 2 if trigger else 0,
    )
    if report:
        scores["report_repair"] = report
    rating = _score(text, v)
    if rating is not None and rating[2]:
        # "water pressure is poor" describes a fault: a rating word loses to a clear fault
        # keyword unless the score is a number (5 stars)
        explicit = v.score_re.search(text) is not None
        scores["rate"] = max(scores.get("rate", 0), 5 if explicit or category < 2 else 2)
    return scores


def _best(scores: dict[str, int], v: _Vocab) -> tuple[str, int] | None:
    if not scores:
        return None
    rank = {name: i for i, name in enumerate(v.order)}
    name = min(scores, key=lambda n: (-scores[n], rank.get(n, len(rank))))
    return name, scores[name]


def _slots_for(
    intent: str, text: str, address: _Address, task_ref: str | None, now: datetime | None, v: _Vocab
) -> dict[str, str]:
    slots: dict[str, str] = {}
    if intent == "report_repair":
        slots = _repair_slots(text, address, now, v)
    elif intent in ADDRESS_INTENTS:
        slots = address.as_slots()
    if intent in TASK_INTENTS and task_ref:
        slots["task_ref"] = task_ref
    if intent == "rate":
        ref_span = _task_ref_span(text, v)
        rating = _score(_remove_spans(text, [ref_span]) if ref_span else text, v)
        if rating is not None:
            slots["score"] = str(rating[0])
            if rating[1]:
                slots["comment"] = rating[1]
    if intent == "cancel_dialogue" and any(word in text for word in v.restart):
        slots["restart"] = "1"
    phone = parse_phone(text) if re.search(r"\d{4}", text) else None
    if phone and intent not in TASK_INTENTS:
        slots["phone"] = phone
    return slots


def _strip_courtesy(text: str, v: _Vocab) -> str:
    changed = True
    while changed:
        changed = False
        for word in v.courtesy:
            if text.startswith(word) and len(text) > len(word):
                text, changed = text[len(word) :], True
            if text.endswith(word) and len(text) > len(word):
                text, changed = text[: -len(word)], True
    return text


def _segments_into(text: str, words: dict[str, str]) -> str | None:
    """The one intent whose exact words make up the whole text ("yes, right" -> affirm)."""
    reach: dict[int, str | None] = {0: None}
    for start in range(len(text)):
        if start not in reach:
            continue
        for end in range(start + 1, len(text) + 1):
            intent = words.get(text[start:end])
            if intent is not None and reach[start] in (None, intent):
                reach.setdefault(end, intent)
    return reach.get(len(text))


def _exact_intent(normalized: str, v: _Vocab) -> str | None:
    core = _strip_courtesy(_strip_particles(normalized, v).replace(",", ""), v)
    core = _strip_particles(core, v)
    if core in v.exact:
        return v.exact[core]
    # short replies only ("yes yes", "no no"): a long text is never a bare yes/no
    return _segments_into(core, v.segmentable) if len(core) <= 12 else None


def _confidence(score: int) -> float:
    return round(min(0.9, 0.35 + 0.08 * score), 2)


def parse(text: str, *, now: datetime | None = None) -> Parsed:
    """Intent and slots of one resident or staff message; `now` resolves visit times to
    visit_from/visit_to (without it only the visit_time phrase is kept)."""
    v = _vocab()
    normalized = normalize(text)
    if not normalized:
        asked = "?" in unicodedata.normalize("NFKC", text or "")
        return Parsed("help" if asked else "unknown", {}, 0.9 if asked else 0.0)

    address = _find_address(normalized, v)
    exact = _exact_intent(normalized, v)
    if exact is not None:
        return Parsed(exact, _slots_for(exact, normalized, address, None, now, v), 0.95)

    head, comma, rest = normalized.partition(",")
    leading = _exact_intent(head, v) if comma else None
    if leading in LEADING_INTENTS:
        rest_address = _find_address(rest, v)
        return Parsed(leading, _slots_for(leading, rest, rest_address, None, now, v), 0.85)

    task_ref = _task_ref(normalized, v)
    bare = None if task_ref else _bare_task_number(normalized, address)
    scores = _intent_scores(normalized, bool(task_ref or bare), v)
    rating = _score(normalized, v)
    if rating is not None and not rating[2] and rating[1] == "":
        scores["rate"] = max(scores.get("rate", 0), 5)
    best = _best(scores, v)
    if best is None or best[1] < v.min_score:
        if task_ref:
            best = ("query_progress", v.min_score)
        else:
            slots = _slots_for("unknown", normalized, address, None, now, v)
            return Parsed("unknown", slots, 0.3 if slots else 0.1)
    intent, score = best
    if intent in TASK_INTENTS and task_ref is None and bare is not None and intent != "rate":
        task_ref = "T" + bare
    return Parsed(
        intent, _slots_for(intent, normalized, address, task_ref, now, v), _confidence(score)
    )


def vocabulary_size() -> dict[str, Any]:
    """How many words each lexicon part holds (shown by the accuracy bench)."""
    v = _vocab()
    return {
        "typos": len(v.typos),
        "category_keywords": sum(len(k) for _, _, k in v.categories),
        "public_spots": len(v.spots),
        "urgency_triggers": len(v.triggers),
        "intent_phrases": sum(len(p) for p in v.phrases.values()) + len(v.exact),
        "rating_words": len(v.rating_words),
    }


def work_details(text: str) -> dict[str, str]:
    """Place, category and urgency named in a piece of work ("把3号楼电梯修好"): the repair
    slots read without asking what the message wants (a manager's instruction)."""
    v = _vocab()
    normalized = normalize(text)
    return _repair_slots(normalized, _find_address(normalized, v), None, v)
