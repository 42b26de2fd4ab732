"""Comms loop: sends scheduled notices, opens and closes polls when their time comes."""

from __future__ import annotations

import asyncio
from contextlib import suppress
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from server.actions.notices import send_due_notices
from server.actions.polls import close_due_polls, open_due_polls
from server.services import Services

POLL_S = 5.0  # a notice scheduled for 09:00 goes out by 09:00:05


async def comms_once(services: Services, now: datetime | None = None) -> int:
    """One pass; returns how many notices and polls changed state."""
    now = now or datetime.now(UTC)
    tz = ZoneInfo(services.settings.tz_name)
    return (
        await send_due_notices(now) + await open_due_polls(now, tz) + await close_due_polls(now, tz)
    )


async def comms_loop(services: Services, stop: asyncio.Event) -> None:
    while not stop.is_set():
        if not await comms_once(services):
            with suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), POLL_S)
