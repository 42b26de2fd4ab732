"""Task process definitions and the pure state machine deciding whether a transition may fire."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeGuard

# Who may fire a transition. `assignee` and `reporter` are the actor's relation to the task;
# the rest are the staff roles of the roster (CONTRACT.md, staff.csv); `system` is timers/workers.
ACTORS: frozenset[str] = frozenset(
    {
        "system",
        "assignee",
        "reporter",
        "staff",
        "lead",
        "manager",
        "assessor",
        "billing",
        "data_admin",
        "customer_service",
        # Relations to the task besides assignee/reporter (docs/processes.md, "Actors"):
        "creator",  # the staff member who created it (a manager's instruction)
        "department",  # staff of the task's department
        "contractor",  # staff of the task's contractor (an external unit)
        "department_manager",  # a company manager (role manager) above the department
        "contractor_manager",  # the lead or manager of the task's contractor
    }
)

# Named facts a transition may require. Each maps to exactly one refusal code (see decide()).
GUARDS: frozenset[str] = frozenset(
    {
        "inside_geofence",  # check-in location inside the community's geofence
        "checked_in",  # the assignee has checked in on site
        "has_photo",  # at least evidence.min_photos site photos
        "has_reason",  # a non-blank reason (reassign, rework)
        "has_note",  # a non-blank note (instruct)
        "score_pass",  # rating score PASS_MIN..SCORE_MAX
        "score_fail",  # rating score SCORE_MIN..PASS_MIN-1
        "rating_window_over",  # the resident's rating window has passed
        "has_report",  # a non-blank completion report (what was done)
        "has_opinion",  # an opinion: agree, or disagree with a reason (negotiation)
        "all_agree",  # this opinion and the earlier ones of the same round all agree
        "any_disagree",  # this opinion or an earlier one of the same round disagrees
        "rounds_left",  # fewer than negotiation.max_rounds rounds so far
        "rounds_exhausted",  # negotiation.max_rounds rounds held: escalate
    }
)

# Named effects the actions layer performs after a transition commits. Clock starts and stops
# are not effects: they follow from the states (ClockSpec.starts_in / stops_in), so they cannot
# drift out of step with the state machine.
EFFECTS: frozenset[str] = frozenset(
    {
        "notify_assignee",
        "notify_previous_assignee",
        "notify_reporter",
        "notify_lead",
        "request_rating",
        "schedule_rating_close",
        "request_callback",
        "notify_creator",  # the staff member who created the task
        "notify_department",  # the lead(s) of the task's department
        "notify_contractor",  # the lead(s) of the task's contractor
        "notify_party",  # whoever's opinion the new state waits for (negotiation)
    }
)

# Stable refusal codes; templates_msg maps each to a message. Documented in docs/processes.md.
REFUSAL_CODES: frozenset[str] = frozenset(
    {
        "unknown_transition",
        "not_allowed",
        "wrong_state",
        "needs_location",
        "outside_geofence",
        "needs_check_in",
        "needs_photo",
        "needs_reason",
        "needs_note",
        "bad_score",
        "rating_window_open",
        "needs_report",
        "needs_opinion",
        "opinions_differ",
        "opinions_agree",
        "no_rounds_left",
        "rounds_left",
    }
)
# Refusals of the guards that only pick one outcome among several transitions (rate vs
# rate_low, agree vs renegotiate vs escalate): a person never needs to hear them.
OUTCOME_REFUSALS: frozenset[str] = frozenset(
    {"bad_score", "opinions_differ", "opinions_agree", "no_rounds_left", "rounds_left"}
)
# Who may give an opinion in a negotiation step (article 6.2).
PARTIES: frozenset[str] = frozenset(
    {"department", "contractor", "department_manager", "contractor_manager"}
)

# Ratings are 1-5 (CONTRACT.md `.../rate {"score": 1-5}`); 3 and up closes the task, 1-2 reopens
# it for the department lead (article 3.2: follow-up and rating drive rework).
SCORE_MIN = 1
SCORE_MAX = 5
PASS_MIN = 3

# `to: same` in a definition: the transition records an event but leaves the state (urge).
SAME = "same"
STATE_MAX = 24  # tasks.state and task_events.from_state/to_state are VARCHAR(24)

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_TOP_KEYS = frozenset(
    {
        "kind",
        "description",
        "states",
        "initial",
        "final_states",
        "transitions",
        "clocks",
        "evidence",
        "rating_window_s",
        "callback_on_unrated",
        "negotiation",
        "deadline_clock",
        "held_by",
    }
)
_TRANSITION_KEYS = frozenset({"name", "from", "to", "actors", "guards", "effects", "description"})
_CLOCK_KEYS = frozenset(
    {"name", "starts_in", "stops_in", "durations_s", "warn_before_s", "description",
     "calendar", "paused_in", "escalation"}
)  # fmt: skip
_ESCALATION_KEYS = frozenset({"after_s", "notify", "description"})
# Who an escalation level tells: the handler, the leads of the task's department, the staff of
# the assessment department (config/sla.yaml) serving the community, and whoever assigned the
# task (Task.created_by). DESIGN.md: handler -> department lead -> assessment dept + assigner.
ESCALATION_RECIPIENTS: frozenset[str] = frozenset({"assignee", "lead", "assessment", "assigner"})
MAX_ESCALATION_LEVELS = 9
_EVIDENCE_KEYS = frozenset({"transition", "check_in", "min_photos", "report"})
_NEGOTIATION_KEYS = frozenset({"max_rounds", "rounds", "escalation", "description"})
# Guards that read a negotiation's opinions: a definition using them needs a negotiation block.
_NEGOTIATION_GUARDS = frozenset(
    {"has_opinion", "all_agree", "any_disagree", "rounds_left", "rounds_exhausted"}
)


class ProcessDefinitionError(ValueError):
    """A definition that cannot run; `problems` lists every fault found, not just the first."""

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems: tuple[str, ...] = tuple(problems)
        super().__init__("invalid process definition:\n- " + "\n- ".join(self.problems))


@dataclass(frozen=True)
class Transition:
    """One named move of the state machine; `target` None means the state stays (urge)."""

    name: str
    sources: frozenset[str]
    target: str | None
    actors: frozenset[str]
    guards: tuple[str, ...]
    effects: tuple[str, ...]

    @property
    def changes_state(self) -> bool:
        """False for event-only transitions such as urge."""
        return self.target is not None

    def next_state(self, current: str) -> str:
        """The state after firing from `current`."""
        return current if self.target is None else self.target


@dataclass(frozen=True)
class Escalation:
    """One level of a breached clock: level 1 is the breach itself, later ones come `after_s`
    of the clock's running time after it; each level tells `notify` once."""

    level: int
    after_s: Mapping[str, int] = field(hash=False)
    notify: tuple[str, ...] = ()

    def delay_s(self, urgency: str) -> int:
        """Running seconds from the breach to this level (0 for the breach)."""
        return self.after_s.get(urgency, 0)


