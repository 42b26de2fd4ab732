"""Retention loop: deletes expired export files and audit/download log rows past their periods
([governance] in config/default.toml). Safe to run in any number of workers: deletes are
idempotent and an export already purged is skipped."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime

from server.actions.exports import purge_expired
from server.services import Services

log = logging.getLogger("wuye.retention")


async def retention_loop(services: Services, stop: asyncio.Event) -> None:
    """Purge once at start, then every `retention_interval_s`."""
    governance = services.settings.governance
    while True:
        purged = await purge_expired(datetime.now(UTC), governance)
        if any(purged.values()):
            log.info("retention purged %s", purged)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), governance.retention_interval_s)
        if stop.is_set():
            return
