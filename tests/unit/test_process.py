"""Process definitions and the task state machine: the repair process of the article."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from server.domain.process import (
    ACTORS,
    EFFECTS,
    GUARDS,
    REFUSAL_CODES,
    Facts,
    ProcessDefinition,
    ProcessDefinitionError,
    Refusal,
    Transition,
    allowed_transitions,
    decide,
    load_definition,
    open_states,
)
from server.processes import PROCESS_DIR, load_process_file, load_processes

ROOT = Path(__file__).resolve().parents[2]
REPAIR_YAML = PROCESS_DIR / "repair.yaml"

# The repair process as the brief states it: name -> (from, to, who). None = state stays.
OPEN = {"submitted", "assigned", "accepted", "on_site", "reopened", "returned"}
EXPECTED = {
    "assign": (
        {"submitted", "reopened", "returned"},
        "assigned",
        {"system", "lead", "manager", "customer_service"},
    ),
    "accept": ({"assigned"}, "accepted", {"assignee"}),
    "reassign": ({"assigned", "accepted", "reopened", "returned"}, "assigned", {"lead", "manager"}),
    "transfer": (
        {"submitted", "assigned", "accepted", "reopened", "returned"},
        "assigned",
        {"lead", "manager", "customer_service"},
    ),
    "return": ({"assigned", "accepted"}, "returned", {"assignee"}),
    "check_in": ({"accepted"}, "on_site", {"assignee"}),
    "complete": ({"on_site"}, "completed", {"assignee"}),
    "rate": ({"completed"}, "closed", {"reporter", "customer_service"}),
    "rate_low": ({"completed"}, "reopened", {"reporter", "customer_service"}),
    "close_unrated": ({"completed"}, "closed", {"system"}),
    "rework": ({"completed"}, "reopened", {"manager", "lead"}),
    "cancel": (
        {"submitted", "assigned", "accepted", "returned", "held_for_payment"},
        "cancelled",
        {"reporter", "customer_service", "manager", "lead"},
    ),
    # issue 6: the lawful arrears hold (docs/fees.md)
    "hold": ({"submitted"}, "held_for_payment", {"system"}),
    "resume": ({"held_for_payment"}, "submitted", {"system"}),
    "override": ({"held_for_payment"}, "submitted", {"manager", "lead"}),
    "urge": (OPEN, None, {"reporter", "customer_service", "manager", "lead"}),
    "instruct": (OPEN | {"completed"}, None, {"manager", "lead"}),
}

# Facts that satisfy every guard, per transition (the score decides between rate and rate_low).
SCORES = {"rate": 4, "rate_low": 2}


def raw_repair() -> dict[str, Any]:
    return yaml.safe_load(REPAIR_YAML.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def repair() -> ProcessDefinition:
    return load_process_file(REPAIR_YAML)


def ready(*roles: str, transition: str = "", **overrides: Any) -> Facts:
    values: dict[str, Any] = {
        "actor_roles": frozenset(roles),
        "checked_in": True,
        "photo_count": 1,
        "inside_geofence": True,
        "score": SCORES.get(transition, 4),
        "reason": "on leave",
        "note": "bring the long ladder",
        "rating_window_over": True,
    }
    values.update(overrides)
    return Facts(**values)


def problems_of(raw: dict[str, Any]) -> tuple[str, ...]:
    with pytest.raises(ProcessDefinitionError) as caught:
        load_definition(raw)
    return caught.value.problems


def transition_entry(raw: dict[str, Any], name: str) -> dict[str, Any]:
    return next(t for t in raw["transitions"] if t["name"] == name)


# --- loading and validation ---------------------------------------------------------------


def test_repair_definition_loads_from_the_config_directory():
    definitions = load_processes()
    assert definitions["repair"].kind == "repair"
    assert definitions["repair"].initial == "submitted"


def test_repair_has_the_article_states():
    defn = load_process_file(REPAIR_YAML)
    assert set(defn.states) == {
        "submitted", "assigned", "accepted", "on_site", "completed", "closed", "cancelled",
        "reopened", "returned", "held_for_payment",
    }  # fmt: skip
    assert defn.final_states == {"closed", "cancelled"}


def test_repair_transitions_match_the_brief(repair: ProcessDefinition):
    actual = {
        name: (set(t.sources), t.target, set(t.actors)) for name, t in repair.transitions.items()
    }
    assert actual == EXPECTED


def test_repair_guards_match_the_brief(repair: ProcessDefinition):
    guards = {name: set(t.guards) for name, t in repair.transitions.items() if t.guards}
    assert guards == {
        "reassign": {"has_reason"},
        "transfer": {"has_reason"},
        "return": {"has_reason"},
        "check_in": {"inside_geofence"},
        "complete": {"checked_in", "has_photo"},
        "rate": {"score_pass"},
        "rate_low": {"score_fail"},
        "close_unrated": {"rating_window_over"},
        "rework": {"has_reason"},
        "instruct": {"has_note"},
        "override": {"has_reason"},
    }


def test_low_rating_notifies_the_department_lead(repair: ProcessDefinition):
    assert "notify_lead" in repair.transitions["rate_low"].effects


def test_urge_notifies_the_assignee(repair: ProcessDefinition):
    assert repair.transitions["urge"].effects == ("notify_assignee",)


def test_repair_evidence_rating_window_and_callback(repair: ProcessDefinition):
    assert (repair.evidence.transition, repair.evidence.check_in) == ("complete", True)
    assert repair.evidence.min_photos == 1
    assert repair.rating_window_s == 72 * 3600
    assert repair.callback_on_unrated is True
    assert "request_callback" in repair.transitions["close_unrated"].effects


def test_callback_off_drops_the_callback_effect():
    raw = raw_repair()
    raw["callback_on_unrated"] = False
    defn = load_definition(raw)
    assert "request_callback" not in defn.transitions["close_unrated"].effects


def test_broken_definition_lists_every_problem():
    raw = raw_repair()
    transition_entry(raw, "accept")["from"] = ["assigned", "waiting"]
    transition_entry(raw, "check_in")["actors"] = ["assignee", "janitor"]
    transition_entry(raw, "complete")["guards"] = ["checked_in", "has_photo", "is_sunny"]
    raw["transitions"].append(copy.deepcopy(transition_entry(raw, "urge")))
    raw["states"].append("limbo")
    problems = "\n".join(problems_of(raw))
    assert "transition 'accept': unknown state 'waiting' in from" in problems
    assert "transition 'check_in': unknown actor 'janitor'" in problems
    assert "transition 'complete': unknown guard 'is_sunny'" in problems
    assert "transition 'urge': duplicate transition name" in problems
    assert "state 'limbo' is unreachable from 'submitted'" in problems


def test_unknown_target_state_is_reported():
    raw = raw_repair()
    transition_entry(raw, "complete")["to"] = "done"
    assert "transition 'complete': unknown state 'done' in to" in problems_of(raw)


def test_misspelt_key_is_reported_not_ignored():
    raw = raw_repair()
    entry = transition_entry(raw, "complete")
    entry["gaurds"] = entry.pop("guards")
    problems = problems_of(raw)
    assert "transition 'complete': unknown key 'gaurds'" in problems


def test_unknown_effect_is_reported():
    raw = raw_repair()
    transition_entry(raw, "accept")["effects"] = ["notify_reportr"]
    assert "transition 'accept': unknown effect 'notify_reportr'" in problems_of(raw)


def test_non_final_state_without_exit_is_reported():
    raw = raw_repair()
    raw["transitions"] = [t for t in raw["transitions"] if t["name"] != "check_in"]
    raw["transitions"].append(
        {"name": "stuck", "from": ["assigned"], "to": "on_site", "actors": ["assignee"]}
    )
    transition_entry(raw, "complete")["from"] = ["assigned"]
    problems = problems_of(raw)
    assert "state 'on_site' is not final but no transition leaves it" in problems


def test_leaving_a_final_state_is_reported():
    raw = raw_repair()
    transition_entry(raw, "rework")["from"] = ["completed", "closed"]
    assert "transition 'rework' leaves final state 'closed'" in problems_of(raw)


def test_reserved_state_name_same_is_reported():
    raw = raw_repair()
    raw["states"].append("same")
    assert any("'same' is reserved" in p for p in problems_of(raw))


def test_clock_problems_are_reported():
    raw = raw_repair()
    raw["clocks"][0]["stops_in"] = ["acepted"]
    raw["clocks"][1]["durations_s"] = {"urgent": 1800}
    raw["clocks"][2]["warn_before_s"] = 14400
    problems = "\n".join(problems_of(raw))
    assert "clock 'respond': unknown state 'acepted'" in problems
    assert "clocks must all cover the same urgencies" in problems
    assert "clock 'resolve': warn_before_s 14400 is not shorter than every duration" in problems


def test_evidence_that_disagrees_with_the_guards_is_reported():
    raw = raw_repair()
    transition_entry(raw, "complete")["guards"] = ["checked_in"]
    assert "evidence: min_photos is 1 but 'complete' guards differ" in problems_of(raw)


def test_bad_scalar_settings_are_reported():
    raw = raw_repair()
    raw["rating_window_s"] = "72h"
    raw["callback_on_unrated"] = "yes"
    problems = "\n".join(problems_of(raw))
    assert "rating_window_s must be a positive integer" in problems
    assert "callback_on_unrated must be true or false" in problems


def test_definition_file_names_itself_in_problems(tmp_path: Path):
    raw = raw_repair()
    transition_entry(raw, "accept")["actors"] = ["janitor"]
    (tmp_path / "repair.yaml").write_text(yaml.safe_dump(raw), encoding="utf-8")
    with pytest.raises(ProcessDefinitionError) as caught:
        load_processes(tmp_path)
    assert "repair.yaml: transition 'accept': unknown actor 'janitor'" in caught.value.problems


def test_kind_must_match_the_file_name(tmp_path: Path):
    (tmp_path / "complaint.yaml").write_text(REPAIR_YAML.read_text("utf-8"), encoding="utf-8")
    with pytest.raises(ProcessDefinitionError, match="must match the file name"):
        load_processes(tmp_path)


def test_unparseable_yaml_is_a_definition_error(tmp_path: Path):
    (tmp_path / "repair.yaml").write_text("kind: [repair\n", encoding="utf-8")
    with pytest.raises(ProcessDefinitionError, match=r"repair\.yaml: cannot read"):
        load_processes(tmp_path)


# --- versioning -----------------------------------------------------------------------------


def test_version_is_twelve_hex_digits(repair: ProcessDefinition):
    assert re.fullmatch(r"[0-9a-f]{12}", repair.version)


def test_version_is_stable_across_key_order(repair: ProcessDefinition):
    raw = raw_repair()
    reordered = {key: raw[key] for key in reversed(list(raw))}
    reordered["transitions"] = [{k: t[k] for k in reversed(list(t))} for t in raw["transitions"]]
    again = load_definition(reordered)
    assert again.version == repair.version
    assert again == repair


def test_version_changes_with_content(repair: ProcessDefinition):
    raw = raw_repair()
    raw["clocks"][0]["durations_s"]["urgent"] = 600
    changed = load_definition(raw)
    assert changed.version != repair.version
    assert changed != repair


def test_raw_is_kept_for_storing(repair: ProcessDefinition):
    assert load_definition(dict(repair.raw)).version == repair.version


# --- deciding transitions -------------------------------------------------------------------

LEGAL = [
    (name, source, actor)
    for name, (sources, _, actors) in sorted(EXPECTED.items())
    for source in sorted(sources)
    for actor in sorted(actors)
]


@pytest.mark.parametrize(("name", "state", "actor"), LEGAL)
def test_legal_transition_is_allowed_for_the_right_actor(
    repair: ProcessDefinition, name: str, state: str, actor: str
):
    result = decide(repair, state, name, ready(actor, transition=name))
    assert isinstance(result, Transition)
    target = EXPECTED[name][1]
    assert result.next_state(state) == (state if target is None else target)


WRONG_ACTOR = [
    (name, sorted(sources)[0], actor)
    for name, (sources, _, actors) in sorted(EXPECTED.items())
    for actor in sorted(ACTORS - actors)
]


@pytest.mark.parametrize(("name", "state", "actor"), WRONG_ACTOR)
def test_transition_is_refused_for_the_wrong_actor(
    repair: ProcessDefinition, name: str, state: str, actor: str
):
    result = decide(repair, state, name, ready(actor, transition=name))
    assert isinstance(result, Refusal)
    assert result.code == "not_allowed"


ALL_STATES = {"submitted", "assigned", "accepted", "on_site", "completed", "closed", "cancelled"}
WRONG_STATE = [
    (name, state, sorted(actors)[0])
    for name, (sources, _, actors) in sorted(EXPECTED.items())
    for state in sorted((ALL_STATES | {"reopened"}) - sources)
]


@pytest.mark.parametrize(("name", "state", "actor"), WRONG_STATE)
def test_transition_is_refused_in_the_wrong_state(
    repair: ProcessDefinition, name: str, state: str, actor: str
):
    result = decide(repair, state, name, ready(actor, transition=name))
    assert result == Refusal("wrong_state", f"{name} cannot fire from {state!r}")


def test_staff_member_who_is_not_the_assignee_cannot_accept(repair: ProcessDefinition):
    result = decide(repair, "assigned", "accept", ready("staff"))
    assert isinstance(result, Refusal) and result.code == "not_allowed"


def test_assignee_with_a_staff_role_can_accept(repair: ProcessDefinition):
    assert isinstance(decide(repair, "assigned", "accept", ready("assignee", "staff")), Transition)


def test_unknown_transition_is_refused(repair: ProcessDefinition):
    result = decide(repair, "assigned", "teleport", ready("system"))
    assert isinstance(result, Refusal) and result.code == "unknown_transition"


def test_complete_without_check_in_is_refused(repair: ProcessDefinition):
    result = decide(repair, "on_site", "complete", ready("assignee", checked_in=False))
    assert isinstance(result, Refusal) and result.code == "needs_check_in"


def test_complete_without_photo_is_refused(repair: ProcessDefinition):
    result = decide(repair, "on_site", "complete", ready("assignee", photo_count=0))
    assert result == Refusal("needs_photo", "0 of 1 site photos")


def test_complete_without_either_asks_for_check_in_first(repair: ProcessDefinition):
    facts = ready("assignee", checked_in=False, photo_count=0)
    result = decide(repair, "on_site", "complete", facts)
    assert isinstance(result, Refusal) and result.code == "needs_check_in"


def test_check_in_outside_the_geofence_is_refused(repair: ProcessDefinition):
    result = decide(repair, "accepted", "check_in", ready("assignee", inside_geofence=False))
    assert isinstance(result, Refusal) and result.code == "outside_geofence"


def test_check_in_without_a_location_is_refused(repair: ProcessDefinition):
    result = decide(repair, "accepted", "check_in", ready("assignee", inside_geofence=None))
    assert isinstance(result, Refusal) and result.code == "needs_location"


@pytest.mark.parametrize("reason", [None, "", "   "])
def test_reassign_without_a_reason_is_refused(repair: ProcessDefinition, reason: str | None):
    result = decide(repair, "accepted", "reassign", ready("lead", reason=reason))
    assert isinstance(result, Refusal) and result.code == "needs_reason"


def test_instruct_without_text_is_refused(repair: ProcessDefinition):
    result = decide(repair, "on_site", "instruct", ready("manager", note=" "))
    assert isinstance(result, Refusal) and result.code == "needs_note"


@pytest.mark.parametrize("score", [3, 4, 5])
def test_rating_three_or_more_closes(repair: ProcessDefinition, score: int):
    result = decide(repair, "completed", "rate", ready("reporter", score=score))
    assert isinstance(result, Transition) and result.target == "closed"


@pytest.mark.parametrize("score", [1, 2])
def test_rating_two_or_less_reopens(repair: ProcessDefinition, score: int):
    result = decide(repair, "completed", "rate_low", ready("reporter", score=score))
    assert isinstance(result, Transition) and result.target == "reopened"


@pytest.mark.parametrize("score", [1, 2])
def test_low_score_cannot_close(repair: ProcessDefinition, score: int):
    result = decide(repair, "completed", "rate", ready("reporter", score=score))
    assert isinstance(result, Refusal) and result.code == "bad_score"


@pytest.mark.parametrize("score", [3, 4, 5])
def test_good_score_cannot_reopen(repair: ProcessDefinition, score: int):
    result = decide(repair, "completed", "rate_low", ready("reporter", score=score))
    assert isinstance(result, Refusal) and result.code == "bad_score"


@pytest.mark.parametrize("score", [None, 0, 6, -1, True])
@pytest.mark.parametrize("name", ["rate", "rate_low"])
def test_score_outside_one_to_five_is_refused(repair: ProcessDefinition, name: str, score: Any):
    result = decide(repair, "completed", name, ready("reporter", score=score))
    assert isinstance(result, Refusal) and result.code == "bad_score"


def test_close_unrated_waits_for_the_rating_window(repair: ProcessDefinition):
    facts = ready("system", rating_window_over=False)
    result = decide(repair, "completed", "close_unrated", facts)
    assert isinstance(result, Refusal) and result.code == "rating_window_open"


def test_urge_leaves_the_state_unchanged(repair: ProcessDefinition):
    result = decide(repair, "accepted", "urge", ready("reporter"))
    assert isinstance(result, Transition)
    assert not result.changes_state
    assert result.next_state("accepted") == "accepted"


def test_open_states_are_the_non_final_ones(repair: ProcessDefinition):
    assert open_states(repair) == {
        "submitted", "assigned", "accepted", "on_site", "completed", "reopened", "returned",
        "held_for_payment",
    }  # fmt: skip


def test_reporter_of_a_completed_task_may_only_rate(repair: ProcessDefinition):
    names = [t.name for t in allowed_transitions(repair, "completed", ready("reporter", score=4))]
    assert names == ["rate"]


def test_assignee_on_site_may_complete_but_not_check_in_again(repair: ProcessDefinition):
    names = [t.name for t in allowed_transitions(repair, "on_site", ready("assignee"))]
    assert names == ["complete"]


# --- documentation stays in step ------------------------------------------------------------


def test_every_refusal_code_guard_effect_and_actor_is_documented():
    text = (ROOT / "docs" / "processes.md").read_text(encoding="utf-8")
    missing = [
        name
        for name in sorted(REFUSAL_CODES | GUARDS | EFFECTS | ACTORS)
        if f"`{name}`" not in text
    ]
    assert missing == []