# A clock without an `escalation` list: the breach tells the handler and the department leads.
DEFAULT_ESCALATION = (Escalation(1, {}, ("assignee", "lead")),)


@dataclass(frozen=True)
class ClockSpec:
    """An SLA clock: runs from entering a `starts_in` state until a `stops_in` or final state.

    It stands still in its `paused_in` states (held, waiting on the resident) and counts only
    the working time of its calendar (`calendars` by urgency; `always` when not given).
    """

    name: str
    starts_in: frozenset[str]
    stops_in: frozenset[str]
    durations_s: Mapping[str, int] = field(hash=False)
    warn_before_s: int
    calendars: Mapping[str, str] = field(default_factory=dict, hash=False)
    paused_in: frozenset[str] = frozenset()
    escalation: tuple[Escalation, ...] = DEFAULT_ESCALATION

    def calendar_for(self, urgency: str) -> str:
        """The calendar name this clock runs on at `urgency` (`always`, `department`, ...)."""
        return self.calendars.get(urgency, "always")

    def duration_s(self, urgency: str) -> int:
        """The allowed time for `urgency`; ValueError names the known urgencies."""
        try:
            return self.durations_s[urgency]
        except KeyError:
            known = ", ".join(sorted(self.durations_s))
            raise ValueError(f"unknown urgency {urgency!r} (known: {known})") from None


@dataclass(frozen=True)
class Evidence:
    """What the assignee must supply before `transition` (complete) may fire (article 3.1)."""

    transition: str
    check_in: bool
    min_photos: int
    report: bool = False


@dataclass(frozen=True)
class Negotiation:
    """Opinions in turn (article 6.2): each step state waits for one party's 同意 / 不同意.

    `rounds` is the sequence of one round (department, then contractor); every entry into its
    first state starts a round. `escalation` is the managers' sequence once the rounds are spent.
    """

    max_rounds: int
    rounds: tuple[tuple[str, str], ...]
    escalation: tuple[tuple[str, str], ...]

    def party(self, state: str) -> str | None:
        """Whose opinion `state` waits for; None outside the negotiation."""
        return dict(self.rounds + self.escalation).get(state)

    def sequence_start(self, state: str) -> str | None:
        """The first state of the sequence `state` belongs to (a new set of opinions)."""
        for sequence in (self.rounds, self.escalation):
            if state in dict(sequence):
                return sequence[0][0]
        return None

    @property
    def round_start(self) -> str:
        """Entering this state starts a round; the count of entries is the round number."""
        return self.rounds[0][0]


