"""Moving running tasks to another version of their process (article 8: the system changes while
the work goes on). Pure rules: which state each running task lands in, and what happens to its
SLA clocks. The actions layer (server/actions/versions.py) applies them task by task.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

from server.domain.process import ProcessDefinition, open_states

CLOCK_RULES = frozenset({"keep", "restart"})


class MigrationError(ValueError):
    """A migration that cannot run; `problems` lists every fault, nothing has moved."""

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems: tuple[str, ...] = tuple(problems)
        super().__init__("invalid migration:\n- " + "\n- ".join(self.problems))


def parse_state_map(pairs: Iterable[str]) -> dict[str, str]:
    """`old:new` pairs (the command line's --map) as a mapping; MigrationError on bad ones."""
    mapping: dict[str, str] = {}
    problems = []
    for pair in pairs:
        old, sep, new = pair.partition(":")
        if not sep or not old.strip() or not new.strip():
            problems.append(f"--map {pair!r} must be old_state:new_state")
        elif old.strip() in mapping:
            problems.append(f"--map names {old.strip()!r} twice")
        else:
            mapping[old.strip()] = new.strip()
    if problems:
        raise MigrationError(problems)
    return mapping


def plan_states(
    old: ProcessDefinition, new: ProcessDefinition, mapping: Mapping[str, str]
) -> tuple[dict[str, str], list[str]]:
    """(open state of `old` -> state in `new`, problems). A state keeps its name unless mapped.

    Every open state of the old version needs a place in the new one, and that place must be
    open too: a migration moves work, it never closes or cancels it behind people's backs.
    """
    plan: dict[str, str] = {}
    problems: list[str] = []
    new_open = open_states(new)
    for state in old.states:
        if state in old.final_states:
            continue
        target = mapping.get(state, state)
        if target not in new.states:
            hint = "" if state in mapping else f" (map it: --map {state}:<state>)"
            problems.append(
                f"{old.kind} {old.version}: state {state!r} -> {target!r} is not a state of "
                f"version {new.version}{hint}"
            )
        elif target not in new_open:
            problems.append(
                f"{old.kind} {old.version}: state {state!r} -> {target!r} is final in "
                f"version {new.version}; a migration does not close running work"
            )
        else:
            plan[state] = target
    return plan, problems


def unknown_map_keys(olds: Collection[ProcessDefinition], mapping: Mapping[str, str]) -> list[str]:
    """Mapped states no source version has (a typo would otherwise silently map nothing)."""
    known = {state for old in olds for state in old.states}
    return [
        f"--map {state}: no version being migrated has a state {state!r}"
        for state in sorted(set(mapping) - known)
    ]


@dataclass(frozen=True)
class ClockChanges:
    """What a migration does to one task's clocks, by clock name."""

    stop: frozenset[str]  # no longer running in the new version (gone, or stopped there)
    restart: frozenset[str]  # rule "restart": full duration again from the migration
    replan: frozenset[str]  # rule "keep" and the clock's rules changed: same deadline, new timers
    start: frozenset[str]  # new in this version and starting in the task's new state

    @property
    def nothing(self) -> bool:
        return not (self.stop or self.restart or self.replan or self.start)


def clock_changes(
    old: ProcessDefinition,
    new: ProcessDefinition,
    new_state: str,
    running: Collection[str],
    rule: str,
) -> ClockChanges:
    """How the clocks `running` on a task (started, not stopped) carry over to `new`.

    keep: a clock still running in the new state keeps its start, pauses and deadline; only its
    warning and escalation timers are planned again if its rules changed. restart: it runs
    again from the migration with its full duration. Either way a clock the new version does not
    have, or that stops in the new state, stops; a clock only the new version has starts when
    the new state is one of its start states.
    """
    if rule not in CLOCK_RULES:
        raise MigrationError([f"clocks must be keep or restart, got {rule!r}"])
    new_specs = {spec.name: spec for spec in new.clocks}
    old_specs = {spec.name: spec for spec in old.clocks}
    stop, restart, replan, start = set(), set(), set(), set()
    for name in running:
        spec = new_specs.get(name)
        if spec is None or new_state in new.final_states or new_state in spec.stops_in:
            stop.add(name)
        elif rule == "restart":
            restart.add(name)
        elif old_specs.get(name) != spec:
            replan.add(name)
    for name, spec in new_specs.items():
        if name not in running and new_state in spec.starts_in and new_state not in spec.stops_in:
            start.add(name)
    return ClockChanges(frozenset(stop), frozenset(restart), frozenset(replan), frozenset(start))


def clocks_untouched(
    old: ProcessDefinition, new: ProcessDefinition, before: str, after: str, rule: str
) -> bool:
    """True when moving a task from `before` (old) to `after` (new) cannot change its clocks:
    rule keep, the same clock rules, and the new state stands where the old one stood for every
    clock (starts it, stops it, neither; final or not; completed or not). Lets a migration skip
    reading clock rows for the common case, a version that changed something else."""
    if (
        rule != "keep"
        or old.clocks != new.clocks
        or (before == "completed") != (after == "completed")
    ):
        return False
    for spec in old.clocks:
        place_before = (
            before in spec.starts_in,
            before in spec.stops_in,
            before in old.final_states,
            before in spec.paused_in,
        )
        place_after = (
            after in spec.starts_in,
            after in spec.stops_in,
            after in new.final_states,
            after in spec.paused_in,
        )
        if place_before != place_after:
            return False
    return True
