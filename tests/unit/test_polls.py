"""Poll answers as residents type them, and the summary maths (server/domain/polls.py)."""

from __future__ import annotations

import pytest

from server.domain.polls import (
    Ballot,
    PollInvalid,
    Question,
    check_answer,
    check_questions,
    parse_answer,
    summarize,
    themes,
)

SINGLE = Question("single", "elevator?", ("yes", "no", "later"))
MULTIPLE = Question("multiple", "which?", ("a", "b", "c", "d"))
RATING = Question("rating", "how good?")
TEXT = Question("text", "anything else?")


@pytest.mark.parametrize(
    ("said", "expected"),
    [("1", 0), ("A", 0), ("b", 1), ("3", 2), (" C ", 2), ("\uff22", 1)],
)
def test_single_choice_reads_a_number_or_a_letter(said, expected):
    assert parse_answer(SINGLE, said) == expected


@pytest.mark.parametrize(
    ("said", "expected"),
    [
        ("AC", [0, 2]),
        ("A,C", [0, 2]),
        ("a c", [0, 2]),
        ("1,3", [0, 2]),
        ("13", [0, 2]),
        ("CA", [0, 2]),
        ("A\u3001D", [0, 3]),
        ("AA", [0]),
        ("B", [1]),
    ],
)
def test_multiple_choice_reads_letters_or_numbers_in_any_form(said, expected):
    assert parse_answer(MULTIPLE, said) == expected


@pytest.mark.parametrize("said", ["", "E", "0", "5", "x", "A?", "AB"])
def test_bad_single_choice_is_refused(said):
    with pytest.raises(PollInvalid):
        parse_answer(SINGLE, said)


@pytest.mark.parametrize(("said", "expected"), [("5", 5), ("1", 1), ("4\u5206", 4)])
def test_rating_reads_one_to_five(said, expected):
    assert parse_answer(RATING, said) == expected


@pytest.mark.parametrize("said", ["0", "6", "10", "good", ""])
def test_rating_outside_one_to_five_is_refused(said):
    with pytest.raises(PollInvalid) as refused:
        parse_answer(RATING, said)
    assert refused.value.code == "bad_rating"


def test_free_text_is_kept_and_empty_text_refused():
    assert parse_answer(TEXT, "  more parking  ") == "more parking"
    with pytest.raises(PollInvalid):
        parse_answer(TEXT, "   ")


def test_json_answers_from_the_mini_program():
    assert check_answer(SINGLE, 2) == 2
    assert check_answer(MULTIPLE, [3, 0, 3]) == [0, 3]
    assert check_answer(RATING, 4) == 4
    assert check_answer(MULTIPLE, "BD") == [1, 3]
    for question, value in ((SINGLE, 3), (MULTIPLE, []), (RATING, True), (SINGLE, [0])):
        with pytest.raises(PollInvalid):
            check_answer(question, value)


def test_questions_need_valid_kinds_and_options():
    ok = check_questions([{"kind": "single", "text": "q", "options": ["x", "y"]}])
    assert ok == [Question("single", "q", ("x", "y"))]
    for bad in (
        [],
        [{"kind": "single", "text": "q", "options": ["x"]}],
        [{"kind": "rating", "text": "q", "options": ["x", "y"]}],
        [{"kind": "poll", "text": "q"}],
        [{"kind": "text", "text": ""}],
        [{"kind": "multiple", "text": "q", "options": [str(i) for i in range(10)]}],
    ):
        with pytest.raises(PollInvalid):
            check_questions(bad)


def test_summary_counts_percentages_and_turnout_per_building():
    questions = [SINGLE, MULTIPLE, RATING, TEXT]
    ballots = [
        Ballot({"1": 0, "2": [0, 1], "3": 5, "4": "x"}, "5"),
        Ballot({"1": 0, "2": [1], "3": 4}, "5"),
        Ballot({"1": 1, "3": 2}, "6"),
    ]
    summary = summarize(
        questions, ballots, {"5": 4, "6": 2, "7": 2}, {4: [{"word": "x", "count": 1}]}
    )
    assert (summary["voters"], summary["eligible"], summary["turnout"]) == (3, 8, 37.5)
    single = summary["questions"][0]
    assert single["answered"] == 3
    assert [(o["label"], o["count"], o["percent"]) for o in single["options"]] == [
        ("A", 2, 66.7),
        ("B", 1, 33.3),
        ("C", 0, 0.0),
    ]
    multiple = summary["questions"][1]
    assert multiple["answered"] == 2
    assert [(o["count"], o["percent"]) for o in multiple["options"]] == [
        (1, 50.0),
        (2, 100.0),
        (0, 0.0),
        (0, 0.0),
    ]
    rating = summary["questions"][2]
    assert rating["counts"] == {"1": 0, "2": 1, "3": 0, "4": 1, "5": 1}
    assert rating["average"] == 3.67
    assert summary["questions"][3]["themes"] == [{"word": "x", "count": 1}]
    assert summary["buildings"] == [
        {"building": "5", "voters": 2, "eligible": 4, "turnout": 50.0},
        {"building": "6", "voters": 1, "eligible": 2, "turnout": 50.0},
        {"building": "7", "voters": 0, "eligible": 2, "turnout": 0.0},
    ]


def test_summary_of_a_poll_nobody_answered():
    summary = summarize([RATING], [], {})
    assert summary["turnout"] == 0.0
    assert summary["questions"][0]["average"] is None


def test_themes_count_each_word_once_per_answer_without_stopwords():
    answers = [["parking", "parking", "the", "lights"], ["parking", "noise"], ["lights", "a"]]
    assert themes(answers, frozenset({"the"})) == [
        {"word": "lights", "count": 2},
        {"word": "parking", "count": 2},
        {"word": "noise", "count": 1},
    ]