@dataclass(frozen=True)
class ProcessDefinition:
    """A validated, content-versioned process; equal definitions have equal (kind, version)."""

    kind: str
    version: str
    states: tuple[str, ...] = field(compare=False)
    initial: str = field(compare=False)
    final_states: frozenset[str] = field(compare=False)
    transitions: Mapping[str, Transition] = field(compare=False)
    clocks: tuple[ClockSpec, ...] = field(compare=False)
    evidence: Evidence = field(compare=False)
    rating_window_s: int = field(compare=False)
    callback_on_unrated: bool = field(compare=False)
    negotiation: Negotiation | None = field(compare=False)
    deadline_clock: str = field(compare=False)
    held_by: Mapping[str, str] = field(compare=False)
    raw: Mapping[str, Any] = field(compare=False, repr=False)

    @property
    def urgencies(self) -> frozenset[str]:
        """Urgency levels every clock has a duration for."""
        return frozenset(self.clocks[0].durations_s) if self.clocks else frozenset()

    def holder(self, state: str) -> str | None:
        """The party a task in `state` is with (held_by, else the negotiation step's party)."""
        if state in self.held_by:
            return self.held_by[state]
        return self.negotiation.party(state) if self.negotiation else None

    def clock(self, name: str) -> ClockSpec:
        """The clock called `name`; KeyError if the definition has none."""
        for spec in self.clocks:
            if spec.name == name:
                return spec
        raise KeyError(name)


@dataclass(frozen=True)
class Facts:
    """What the actions layer knows at the moment someone tries a transition."""

    actor_roles: frozenset[str]
    checked_in: bool = False
    photo_count: int = 0
    inside_geofence: bool | None = None
    score: int | None = None
    reason: str | None = None
    note: str | None = None
    rating_window_over: bool = False
    agree: bool | None = None  # the opinion given with this transition (negotiation)
    others_agree: bool = True  # every earlier opinion of the current round agreed
    negotiation_round: int = 0  # rounds started so far (entries into the first step)


@dataclass(frozen=True)
class Refusal:
    """Why a transition may not fire: a stable `code` plus an English detail for logs."""

    code: str
    detail: str


def definition_version(raw: Mapping[str, Any]) -> str:
    """Content hash of a definition: the same content in any key order gives the same version."""
    canonical = json.dumps(raw, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:12]


