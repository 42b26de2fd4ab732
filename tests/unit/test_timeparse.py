"""bot.timeparse: preferred visit windows read against an injected clock."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot import timeparse
from bot.nlu import normalize

SHANGHAI = ZoneInfo("Asia/Shanghai")
WEDNESDAY_10 = datetime(2026, 11, 18, 10, 0, tzinfo=SHANGHAI)


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=SHANGHAI)


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("今天下午", at(18, 14), at(18, 18)),
        ("明天上午", at(19, 9), at(19, 12)),
        ("明天下午3点", at(19, 15), at(19, 16)),
        ("明天下午三点半", at(19, 15, 30), at(19, 16, 30)),
        ("今晚", at(18, 18), at(18, 21)),
        ("周六上午", at(21, 9), at(21, 12)),
        ("星期天下午", at(22, 14), at(22, 18)),
        ("下周一", at(23, 8), at(23, 20)),
        ("下周一上午", at(23, 9), at(23, 12)),
        ("后天", at(20, 8), at(20, 20)),
        ("3点以后", at(18, 15), at(18, 21)),
        ("晚上8点前", at(18, 18), at(18, 20)),
        ("下午两点到四点", at(18, 14), at(18, 16)),
        ("工作日晚上", at(18, 18), at(18, 21)),
        ("周末", at(21, 8), at(22, 20)),
    ],
)
def test_visit_phrase_becomes_a_local_window(text, start, end):
    assert timeparse.parse_visit_time(text, WEDNESDAY_10) == (start, end)


def test_window_is_in_the_time_zone_of_now():
    start, end = timeparse.parse_visit_time("明天上午", WEDNESDAY_10)
    assert start.tzinfo is SHANGHAI and end.tzinfo is SHANGHAI


def test_a_window_already_under_way_starts_now():
    assert timeparse.parse_visit_time("今天上午", WEDNESDAY_10) == (WEDNESDAY_10, at(18, 12))


def test_a_past_window_named_for_today_is_none():
    assert timeparse.parse_visit_time("今天上午", at(18, 15)) is None


def test_a_period_without_a_day_means_its_next_occurrence():
    assert timeparse.parse_visit_time("上午", at(18, 15)) == (at(19, 9), at(19, 12))


def test_a_weekday_that_is_today_and_still_open_means_today():
    assert timeparse.parse_visit_time("周三下午", WEDNESDAY_10) == (at(18, 14), at(18, 18))


def test_workday_evening_on_a_saturday_means_monday():
    saturday = at(21, 10)
    assert timeparse.parse_visit_time("工作日晚上", saturday) == (at(23, 18), at(23, 21))


def test_a_bare_small_hour_is_in_the_afternoon():
    assert timeparse.parse_visit_time("明天3点", WEDNESDAY_10) == (at(19, 15), at(19, 16))


@pytest.mark.parametrize("text", ["两小时内", "尽快"])
def test_soon_means_from_now(text):
    assert timeparse.parse_visit_time(text, WEDNESDAY_10) == (
        WEDNESDAY_10,
        WEDNESDAY_10 + timedelta(hours=2),
    )


@pytest.mark.parametrize("text", ["随时", "都可以", "什么时候都行"])
def test_any_time_has_no_window_but_is_told_apart(text):
    assert timeparse.parse_visit_time(text, WEDNESDAY_10) is None
    found = timeparse.find_visit_time(normalize(text), WEDNESDAY_10)
    assert found is not None and found.any_time


@pytest.mark.parametrize("text", ["卫生间漏水了", "5号楼2单元302", ""])
def test_text_without_a_time_has_no_window(text):
    assert timeparse.parse_visit_time(text, WEDNESDAY_10) is None
    assert timeparse.find_visit_time(normalize(text), WEDNESDAY_10) is None


def test_the_phrase_is_kept_as_written():
    found = timeparse.find_visit_time(normalize("明天下午3点以后可以上门"), WEDNESDAY_10)
    assert found is not None and found.phrase == "明天下午3点以后"
