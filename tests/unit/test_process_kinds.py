"""The task kinds as files (complaint, instruction, contractor_job) and the rules they brought:
negotiation by opinions, evidence per definition, whose turn a state is, deadline clocks."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from server.domain.process import (
    Facts,
    ProcessDefinition,
    ProcessDefinitionError,
    Refusal,
    Transition,
    decide,
    load_definition,
)
from server.processes import PROCESS_DIR, load_process_file, load_processes


def definition(kind: str) -> ProcessDefinition:
    return load_process_file(PROCESS_DIR / f"{kind}.yaml")


def raw(kind: str) -> dict[str, Any]:
    return yaml.safe_load((PROCESS_DIR / f"{kind}.yaml").read_text(encoding="utf-8"))


def problems_of(data: dict[str, Any]) -> tuple[str, ...]:
    with pytest.raises(ProcessDefinitionError) as caught:
        load_definition(data)
    return caught.value.problems


def opinion(
    *roles: str, agree: bool | None, others: bool = True, round_: int = 1, reason: str | None = None
) -> Facts:
    return Facts(
        actor_roles=frozenset(roles),
        agree=agree,
        others_agree=others,
        negotiation_round=round_,
        reason=reason,
    )


def fired(result: Transition | Refusal) -> str:
    return result.name if isinstance(result, Transition) else f"refused:{result.code}"


def test_every_kind_of_the_issue_is_a_file_that_loads():
    assert set(load_processes()) == {"repair", "complaint", "instruction", "contractor_job"}


def test_instruction_deadline_replaces_its_resolve_clock():
    assert definition("instruction").deadline_clock == "resolve"


def test_instruction_needs_a_report_to_complete():
    instruction = definition("instruction")
    assert (
        fired(
            decide(instruction, "accepted", "complete", Facts(actor_roles=frozenset({"assignee"})))
        )
        == "refused:needs_report"
    )
    assert (
        fired(
            decide(
                instruction,
                "accepted",
                "complete",
                Facts(actor_roles=frozenset({"assignee"}), note="已修好"),
            )
        )
        == "complete"
    )


def test_instruction_is_rated_by_its_creator_not_its_handler():
    instruction = definition("instruction")
    assert (
        fired(
            decide(
                instruction,
                "completed",
                "rate",
                Facts(actor_roles=frozenset({"creator", "staff"}), score=4),
            )
        )
        == "rate"
    )
    assert (
        fired(
            decide(
                instruction,
                "completed",
                "rate",
                Facts(actor_roles=frozenset({"assignee", "lead"}), score=4),
            )
        )
        == "refused:not_allowed"
    )


def test_complaint_has_no_site_work():
    complaint = definition("complaint")
    assert (complaint.evidence.check_in, complaint.evidence.min_photos) == (False, 0)
    assert complaint.evidence.report is True


@pytest.mark.parametrize(
    ("state", "roles", "agree", "others", "round_", "expected"),
    [
        ("dept_review", {"department"}, True, True, 1, "department_opinion"),
        ("dept_review", {"department"}, False, True, 1, "department_opinion"),
        ("dept_review", {"contractor"}, True, True, 1, "refused:not_allowed"),
        ("contractor_review", {"contractor"}, True, True, 1, "agree"),
        ("contractor_review", {"contractor"}, True, False, 1, "renegotiate"),
        ("contractor_review", {"contractor"}, False, True, 1, "renegotiate"),
        ("contractor_review", {"contractor"}, False, True, 2, "escalate"),
        ("contractor_review", {"contractor"}, True, True, 2, "agree"),
        ("manager_review", {"department_manager"}, False, True, 2, "manager_opinion"),
        ("manager_review", {"department"}, True, True, 2, "refused:not_allowed"),
        ("contractor_head_review", {"contractor_manager"}, True, True, 2, "managers_agree"),
        ("contractor_head_review", {"contractor_manager"}, True, False, 2, "managers_refuse"),
        ("contractor_head_review", {"contractor"}, True, True, 2, "refused:not_allowed"),
    ],
)
def test_negotiation_outcomes(state, roles, agree, others, round_, expected):
    """The first opinion transition that decide() allows is what follows an opinion."""
    job = definition("contractor_job")
    reason = None if agree else "价格太高"
    facts = opinion(*roles, agree=agree, others=others, round_=round_, reason=reason)
    candidates = [
        t.name for t in job.transitions.values() if "has_opinion" in t.guards and state in t.sources
    ]
    results = [decide(job, state, name, facts) for name in candidates]
    allowed = [r.name for r in results if isinstance(r, Transition)]
    assert (allowed[0] if allowed else f"refused:{results[0].code}") == expected


def test_disagreement_without_reason_is_refused():
    job = definition("contractor_job")
    result = decide(
        job, "dept_review", "department_opinion", opinion("department", agree=False, reason=" ")
    )
    assert fired(result) == "refused:needs_reason"


def test_no_answer_is_not_an_opinion():
    job = definition("contractor_job")
    result = decide(job, "dept_review", "department_opinion", opinion("department", agree=None))
    assert fired(result) == "refused:needs_opinion"


def test_negotiation_steps_say_whose_turn_it_is():
    job = definition("contractor_job")
    assert [
        job.holder(s)
        for s in (
            "dept_review",
            "contractor_review",
            "manager_review",
            "contractor_head_review",
            "in_progress",
            "completed",
        )
    ] == [
        "department",
        "contractor",
        "department_manager",
        "contractor_manager",
        "contractor",
        "department",
    ]
    assert job.negotiation is not None and job.negotiation.max_rounds == 2


def test_negotiation_guards_without_a_negotiation_block_are_reported():
    data = raw("contractor_job")
    del data["negotiation"]
    assert any("need a negotiation block" in p for p in problems_of(data))


def test_negotiation_step_nobody_can_answer_is_reported():
    data = raw("contractor_job")
    data["negotiation"]["rounds"][1] = {"contractor_review": "department_manager"}
    assert any(
        "no has_opinion transition lets department_manager answer" in p for p in problems_of(data)
    )


def test_unknown_party_is_reported():
    data = raw("contractor_job")
    data["held_by"]["in_progress"] = "cleaner"
    assert "held_by: unknown party 'cleaner'" in problems_of(data)


def test_a_side_door_around_the_evidence_is_reported():
    data = copy.deepcopy(raw("repair"))
    data["transitions"].append(
        {"name": "mark_done", "from": ["accepted"], "to": "completed", "actors": ["lead"]}
    )
    assert any(
        "'mark_done' reaches 'completed' without the evidence" in p for p in problems_of(data)
    )


def test_state_names_must_fit_the_database():
    data = raw("complaint")
    data["states"].append("a_state_name_far_too_long_for_it")
    assert any("longer than 24" in p for p in problems_of(data))


def test_deadline_clock_must_be_a_clock():
    data = raw("instruction")
    data["deadline_clock"] = "finish"
    assert "deadline_clock 'finish' is not one of the clocks" in problems_of(data)