def load_definition(raw: Mapping[str, Any]) -> ProcessDefinition:
    """Validate a plain-dict definition and build it; ProcessDefinitionError lists every problem."""
    problems: list[str] = []
    if not isinstance(raw, Mapping):
        raise ProcessDefinitionError([f"definition must be a mapping, got {type(raw).__name__}"])
    try:
        plain: dict[str, Any] = json.loads(json.dumps(raw, ensure_ascii=False))
    except (TypeError, ValueError) as exc:
        raise ProcessDefinitionError([f"definition must be plain JSON-like data: {exc}"]) from None
    _unknown_keys(plain, _TOP_KEYS, "definition", problems)

    kind = plain.get("kind")
    if not isinstance(kind, str) or not _NAME.match(kind):
        problems.append(f"kind must be a lower_snake_case name, got {kind!r}")
        kind = "?"

    states = _names(plain.get("states"), "states", problems)
    for state in states:
        if len(state) > STATE_MAX:
            problems.append(f"state {state!r} is longer than {STATE_MAX} characters")
    if SAME in states:
        problems.append(f"state name {SAME!r} is reserved (it means 'stay' in a transition)")
    state_set = frozenset(states)
    if not states:
        problems.append("states must list at least one state")

    initial = plain.get("initial")
    if not isinstance(initial, str) or initial not in state_set:
        problems.append(f"initial state {initial!r} is not one of the states")
        initial = ""

    final_list = _names(plain.get("final_states"), "final_states", problems)
    for name in final_list:
        if name not in state_set:
            problems.append(f"final state {name!r} is not one of the states")
    final_states = frozenset(final_list)

    transitions = _transitions(plain.get("transitions"), state_set, final_states, problems)
    _check_graph(states, initial, final_states, transitions, problems)
    clocks = _clocks(plain.get("clocks"), state_set, transitions, problems)
    evidence = _evidence(plain.get("evidence"), transitions, problems)
    negotiation = _negotiation(
        plain.get("negotiation"), state_set, final_states, transitions, problems
    )
    # The clock a deadline given at creation replaces (a manager's "by tomorrow noon").
    deadline_clock = plain.get("deadline_clock", "")
    if not isinstance(deadline_clock, str):
        problems.append(f"deadline_clock must be a clock name, got {deadline_clock!r}")
        deadline_clock = ""
    elif deadline_clock and deadline_clock not in {c.name for c in clocks}:
        problems.append(f"deadline_clock {deadline_clock!r} is not one of the clocks")
    held_by = plain.get("held_by", {})
    if not isinstance(held_by, Mapping):
        problems.append(f"held_by must map states to parties, got {held_by!r}")
        held_by = {}
    for state, party in held_by.items():
        if state not in state_set or state in final_states:
            problems.append(f"held_by: {state!r} is not an open state")
        if party not in PARTIES | {"creator"}:
            problems.append(f"held_by: unknown party {party!r}")

    rating_window_s = plain.get("rating_window_s")
    if not _is_int(rating_window_s) or rating_window_s <= 0:
        problems.append(f"rating_window_s must be a positive integer, got {rating_window_s!r}")
        rating_window_s = 0
    callback_on_unrated = plain.get("callback_on_unrated")
    if not isinstance(callback_on_unrated, bool):
        problems.append(f"callback_on_unrated must be true or false, got {callback_on_unrated!r}")
        callback_on_unrated = False

    if problems:
        raise ProcessDefinitionError(problems)

    if not callback_on_unrated:
        # The flag is the single switch for the article's "manual callback" (3.2): with it off,
        # closing an unrated task queues nothing for customer service.
        transitions = {
            name: Transition(
                t.name,
                t.sources,
                t.target,
                t.actors,
                t.guards,
                tuple(e for e in t.effects if e != "request_callback"),
            )
            for name, t in transitions.items()
        }
    return ProcessDefinition(
        kind=kind,
        version=definition_version(plain),
        states=tuple(states),
        initial=initial,
        final_states=final_states,
        transitions=transitions,
        clocks=tuple(clocks),
        evidence=evidence,
        rating_window_s=rating_window_s,
        callback_on_unrated=callback_on_unrated,
        negotiation=negotiation,
        deadline_clock=deadline_clock or "",
        held_by=dict(held_by),
        raw=plain,
    )


def open_states(defn: ProcessDefinition) -> frozenset[str]:
    """States in which a task still needs someone (everything that is not final)."""
    return frozenset(defn.states) - defn.final_states


def decide(
    defn: ProcessDefinition, state: str, transition: str, facts: Facts
) -> Transition | Refusal:
    """May `transition` fire from `state` given `facts`? The Transition if so, else a Refusal.

    Checks run in a fixed order so a person always hears the most basic reason first: the
    transition exists, the actor may fire it, the task is in a state it leaves from, then the
    guards in the order the definition lists them.
    """
    move = defn.transitions.get(transition)
    if move is None:
        return Refusal("unknown_transition", f"{defn.kind} has no transition {transition!r}")
    if not (facts.actor_roles & move.actors):
        roles = ", ".join(sorted(facts.actor_roles)) or "nobody"
        return Refusal("not_allowed", f"{transition} is not for {roles}")
    if state not in move.sources:
        return Refusal("wrong_state", f"{transition} cannot fire from {state!r}")
    for guard in move.guards:
        refusal = _check_guard(defn, guard, facts)
        if refusal is not None:
            return refusal
    return move


def allowed_transitions(defn: ProcessDefinition, state: str, facts: Facts) -> list[Transition]:
    """Every transition `decide` would allow now, in definition order (buttons to show)."""
    allowed = []
    for name in defn.transitions:
        result = decide(defn, state, name, facts)
        if isinstance(result, Transition):
            allowed.append(result)
    return allowed


def _check_guard(defn: ProcessDefinition, guard: str, facts: Facts) -> Refusal | None:
    if guard == "inside_geofence":
        if facts.inside_geofence is None:
            return Refusal("needs_location", "no usable location was sent with the check-in")
        if not facts.inside_geofence:
            return Refusal("outside_geofence", "the location is outside the community")
        return None
    if guard == "checked_in":
        return None if facts.checked_in else Refusal("needs_check_in", "not checked in on site")
    if guard == "has_photo":
        needed = max(1, defn.evidence.min_photos)
        if facts.photo_count >= needed:
            return None
        return Refusal("needs_photo", f"{facts.photo_count} of {needed} site photos")
    if guard == "has_reason":
        if facts.reason and facts.reason.strip():
            return None
        return Refusal("needs_reason", "a reason is required")
    if guard == "has_note":
        return None if facts.note and facts.note.strip() else Refusal("needs_note", "empty note")
    if guard == "has_report":
        if facts.note and facts.note.strip():
            return None
        return Refusal("needs_report", "say what was done")
    if guard in _NEGOTIATION_GUARDS:
        return _check_negotiation(defn, guard, facts)
    if guard in ("score_pass", "score_fail"):
        return _check_score(guard, facts.score)
    if guard == "rating_window_over":
        if facts.rating_window_over:
            return None
        return Refusal("rating_window_open", "the resident may still rate")
    raise AssertionError(f"guard {guard!r} passed validation but has no check")


