"""Shared pieces of the notification tests: pinned clocks, recipients, draining the outbox."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from server.actions.notify import Recipient
from server.workers.outbox import relay_once
from templates_msg import catalog

NOON = datetime(2026, 11, 27, 4, 0, tzinfo=UTC)  # 12:00 in Asia/Shanghai: outside quiet hours
NIGHT = datetime(2026, 11, 27, 15, 30, tzinfo=UTC)  # 23:30 in Asia/Shanghai: quiet hours
MORNING = datetime(2026, 11, 27, 23, 0, tzinfo=UTC)  # 07:00 the next day in Asia/Shanghai


def daytime() -> datetime:
    """A relay time outside quiet hours (22:00-07:00), when non-urgent messages go out too:
    tomorrow noon in Asia/Shanghai, so anything queued now is due by then."""
    tz = ZoneInfo("Asia/Shanghai")
    day = datetime.now(tz).date() + timedelta(days=1)
    return datetime.combine(day, time(12, 0), tzinfo=tz).astimezone(UTC)


STAFF = Recipient("staff", 1, "o_staff_1", "13600000001")
RESIDENT = Recipient("resident", 2, "o_res_2", "13800002222", "m_res_2")
NO_WECHAT = Recipient("staff", 3, "", "13600000003")


def values(kind: str, **changes: Any) -> dict[str, Any]:
    """The catalog's example values for `kind` (every variable its entry needs)."""
    return {**catalog()[kind]["example"], **changes}


async def drain(services: Any, now: datetime, *, rounds: int = 20) -> None:
    """Relay until nothing is due at `now` (a few passes for fallbacks and receipts)."""
    for _ in range(rounds):
        if not await relay_once(services, now=now):
            return


def later(now: datetime, seconds: float) -> datetime:
    return now + timedelta(seconds=seconds)
