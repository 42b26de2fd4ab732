"""Answering a consultation poll in chat, one question after another (issue 7).

"投票" (or a reply to the invitation) starts the newest open poll the resident is invited to;
each answer is saved at once (a dialogue that times out keeps what was answered), and saying
"投票" again walks the questions again, each new answer replacing the old one until close.
State: dialogue flow "poll", draft {"poll_id", "number"} (the question being asked, 1-based).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from bot import lexicon
from bot.context import Turn
from bot.nlu import normalize
from server.actions.polls import ballot_of, closes_text, open_polls_for, record_answers
from server.db.comms import Poll
from server.domain.polls import LETTERS, PollInvalid, Question, letters, questions_of
from templates_msg import label, render_text

FLOW = "poll"


@cache
def _start_words() -> frozenset[str]:
    return frozenset(normalize(str(w)) for w in lexicon.load("comms")["poll_start"])


def wants_poll(normalized: str) -> bool:
    """投票 / 参加投票 / 问卷: the resident wants to answer a poll."""
    return normalized in _start_words()


def _shown(question: Question, value: Any) -> str:
    """A stored answer as the resident typed it (B / AC / 4 / their words)."""
    if question.kind == "single" and isinstance(value, int):
        return LETTERS[value]
    if question.kind == "multiple" and isinstance(value, list):
        return letters(value)
    return str(value)


def _question(
    poll: Poll, number: int, answers: dict[str, Any], turn: Turn, *, first: bool = False
) -> str:
    questions = questions_of(poll.questions)
    q = questions[number - 1]
    previous = answers.get(str(number))
    return render_text(
        "poll_question",
        first=first,
        title=poll.title,
        total=len(questions),
        closes=closes_text(poll, turn.tz),
        previous=bool(answers),
        number=number,
        text=q.text,
        kind=q.kind,
        options=[f"{LETTERS[i]}. {o}" for i, o in enumerate(q.options)],
        previous_answer=_shown(q, previous) if previous is not None else "",
    )


async def start(turn: Turn) -> str:
    """Ask the first question of the newest open poll for this resident (or say there is none)."""
    resident = turn.resident
    polls = await open_polls_for(resident, turn.now) if resident is not None else []
    if resident is None or not polls:
        return render_text("poll_none")
    poll = polls[0]
    ballot = await ballot_of(poll, resident)
    d = turn.dialogue
    d.end_flow()
    d.flow, d.draft = FLOW, {"poll_id": poll.id, "number": 1}
    d.ask("poll_question")
    return _question(poll, 1, ballot.answers if ballot else {}, turn, first=True)


async def _current(turn: Turn) -> Poll | None:
    poll_id = turn.dialogue.draft.get("poll_id")
    return await Poll.get_or_none(id=poll_id) if isinstance(poll_id, int) else None


async def question_again(turn: Turn) -> str:
    """The pending question, asked again (after a photo or a command in between)."""
    poll = await _current(turn)
    if poll is None or turn.resident is None:
        turn.dialogue.end_flow()
        return ""
    ballot = await ballot_of(poll, turn.resident)
    number = int(turn.dialogue.draft.get("number") or 1)
    return _question(poll, number, ballot.answers if ballot else {}, turn)


async def answer(turn: Turn, text: str) -> str:
    """Save the answer to the pending question and ask the next one (or thank them)."""
    d = turn.dialogue
    poll = await _current(turn)
    resident = turn.resident
    if poll is None or resident is None:
        d.end_flow()
        return render_text("poll_none")
    questions = questions_of(poll.questions)
    number = int(d.draft.get("number") or 1)
    if not 1 <= number <= len(questions):
        d.end_flow()
        return render_text("poll_none")
    kind = questions[number - 1].kind
    said = text.strip() if kind == "text" else normalize(text)
    try:
        ballot = await record_answers(poll, resident, {str(number): said}, turn.now, replace=False)
    except PollInvalid as refused:
        if refused.code in ("poll_closed", "not_invited"):
            d.end_flow()
            return label("poll", refused.code)
        ballot_now = await ballot_of(poll, resident)
        question = _question(poll, number, ballot_now.answers if ballot_now else {}, turn)
        return render_text("poll_bad_answer", reason=label("poll", refused.code), question=question)
    if number >= len(questions):
        d.end_flow()
        return render_text("poll_done", title=poll.title, closes=closes_text(poll, turn.tz))
    d.draft["number"] = number + 1
    return _question(poll, number + 1, ballot.answers, turn)
