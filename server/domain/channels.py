"""Which channels may carry a message to a person, in what order, and when to try (DESIGN.md).

Pure rules: the caller passes what it knows about the person and the clock.
"""

from __future__ import annotations

import random
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo

# WeChat: customer-service messages get 45015 outside 48 h of the user's last message.
CUSTOMER_SERVICE_WINDOW = timedelta(hours=48)
MAX_ATTEMPTS = 8
# How the router reads a refusal (server/actions/notify.py):
# - "not this way": 43004 the user does not follow the account, 43101 the user refused this
#   template or holds no authorization, 45015 outside the 48-hour customer-service window, 40003
#   the openid is not ours. The next channel is tried at once. Any other non-transient refusal
#   (a bad template id, 47003 bad data) falls through too: retrying cannot make it succeed.
# - "later": -1 system busy, 45009 daily quota, 5xx, timeouts (the adapters' `.transient`): the
#   same channel is retried after retry_delay_s, and after MAX_ATTEMPTS the next channel tries.

# Channels in the order the router tries them. "passive" (the reply to a user's own push) is
# never chosen by the relay: the webhook already answers the push itself, and a message caused by
# that push goes by customer-service message, which WeChat allows for 48 h after it.
CHANNELS = ("custom", "template", "subscribe", "sms")


@dataclass(frozen=True)
class Reach:
    """What we know about reaching one person."""

    openid: str
    follows: bool | None  # None = unknown (staff from the roster): try and let WeChat say 43004
    last_inbound_at: datetime | None
    phone: str
    miniapp_openid: str = ""


def in_customer_service_window(last_inbound_at: datetime | None, now: datetime) -> bool:
    """True while WeChat accepts customer-service messages: 48 h after the user's last message."""
    return last_inbound_at is not None and now - last_inbound_at < CUSTOMER_SERVICE_WINDOW


def channel_order(
    reach: Reach,
    now: datetime,
    *,
    has_template: bool,
    has_sms: bool,
    has_subscribe: bool = False,
    skip: Collection[str] = (),
) -> list[str]:
    """custom (inside 48 h) -> template (follower) -> subscribe (a template the person may hold
    an authorization for) -> sms (kind allows it and a phone is known), minus `skip`."""
    order: list[str] = []
    if reach.openid and reach.follows is not False:
        if in_customer_service_window(reach.last_inbound_at, now):
            order.append("custom")
        if has_template:
            order.append("template")
    if has_subscribe:
        order.append("subscribe")
    if has_sms and reach.phone:
        order.append("sms")
    return [channel for channel in order if channel not in skip]


def retry_delay_s(attempt: int, rng: random.Random | None = None) -> float:
    """Exponential back-off with jitter: 5 s, 10 s, 20 s ... capped at 15 min, each drawn from
    [half, full] so that relays retrying the same outage do not come back in step."""
    base = min(5 * 2 ** max(attempt - 1, 0), 900)
    return (rng or random).uniform(base / 2, base)


def in_quiet_hours(local: time, start: time, end: time) -> bool:
    """True when `local` is inside [start, end); a window like 22:00–07:00 spans midnight."""
    if start == end:
        return False
    if start < end:
        return start <= local < end
    return local >= start or local < end


def quiet_until(now: datetime, tz: tzinfo, start: time, end: time) -> datetime | None:
    """The UTC instant quiet hours end if `now` is inside them (local time in `tz`), else None."""
    local = now.astimezone(tz)
    if not in_quiet_hours(local.time(), start, end):
        return None
    day: date = local.date()
    if local.time() >= end:  # evening part of an overnight window: it ends tomorrow morning
        day += timedelta(days=1)
    return datetime.combine(day, end, tzinfo=tz).astimezone(UTC)


@dataclass(frozen=True)
class SmsWindow:
    """One per-number SMS limit: at most `limit` sends per `seconds` (fixed windows)."""

    name: str
    seconds: int
    limit: int

    def bucket(self, now: datetime) -> int:
        return int(now.timestamp()) // self.seconds

    def reopens_at(self, now: datetime) -> datetime:
        """When the current window ends and the number may receive SMS again."""
        return datetime.fromtimestamp((self.bucket(now) + 1) * self.seconds, UTC)


def sms_windows(per_minute: int, per_hour: int, per_day: int) -> list[SmsWindow]:
    """Aliyun's default flow control per number is 1/min, 5/h, 10/day; ours sits in front."""
    return [
        SmsWindow("minute", 60, per_minute),
        SmsWindow("hour", 3600, per_hour),
        SmsWindow("day", 86400, per_day),
    ]
