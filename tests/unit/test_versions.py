"""Planning a migration of running tasks: where each state goes, what happens to the clocks."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from server.domain.process import ProcessDefinition, load_definition
from server.domain.versions import MigrationError, clock_changes, parse_state_map, plan_states
from server.processes import PROCESS_DIR, load_process_file

REPAIR = load_process_file(PROCESS_DIR / "repair.yaml")


def variant(change: Any = None, rename: tuple[str, str] | None = None) -> ProcessDefinition:
    raw = copy.deepcopy(dict(REPAIR.raw))
    if rename:
        raw = json.loads(json.dumps(raw).replace(f'"{rename[0]}"', f'"{rename[1]}"'))
    if change:
        change(raw)
    return load_definition(raw)


def test_states_keep_their_names_when_nothing_is_mapped():
    plan, problems = plan_states(REPAIR, variant(lambda r: r.update(description="x")), {})
    assert problems == [] and plan["on_site"] == "on_site" and "closed" not in plan


def test_a_renamed_state_must_be_mapped():
    new = variant(rename=("on_site", "working"))
    _, problems = plan_states(REPAIR, new, {})
    assert len(problems) == 1 and "--map on_site:<state>" in problems[0]
    plan, problems = plan_states(REPAIR, new, {"on_site": "working"})
    assert problems == [] and plan["on_site"] == "working"


def test_running_work_is_never_mapped_to_a_final_state():
    _, problems = plan_states(REPAIR, REPAIR, {"reopened": "closed"})
    assert problems and "does not close running work" in problems[0]


@pytest.mark.parametrize("pair", ["on_site", ":working", "on_site:"])
def test_bad_map_pairs_are_refused(pair):
    with pytest.raises(MigrationError):
        parse_state_map([pair])


def test_map_pairs_are_read():
    assert parse_state_map(["on_site:working", " a : b "]) == {"on_site": "working", "a": "b"}


def test_keep_leaves_unchanged_clocks_alone():
    same = variant(lambda r: r.update(description="x"))
    changes = clock_changes(REPAIR, same, "assigned", {"respond", "arrive", "resolve"}, "keep")
    assert changes.nothing


def test_keep_replans_a_clock_whose_rules_changed():
    def longer(raw: dict[str, Any]) -> None:
        raw["clocks"][0]["warn_before_s"] = 600

    changes = clock_changes(REPAIR, variant(longer), "assigned", {"respond", "resolve"}, "keep")
    assert (changes.replan, changes.restart, changes.stop) == ({"respond"}, set(), set())


def test_restart_restarts_every_clock_still_running():
    same = variant(lambda r: r.update(description="x"))
    changes = clock_changes(REPAIR, same, "accepted", {"arrive", "resolve"}, "restart")
    assert changes.restart == {"arrive", "resolve"}


def test_a_clock_that_stops_in_the_new_state_stops():
    changes = clock_changes(REPAIR, REPAIR, "accepted", {"respond", "resolve"}, "keep")
    assert changes.stop == {"respond"}


def test_a_clock_gone_from_the_new_version_stops():
    def no_arrive(raw: dict[str, Any]) -> None:
        raw["clocks"] = [c for c in raw["clocks"] if c["name"] != "arrive"]

    changes = clock_changes(REPAIR, variant(no_arrive), "assigned", {"arrive"}, "keep")
    assert changes.stop == {"arrive"}


def test_a_new_clock_starts_only_in_its_start_states():
    def extra(raw: dict[str, Any]) -> None:
        clock = copy.deepcopy(raw["clocks"][0])
        clock.update(name="arrive", starts_in=["reopened"])
        raw["clocks"] = [c for c in raw["clocks"] if c["name"] != "arrive"] + [clock]

    new = variant(extra)
    running = {"respond", "resolve"}
    assert clock_changes(REPAIR, new, "reopened", running, "keep").start == {"arrive"}
    assert clock_changes(REPAIR, new, "assigned", set(), "keep").start == set()


def test_unknown_clock_rule_is_refused():
    with pytest.raises(MigrationError):
        clock_changes(REPAIR, REPAIR, "assigned", set(), "pause")