def _check_negotiation(defn: ProcessDefinition, guard: str, facts: Facts) -> Refusal | None:
    if guard == "has_opinion":
        if facts.agree is None:
            return Refusal("needs_opinion", "answer agree or disagree")
        if not facts.agree and not (facts.reason and facts.reason.strip()):
            return Refusal("needs_reason", "a disagreement needs a reason")
        return None
    agreed = facts.agree is True and facts.others_agree
    if guard == "all_agree":
        return None if agreed else Refusal("opinions_differ", "someone disagrees")
    if guard == "any_disagree":
        return Refusal("opinions_agree", "everyone agrees") if agreed else None
    assert defn.negotiation is not None  # validation: rounds guards need a negotiation block
    left = facts.negotiation_round < defn.negotiation.max_rounds
    if guard == "rounds_left":
        return None if left else Refusal("no_rounds_left", "every round has been held")
    return Refusal("rounds_left", "another round may be held") if left else None


def _check_score(guard: str, score: int | None) -> Refusal | None:
    if score is None or isinstance(score, bool) or not isinstance(score, int):
        return Refusal("bad_score", f"score must be a whole number {SCORE_MIN}-{SCORE_MAX}")
    if not SCORE_MIN <= score <= SCORE_MAX:
        return Refusal("bad_score", f"score {score} is outside {SCORE_MIN}-{SCORE_MAX}")
    if guard == "score_pass" and score < PASS_MIN:
        return Refusal("bad_score", f"score {score} is below {PASS_MIN}: the task reopens")
    if guard == "score_fail" and score >= PASS_MIN:
        return Refusal("bad_score", f"score {score} is {PASS_MIN} or more: the task closes")
    return None


# --- validation helpers -------------------------------------------------------------------


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _unknown_keys(
    item: Mapping[str, Any], allowed: frozenset[str], where: str, problems: list[str]
) -> None:
    # YAML typos ("gaurds:") would otherwise be silently ignored and a guard silently dropped.
    for key in item:
        if key not in allowed:
            problems.append(f"{where}: unknown key {key!r}")


