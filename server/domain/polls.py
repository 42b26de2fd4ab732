"""Consultation polls, pure: question checks, reading an answer as typed in chat, the summary.

Answers are stored per question number ("1", "2", ...): a choice as its option index (0-based),
several choices as a sorted list of indexes, a rating as 1-5, free text as text.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

KINDS = ("single", "multiple", "rating", "text")
VOTE_PER = ("household", "person")
LETTERS = "ABCDEFGHI"
MAX_OPTIONS = len(LETTERS)  # one letter or one digit per option: "AC" and "13" stay unambiguous
MAX_QUESTIONS = 20
MAX_TEXT = 500
RATING_MIN, RATING_MAX = 1, 5
# Anything between choices: commas (normalised or not), spaces, slashes, the ideographic comma.
_SEPARATORS = re.compile(r"[\s,;/.\u3001\uff0c\uff1b+&]+")
_RATING = re.compile(r"(\d+)\D{0,2}")


class PollInvalid(Exception):
    """A poll or an answer that cannot be accepted; `code` names why (labels.yaml `poll`)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass(frozen=True)
class Question:
    kind: str
    text: str
    options: tuple[str, ...] = ()


def check_questions(raw: Sequence[Mapping[str, Any]]) -> list[Question]:
    """The questions of a new poll, or PollInvalid: choices need 2-9 options, others none."""
    if not raw or len(raw) > MAX_QUESTIONS:
        raise PollInvalid("bad_questions")
    questions = []
    for item in raw:
        if not isinstance(item, Mapping):
            raise PollInvalid("bad_questions")
        kind, text = item.get("kind"), str(item.get("text") or "").strip()
        options = item.get("options") or []
        if kind not in KINDS or not text or not isinstance(options, list):
            raise PollInvalid("bad_questions")
        options = [str(o).strip() for o in options]
        if kind in ("single", "multiple"):
            if not 2 <= len(options) <= MAX_OPTIONS or not all(options):
                raise PollInvalid("bad_options")
        elif options:
            raise PollInvalid("bad_options")
        questions.append(Question(str(kind), text, tuple(options)))
    return questions


def questions_of(stored: Iterable[Mapping[str, Any]]) -> list[Question]:
    return [Question(q["kind"], q["text"], tuple(q.get("options") or ())) for q in stored]


def _choice(token: str, count: int) -> int:
    index = LETTERS.find(token) if token.isalpha() else int(token) - 1 if token.isdigit() else -1
    if not 0 <= index < count:
        raise PollInvalid("bad_choice")
    return index


def _choice_tokens(said: str) -> list[str]:
    tokens: list[str] = []
    for part in _SEPARATORS.split(said):
        # "AC" / "13": one option per character (at most 9 options, so no "10")
        tokens.extend(part)
    return tokens


def parse_answer(question: Question, said: str) -> Any:
    """What a resident's reply means for `question` ("1", "a", "AC", "A,C", "5", free text)."""
    text = unicodedata.normalize("NFKC", said).strip()
    if question.kind == "text":
        if not text:
            raise PollInvalid("empty_answer")
        return text[:MAX_TEXT]
    if question.kind == "rating":
        match = _RATING.fullmatch(text)
        if match is None or not RATING_MIN <= int(match.group(1)) <= RATING_MAX:
            raise PollInvalid("bad_rating")
        return int(match.group(1))
    tokens = _choice_tokens(text.upper())
    if not tokens:
        raise PollInvalid("bad_choice")
    chosen = sorted({_choice(t, len(question.options)) for t in tokens})
    if question.kind == "single":
        if len(chosen) != 1:
            raise PollInvalid("one_choice")
        return chosen[0]
    return chosen


