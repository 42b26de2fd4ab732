"""What residents want, pure: activity, top demands, satisfaction per category, trend per period.

Inputs are `Signal`s already categorised by the caller (messages by the bot's NLU categories,
tasks and complaints by their own category, ratings by the rated task's category).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

SOURCES = ("message", "task", "complaint", "rating")
DEMAND_SOURCES = frozenset({"message", "task", "complaint"})  # a rating is a verdict, not a demand
PERIODS = ("week", "month")
SATISFIED_FROM = 4  # 4 or 5 out of 5 counts as satisfied


@dataclass(frozen=True)
class Signal:
    """One thing a resident said or asked for: where it came from, its category, when."""

    source: str  # message, task, complaint or rating
    category: str
    at: datetime  # aware
    score: int | None = None  # ratings only, 1-5


def period_of(at: datetime, period: str, tz: tzinfo) -> str:
    """2026-11 (month) or 2026-W48 (ISO week), in local time."""
    local = at.astimezone(tz)
    if period == "week":
        year, week, _ = local.isocalendar()
        return f"{year}-W{week:02d}"
    return f"{local.year}-{local.month:02d}"


def _average(scores: list[int]) -> float | None:
    return round(sum(scores) / len(scores), 2) if scores else None


def insights(
    signals: Iterable[Signal], households: int, *, period: str, tz: tzinfo
) -> dict[str, Any]:
    """The statistics one community's console shows (see docs/polls.md, "What residents want")."""
    by_source: Counter[str] = Counter()
    demands: Counter[str] = Counter()
    scores: dict[str, list[int]] = defaultdict(list)
    trend: dict[str, Counter[str]] = defaultdict(Counter)
    trend_scores: dict[str, list[int]] = defaultdict(list)
    for s in signals:
        by_source[s.source] += 1
        key = period_of(s.at, period, tz)
        trend[key][s.source] += 1
        if s.source in DEMAND_SOURCES:
            demands[s.category] += 1
        if s.source == "rating" and s.score is not None:
            scores[s.category].append(s.score)
            trend_scores[key].append(s.score)
    messages = by_source["message"]
    return {
        "activity": {
            "messages": messages,
            "households": households,
            "messages_per_household": round(messages / households, 2) if households else 0.0,
        },
        "totals": {source: by_source[source] for source in SOURCES},
        "top_demands": [
            {"category": c, "count": n}
            for c, n in sorted(demands.items(), key=lambda cn: (-cn[1], cn[0]))
        ],
        "satisfaction": [
            {
                "category": c,
                "ratings": len(s),
                "average": _average(s),
                "satisfied_percent": round(
                    100.0 * sum(1 for x in s if x >= SATISFIED_FROM) / len(s), 1
                ),
            }
            for c, s in sorted(scores.items())
        ],
        "trend": [
            {
                "period": key,
                **{source: trend[key][source] for source in SOURCES},
                "average_score": _average(trend_scores[key]),
            }
            for key in sorted(trend)
        ],
    }
