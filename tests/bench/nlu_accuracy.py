"""Intent and exact-slot accuracy of bot.nlu over tests/data/utterances.yaml, with the misses.

Run: `python -m tests.bench.nlu_accuracy`. The figures are printed, not asserted here
(tests/unit/test_nlu.py holds the thresholds).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import yaml

from bot import nlu

DATA = Path(__file__).resolve().parents[1] / "data" / "utterances.yaml"
# Slots compared even when a case does not list them (a stray one is a miss).
STRICT_SLOTS = ("building", "unit", "room", "place", "category", "urgency", "task_ref", "score")


@dataclass(frozen=True)
class Case:
    """One utterance of the test set with what it should parse to."""

    text: str
    intent: str
    slots: dict[str, str]


@dataclass(frozen=True)
class Outcome:
    """How one case came out."""

    case: Case
    parsed: nlu.Parsed
    intent_ok: bool
    slots_ok: bool
    slot_diff: dict[str, tuple[str | None, str | None]]


def load_cases(path: Path = DATA) -> tuple[datetime, list[Case]]:
    """The clock and the cases of the test set."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    now = datetime.fromisoformat(data["now"])
    cases = [
        Case(
            str(c["text"]), str(c["intent"]), {k: str(v) for k, v in (c.get("slots") or {}).items()}
        )
        for c in data["utterances"]
    ]
    return now, cases


def evaluate(case: Case, now: datetime) -> Outcome:
    """Parse one case and compare intent and slots."""
    parsed = nlu.parse(case.text, now=now)
    keys = set(STRICT_SLOTS) | set(case.slots)
    diff = {
        key: (case.slots.get(key), parsed.slots.get(key))
        for key in sorted(keys)
        if case.slots.get(key) != parsed.slots.get(key)
    }
    return Outcome(case, parsed, parsed.intent == case.intent, not diff, diff)


def run(path: Path = DATA) -> tuple[list[Outcome], float, float]:
    """All outcomes, intent accuracy and exact-slot accuracy (both 0..1)."""
    now, cases = load_cases(path)
    outcomes = [evaluate(case, now) for case in cases]
    intent_acc = sum(o.intent_ok for o in outcomes) / len(outcomes)
    slot_acc = sum(o.slots_ok for o in outcomes) / len(outcomes)
    return outcomes, intent_acc, slot_acc


def describe(outcome: Outcome) -> str:
    """One readable line per miss."""
    parts = []
    if not outcome.intent_ok:
        parts.append(f"intent {outcome.case.intent} -> {outcome.parsed.intent}")
    for key, (want, got) in outcome.slot_diff.items():
        parts.append(f"{key} {want!r} -> {got!r}")
    return f"  {outcome.case.text}\n      " + "; ".join(parts)


def main() -> None:
    """Print the figures, the speed and every failing utterance."""
    outcomes, intent_acc, slot_acc = run()
    now, cases = load_cases()
    started = time.perf_counter()
    rounds = 20
    for _ in range(rounds):
        for case in cases:
            nlu.parse(case.text, now=now)
    per_parse_ms = (time.perf_counter() - started) * 1000 / (rounds * len(cases))
    print(f"utterances:          {len(outcomes)}")
    print(f"intent accuracy:     {intent_acc:.1%}")
    print(f"exact-slot accuracy: {slot_acc:.1%}")
    print(f"parse time:          {per_parse_ms:.3f} ms per utterance (mean)")
    print(f"lexicon:             {nlu.vocabulary_size()}")
    misses = [o for o in outcomes if not (o.intent_ok and o.slots_ok)]
    print(f"failures:            {len(misses)}")
    for outcome in misses:
        print(describe(outcome))


if __name__ == "__main__":
    main()