def _names(value: Any, where: str, problems: list[str]) -> list[str]:
    """A list of unique names, accepting a single string for one name."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        problems.append(f"{where} must be a list of names, got {value!r}")
        return []
    names: list[str] = []
    for item in value:
        if not isinstance(item, str) or not _NAME.match(item):
            problems.append(f"{where}: {item!r} is not a lower_snake_case name")
        elif item in names:
            problems.append(f"{where}: {item!r} is listed twice")
        else:
            names.append(item)
    return names


def _transitions(
    value: Any, states: frozenset[str], final_states: frozenset[str], problems: list[str]
) -> dict[str, Transition]:
    if not isinstance(value, list) or not value:
        problems.append("transitions must be a non-empty list")
        return {}
    result: dict[str, Transition] = {}
    for index, item in enumerate(value):
        if not isinstance(item, Mapping):
            problems.append(f"transitions[{index}] must be a mapping")
            continue
        name = item.get("name")
        where = f"transition {name!r}" if isinstance(name, str) else f"transitions[{index}]"
        if not isinstance(name, str) or not _NAME.match(name):
            problems.append(f"{where}: name must be a lower_snake_case name")
            continue
        if name in result:
            problems.append(f"{where}: duplicate transition name")
            continue
        _unknown_keys(item, _TRANSITION_KEYS, where, problems)
        sources = _names(item.get("from"), f"{where} from", problems)
        if not sources:
            problems.append(f"{where}: from must name at least one state")
        for state in sources:
            if state not in states:
                problems.append(f"{where}: unknown state {state!r} in from")
        target_raw = item.get("to")
        target: str | None
        if target_raw == SAME:
            target = None
            for state in sources:
                if state in final_states:
                    problems.append(f"{where}: stays in final state {state!r}")
        elif isinstance(target_raw, str) and target_raw in states:
            target = target_raw
        else:
            problems.append(f"{where}: unknown state {target_raw!r} in to")
            target = None
        actors = _names(item.get("actors"), f"{where} actors", problems)
        if not actors:
            problems.append(f"{where}: actors must name at least one actor")
        for actor in actors:
            if actor not in ACTORS:
                problems.append(f"{where}: unknown actor {actor!r}")
        guards = _names(item.get("guards", []), f"{where} guards", problems)
        for guard in guards:
            if guard not in GUARDS:
                problems.append(f"{where}: unknown guard {guard!r}")
        if "score_pass" in guards and "score_fail" in guards:
            problems.append(f"{where}: score_pass and score_fail can never both hold")
        effects = _names(item.get("effects", []), f"{where} effects", problems)
        for effect in effects:
            if effect not in EFFECTS:
                problems.append(f"{where}: unknown effect {effect!r}")
        result[name] = Transition(
            name=name,
            sources=frozenset(sources),
            target=target,
            actors=frozenset(actors),
            guards=tuple(guards),
            effects=tuple(effects),
        )
    return result


def _successors(transitions: Mapping[str, Transition]) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for move in transitions.values():
        if move.target is None:
            continue
        for source in move.sources:
            graph.setdefault(source, set()).add(move.target)
    return graph


def _reachable(start: Iterable[str], graph: Mapping[str, set[str]]) -> set[str]:
    seen = set(start)
    pending = list(seen)
    while pending:
        for nxt in graph.get(pending.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                pending.append(nxt)
    return seen


def _check_graph(
    states: list[str],
    initial: str,
    final_states: frozenset[str],
    transitions: Mapping[str, Transition],
    problems: list[str],
) -> None:
    if not initial:
        return
    graph = _successors(transitions)
    reachable = _reachable([initial], graph)
    for state in states:
        if state not in reachable:
            problems.append(f"state {state!r} is unreachable from {initial!r}")
        elif state not in final_states and not graph.get(state):
            problems.append(f"state {state!r} is not final but no transition leaves it")
    for move in transitions.values():
        for source in sorted(move.sources & final_states):
            if move.target is not None:
                problems.append(f"transition {move.name!r} leaves final state {source!r}")


def _clocks(
    value: Any,
    states: frozenset[str],
    transitions: Mapping[str, Transition],
    problems: list[str],
) -> list[ClockSpec]:
    if not isinstance(value, list):
        problems.append("clocks must be a list (may be empty)")
        return []
    graph = _successors(transitions)
    clocks: list[ClockSpec] = []
    urgency_sets: dict[str, frozenset[str]] = {}
    for index, item in enumerate(value):
        if not isinstance(item, Mapping):
            problems.append(f"clocks[{index}] must be a mapping")
            continue
        name = item.get("name")
        where = f"clock {name!r}" if isinstance(name, str) else f"clocks[{index}]"
        if not isinstance(name, str) or not _NAME.match(name):
            problems.append(f"{where}: name must be a lower_snake_case name")
            continue
        if name in urgency_sets:
            problems.append(f"{where}: duplicate clock name")
            continue
        _unknown_keys(item, _CLOCK_KEYS, where, problems)
        starts = _names(item.get("starts_in"), f"{where} starts_in", problems)
        stops = _names(item.get("stops_in"), f"{where} stops_in", problems)
        if not starts:
            problems.append(f"{where}: starts_in must name at least one state")
        if not stops:
            problems.append(f"{where}: stops_in must name at least one state")
        for state in [*starts, *stops]:
            if state not in states:
                problems.append(f"{where}: unknown state {state!r}")
        for state in starts:
            if state in states and not (_reachable([state], graph) & set(stops)):
                problems.append(f"{where}: no stop state is reachable from {state!r}")
        durations = _durations(item.get("durations_s"), where, problems)
        urgency_sets[name] = frozenset(durations)
        warn = item.get("warn_before_s", 0)
        if not _is_int(warn) or warn < 0:
            problems.append(f"{where}: warn_before_s must be a whole number >= 0, got {warn!r}")
            warn = 0
        elif durations and warn >= min(durations.values()):
            # A warning at or before the start would be noise, not a warning.
            problems.append(f"{where}: warn_before_s {warn} is not shorter than every duration")
        paused = _names(item.get("paused_in", []), f"{where} paused_in", problems)
        for state in paused:
            if state not in states:
                problems.append(f"{where}: unknown state {state!r}")
            elif state in starts or state in stops:
                problems.append(f"{where}: {state!r} cannot both pause and start or stop it")
        clocks.append(
            ClockSpec(
                name=name,
                starts_in=frozenset(starts),
                stops_in=frozenset(stops),
                durations_s=durations,
                warn_before_s=warn,
                calendars=_clock_calendars(item.get("calendar"), durations, where, problems),
                paused_in=frozenset(paused),
                escalation=_escalation(item.get("escalation"), durations, where, problems),
            )
        )
    if len(set(urgency_sets.values())) > 1:
        listing = "; ".join(f"{n}: {', '.join(sorted(u))}" for n, u in urgency_sets.items())
        problems.append(f"clocks must all cover the same urgencies ({listing})")
    return clocks


def _clock_calendars(
    value: Any, durations: Mapping[str, int], where: str, problems: list[str]
) -> dict[str, str]:
    """`calendar: office` for every urgency, or `{urgent: always, normal: department}`."""
    if value is None:
        return {}
    if isinstance(value, str):
        value = dict.fromkeys(durations, value)
    if not isinstance(value, Mapping):
        problems.append(f"{where}: calendar must be a name or map each urgency to a name")
        return {}
    calendars: dict[str, str] = {}
    for urgency, name in value.items():
        if urgency not in durations:
            problems.append(f"{where}: calendar for unknown urgency {urgency!r}")
        elif not isinstance(name, str) or not _NAME.match(name):
            problems.append(f"{where}: calendar for {urgency!r} must be a calendar name")
        else:
            calendars[urgency] = name
    for urgency in sorted(set(durations) - set(calendars)):
        problems.append(f"{where}: no calendar for urgency {urgency!r}")
    return calendars


def _escalation(
    value: Any, durations: Mapping[str, int], where: str, problems: list[str]
) -> tuple[Escalation, ...]:
    """Levels in order: the first is the breach (no after_s), later ones strictly later."""
    if value is None:
        return DEFAULT_ESCALATION
    if not isinstance(value, list) or not value or len(value) > MAX_ESCALATION_LEVELS:
        problems.append(f"{where}: escalation must list 1 to {MAX_ESCALATION_LEVELS} levels")
        return DEFAULT_ESCALATION
    levels: list[Escalation] = []
    previous: dict[str, int] = dict.fromkeys(durations, 0)
    for index, item in enumerate(value):
        level = index + 1
        here = f"{where} escalation level {level}"
        if not isinstance(item, Mapping):
            problems.append(f"{here} must be a mapping with notify")
            continue
        _unknown_keys(item, _ESCALATION_KEYS, here, problems)
        notify = _names(item.get("notify"), f"{here} notify", problems)
        if not notify:
            problems.append(f"{here}: notify must name at least one recipient")
        for who in notify:
            if who not in ESCALATION_RECIPIENTS:
                known = ", ".join(sorted(ESCALATION_RECIPIENTS))
                problems.append(f"{here}: unknown recipient {who!r} (known: {known})")
        raw_after = item.get("after_s", 0)
        after = dict.fromkeys(durations, raw_after) if _is_int(raw_after) else raw_after
        if not isinstance(after, Mapping) or set(after) != set(durations):
            problems.append(f"{here}: after_s must be seconds, or seconds for each urgency")
            after = dict.fromkeys(durations, 0)
        for urgency, seconds in after.items():
            if level == 1 and seconds != 0:
                problems.append(f"{here}: the first level is the breach itself, no after_s")
            elif level > 1 and (not _is_int(seconds) or seconds <= previous.get(urgency, 0)):
                problems.append(f"{here}: after_s for {urgency!r} must come after level {index}")
        previous = {u: s for u, s in after.items() if _is_int(s)}
        levels.append(Escalation(level, dict(after), tuple(notify)))
    return tuple(levels) or DEFAULT_ESCALATION


def _durations(value: Any, where: str, problems: list[str]) -> dict[str, int]:
    if not isinstance(value, Mapping) or not value:
        problems.append(f"{where}: durations_s must map each urgency to seconds")
        return {}
    durations: dict[str, int] = {}
    for urgency, seconds in value.items():
        if not isinstance(urgency, str) or not _NAME.match(urgency):
            problems.append(f"{where}: urgency {urgency!r} is not a lower_snake_case name")
        elif not _is_int(seconds) or seconds <= 0:
            problems.append(f"{where}: duration for {urgency!r} must be seconds > 0")
        else:
            durations[urgency] = seconds
    return durations


def _evidence(value: Any, transitions: Mapping[str, Transition], problems: list[str]) -> Evidence:
    empty = Evidence(transition="", check_in=False, min_photos=0)
    if value is None:
        # A kind without site work (e.g. a complaint answered by phone) needs no evidence, but
        # then no transition may ask for it either.
        for move in transitions.values():
            for guard in ("checked_in", "has_photo", "has_report"):
                if guard in move.guards:
                    problems.append(f"transition {move.name!r} guards {guard} but no evidence")
        return empty
    if not isinstance(value, Mapping):
        problems.append("evidence must be a mapping")
        return empty
    _unknown_keys(value, _EVIDENCE_KEYS, "evidence", problems)
    name = value.get("transition")
    check_in = value.get("check_in", False)
    min_photos = value.get("min_photos", 0)
    report = value.get("report", False)
    if not isinstance(report, bool):
        problems.append(f"evidence: report must be true or false, got {report!r}")
        report = False
    if not isinstance(check_in, bool):
        problems.append(f"evidence: check_in must be true or false, got {check_in!r}")
        check_in = False
    if not _is_int(min_photos) or min_photos < 0:
        problems.append(f"evidence: min_photos must be a whole number >= 0, got {min_photos!r}")
        min_photos = 0
    if not isinstance(name, str) or name not in transitions:
        problems.append(f"evidence: unknown transition {name!r}")
        return empty
    guards = transitions[name].guards
    # The evidence block and the guards say the same thing twice on purpose: the block is what
    # clients read to tell staff what is needed, the guards are what the engine enforces, and a
    # mismatch between them is the kind of drift this check exists to catch.
    if check_in != ("checked_in" in guards):
        problems.append(f"evidence: check_in is {check_in} but {name!r} guards differ")
    if (min_photos > 0) != ("has_photo" in guards):
        problems.append(f"evidence: min_photos is {min_photos} but {name!r} guards differ")
    if report != ("has_report" in guards):
        problems.append(f"evidence: report is {report} but {name!r} guards differ")
    # Article 7: work handled against the rules cannot advance. No other transition may reach
    # the state the evidence guards (e.g. completed) without asking for the same evidence.
    target = transitions[name].target
    needed = {g for g in guards if g in ("checked_in", "has_photo", "has_report")}
    for move in transitions.values():
        if move.name != name and target is not None and move.target == target:
            missing = sorted(needed - set(move.guards))
            if missing:
                problems.append(
                    f"transition {move.name!r} reaches {target!r} without the evidence "
                    f"guards {', '.join(missing)}"
                )
    return Evidence(transition=name, check_in=check_in, min_photos=min_photos, report=report)


def _negotiation(
    value: Any,
    states: frozenset[str],
    final_states: frozenset[str],
    transitions: Mapping[str, Transition],
    problems: list[str],
) -> Negotiation | None:
    used = sorted({g for t in transitions.values() for g in t.guards} & _NEGOTIATION_GUARDS)
    if value is None:
        if used:
            problems.append(f"guards {', '.join(used)} need a negotiation block")
        return None
    if not isinstance(value, Mapping):
        problems.append("negotiation must be a mapping")
        return None
    _unknown_keys(value, _NEGOTIATION_KEYS, "negotiation", problems)
    max_rounds = value.get("max_rounds")
    if not _is_int(max_rounds) or max_rounds < 1:
        problems.append(f"negotiation: max_rounds must be a whole number >= 1, got {max_rounds!r}")
        max_rounds = 1
    sequences: list[tuple[tuple[str, str], ...]] = []
    seen: set[str] = set()
    for key in ("rounds", "escalation"):
        raw = value.get(key, [] if key == "escalation" else None)
        if not isinstance(raw, list) or (key == "rounds" and not raw):
            problems.append(f"negotiation: {key} must list steps as {{state: party}}")
            sequences.append(())
            continue
        steps: list[tuple[str, str]] = []
        for step in raw:
            if not isinstance(step, Mapping) or len(step) != 1:
                problems.append(f"negotiation {key}: step {step!r} must be one state: party")
                continue
            ((state, party),) = step.items()
            if state not in states or state in final_states:
                problems.append(f"negotiation {key}: {state!r} is not an open state")
            if party not in PARTIES:
                problems.append(f"negotiation {key}: unknown party {party!r}")
            if state in seen:
                problems.append(f"negotiation {key}: {state!r} is a step twice")
            seen.add(state)
            leaving = [t for t in transitions.values() if state in t.sources]
            if not any("has_opinion" in t.guards and party in t.actors for t in leaving):
                problems.append(
                    f"negotiation {key}: no has_opinion transition lets {party} answer in {state!r}"
                )
            steps.append((state, party))
        sequences.append(tuple(steps))
    return Negotiation(max_rounds=max_rounds, rounds=sequences[0], escalation=sequences[1])
