"""Demand statistics against hand-counted expectations (server/domain/demand.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from server.domain.demand import Signal, insights, period_of

TZ = ZoneInfo("Asia/Shanghai")


def at(month: int, day: int, hour: int = 4) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=UTC)


# Hand-counted fixture: 10 households; October: 3 messages (2 water, 1 noise), 1 water task,
# 1 noise complaint, ratings water 5 and 3; November: 2 messages (water, other), 1 drains task,
# rating drains 2.
SIGNALS = [
    Signal("message", "water", at(10, 3)),
    Signal("message", "water", at(10, 4)),
    Signal("message", "noise", at(10, 20)),
    Signal("task", "water", at(10, 4)),
    Signal("complaint", "noise", at(10, 21)),
    Signal("rating", "water", at(10, 10), 5),
    Signal("rating", "water", at(10, 12), 3),
    Signal("message", "water", at(11, 2)),
    Signal("message", "other", at(11, 3)),
    Signal("task", "drains", at(11, 3)),
    Signal("rating", "drains", at(11, 9), 2),
]


def test_activity_is_messages_per_household():
    result = insights(SIGNALS, 10, period="month", tz=TZ)
    assert result["activity"] == {"messages": 5, "households": 10, "messages_per_household": 0.5}
    assert result["totals"] == {"message": 5, "task": 2, "complaint": 1, "rating": 3}


def test_top_demands_count_messages_tasks_and_complaints_not_ratings():
    result = insights(SIGNALS, 10, period="month", tz=TZ)
    assert result["top_demands"] == [
        {"category": "water", "count": 4},
        {"category": "noise", "count": 2},
        {"category": "drains", "count": 1},
        {"category": "other", "count": 1},
    ]


def test_satisfaction_per_category():
    result = insights(SIGNALS, 10, period="month", tz=TZ)
    assert result["satisfaction"] == [
        {"category": "drains", "ratings": 1, "average": 2.0, "satisfied_percent": 0.0},
        {"category": "water", "ratings": 2, "average": 4.0, "satisfied_percent": 50.0},
    ]


def test_trend_per_month():
    result = insights(SIGNALS, 10, period="month", tz=TZ)
    assert result["trend"] == [
        {
            "period": "2026-10",
            "message": 3,
            "task": 1,
            "complaint": 1,
            "rating": 2,
            "average_score": 4.0,
        },
        {
            "period": "2026-11",
            "message": 2,
            "task": 1,
            "complaint": 0,
            "rating": 1,
            "average_score": 2.0,
        },
    ]


def test_trend_per_week_in_local_time():
    # 2026-11-01 17:00 UTC is Monday 2 November 01:00 in Shanghai: ISO week 45, not 44
    assert period_of(datetime(2026, 11, 1, 17, tzinfo=UTC), "week", TZ) == "2026-W45"
    result = insights(SIGNALS[:2], 1, period="week", tz=TZ)
    assert [t["period"] for t in result["trend"]] == ["2026-W40"]


def test_no_households_means_no_division_by_zero():
    assert insights([], 0, period="month", tz=TZ)["activity"]["messages_per_household"] == 0.0