def check_answer(question: Question, value: Any) -> Any:
    """An answer sent as JSON (mini-program): the stored shape, or the reply's text parsed."""
    if isinstance(value, str):
        return parse_answer(question, value)
    if question.kind == "single" and isinstance(value, int) and not isinstance(value, bool):
        return _choice(str(value + 1), len(question.options))
    if question.kind == "rating" and isinstance(value, int) and not isinstance(value, bool):
        return parse_answer(question, str(value))
    if (
        question.kind == "multiple"
        and isinstance(value, list)
        and value
        and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    ):
        return sorted({_choice(str(v + 1), len(question.options)) for v in value})
    raise PollInvalid("bad_answer")


def letters(indexes: Iterable[int]) -> str:
    return "".join(LETTERS[i] for i in indexes)


# ------------------------------------------------------------------------------ summary


@dataclass(frozen=True)
class Ballot:
    """A voter's stored answers and the building their vote is counted in."""

    answers: Mapping[str, Any]
    building: str


@dataclass
class _Tally:
    counts: Counter[Any] = field(default_factory=Counter)
    answered: int = 0


def percent(part: int, whole: int) -> float:
    """part/whole as a percentage with one decimal (0 when nobody could answer)."""
    return round(100.0 * part / whole, 1) if whole else 0.0


def themes(
    words_per_answer: Iterable[Iterable[str]], stopwords: frozenset[str], top: int = 5
) -> list[dict[str, Any]]:
    """Common themes of free-text answers: the words most answers use (each counted once per
    answer), without stopwords, one-character words or numbers."""
    counts: Counter[str] = Counter()
    for words in words_per_answer:
        counts.update(
            {w for w in (w.strip() for w in words) if len(w) > 1 and not w.isdigit()} - stopwords
        )
    ranked = sorted(counts.items(), key=lambda wc: (-wc[1], wc[0]))
    return [{"word": w, "count": c} for w, c in ranked[:top]]


def summarize(
    questions: Sequence[Question],
    ballots: Sequence[Ballot],
    eligible_per_building: Mapping[str, int],
    text_themes: Mapping[int, list[dict[str, Any]]] | None = None,
) -> dict[str, Any]:
    """Counts and percentages per question, turnout overall and per building.

    A choice's percentage is of the voters who answered that question (a multiple-choice
    question can sum past 100). Turnout is voters over eligible voters (households or people).
    """
    tallies = [_Tally() for _ in questions]
    for ballot in ballots:
        for number, tally in enumerate(tallies, start=1):
            value = ballot.answers.get(str(number))
            if value is None:
                continue
            tally.answered += 1
            values = value if isinstance(value, list) else [value]
            kind = questions[number - 1].kind
            tally.counts.update(values if kind != "text" else [])
    summary_questions = []
    for number, (question, tally) in enumerate(zip(questions, tallies, strict=True), start=1):
        item: dict[str, Any] = {
            "number": number,
            "kind": question.kind,
            "text": question.text,
            "answered": tally.answered,
        }
        if question.kind in ("single", "multiple"):
            item["options"] = [
                {
                    "label": LETTERS[i],
                    "text": option,
                    "count": tally.counts[i],
                    "percent": percent(tally.counts[i], tally.answered),
                }
                for i, option in enumerate(question.options)
            ]
        elif question.kind == "rating":
            total = sum(score * n for score, n in tally.counts.items())
            item["counts"] = {str(s): tally.counts[s] for s in range(RATING_MIN, RATING_MAX + 1)}
            item["average"] = round(total / tally.answered, 2) if tally.answered else None
        else:
            item["themes"] = list((text_themes or {}).get(number, []))
        summary_questions.append(item)
    voted = Counter(b.building for b in ballots)
    eligible = sum(eligible_per_building.values())
    return {
        "voters": len(ballots),
        "eligible": eligible,
        "turnout": percent(len(ballots), eligible),
        "questions": summary_questions,
        "buildings": [
            {
                "building": name,
                "voters": voted[name],
                "eligible": eligible_per_building.get(name, 0),
                "turnout": percent(voted[name], eligible_per_building.get(name, 0)),
            }
            for name in sorted(set(eligible_per_building) | set(voted), key=_natural)
        ],
    }


def _natural(name: str) -> tuple[int, str]:
    return (int(name), "") if name.isdigit() else (10**9, name)
