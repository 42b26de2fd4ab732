"""Channel order, back-off and quiet hours: the router's pure rules (server/domain/channels.py)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from server.domain.channels import (
    Reach,
    channel_order,
    in_quiet_hours,
    quiet_until,
    retry_delay_s,
    sms_windows,
)

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 27, 4, 0, tzinfo=UTC)  # 12:00 in Shanghai
QUIET = (time(22, 0), time(7, 0))


def reach(**changes: object) -> Reach:
    base: dict[str, object] = {
        "openid": "o1",
        "follows": True,
        "last_inbound_at": None,
        "phone": "13800001234",
    }
    return Reach(**(base | changes))  # type: ignore[arg-type]


def order(r: Reach, **kw: object) -> list[str]:
    flags = {"has_template": True, "has_sms": True, "has_subscribe": False} | kw
    return channel_order(r, NOW, **flags)  # type: ignore[arg-type]


def local(hour: int, minute: int = 0, day: int = 27) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=TZ)


def test_follower_who_wrote_within_48_hours_gets_customer_service_first():
    r = reach(last_inbound_at=NOW - timedelta(hours=47))
    assert order(r) == ["custom", "template", "sms"]


def test_after_48_hours_the_template_comes_first():
    r = reach(last_inbound_at=NOW - timedelta(hours=48))
    assert order(r) == ["template", "sms"]


def test_person_who_unfollowed_gets_no_official_account_channel():
    r = reach(follows=False, last_inbound_at=NOW)
    assert order(r, has_subscribe=True) == ["subscribe", "sms"]


def test_unknown_follow_state_still_tries_the_template():
    assert order(reach(follows=None)) == ["template", "sms"]


def test_subscribe_comes_after_template_and_before_sms():
    assert order(reach(), has_subscribe=True) == ["template", "subscribe", "sms"]


def test_sms_needs_a_phone_and_a_kind_that_allows_it():
    assert order(reach(phone="")) == ["template"]
    assert order(reach(), has_sms=False) == ["template"]


def test_channels_that_failed_for_good_are_skipped():
    assert order(reach(), has_subscribe=True, skip=["template"]) == ["subscribe", "sms"]


def test_nobody_reachable_gives_no_channel():
    assert order(reach(openid="", phone="")) == []


def test_quiet_hours_span_midnight():
    assert in_quiet_hours(time(23, 30), *QUIET)
    assert in_quiet_hours(time(0, 0), *QUIET)
    assert in_quiet_hours(time(6, 59), *QUIET)
    assert not in_quiet_hours(time(7, 0), *QUIET)
    assert not in_quiet_hours(time(21, 59), *QUIET)


def test_equal_start_and_end_means_no_quiet_hours():
    assert not in_quiet_hours(time(3, 0), time(0, 0), time(0, 0))


def test_late_evening_waits_until_seven_the_next_morning():
    assert quiet_until(local(23, 30), TZ, *QUIET) == local(7, 0, day=28)


def test_small_hours_wait_until_seven_the_same_morning():
    assert quiet_until(local(3, 15), TZ, *QUIET) == local(7, 0)


def test_daytime_is_not_held():
    assert quiet_until(local(12, 0), TZ, *QUIET) is None
    assert quiet_until(local(7, 0), TZ, *QUIET) is None


def test_retry_delay_doubles_with_jitter():
    rng = random.Random(7)
    for attempt, base in ((1, 5), (2, 10), (3, 20), (4, 40)):
        delays = [retry_delay_s(attempt, rng) for _ in range(50)]
        assert all(base / 2 <= d <= base for d in delays)
        assert len({round(d, 3) for d in delays}) > 40  # jittered: relays do not retry in step


def test_retry_delay_is_capped_at_fifteen_minutes():
    assert retry_delay_s(30, random.Random(1)) <= 900


def test_sms_minute_window_reopens_at_the_next_minute():
    minute = sms_windows(1, 5, 10)[0]
    at = datetime(2026, 11, 27, 4, 0, 42, tzinfo=UTC)
    assert minute.reopens_at(at) == datetime(2026, 11, 27, 4, 1, tzinfo=UTC)
    assert minute.bucket(at) == minute.bucket(at - timedelta(seconds=42))
    assert minute.bucket(at) != minute.bucket(at + timedelta(seconds=18))
