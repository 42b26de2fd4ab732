"""Store the events gateways upload (decisions, plates seen, command results, fire signals).

A gateway resends a batch until the server confirms it, so the same event may arrive twice,
and with several workers subscribed, at two workers at once: `event_id` is unique and a
repeated one is skipped by the database, not by a read-then-write race.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from server.db.access import AccessEvent
from server.db.estate import Community

_COLUMNS = ("device_id", "request_id", "credential_type", "credential", "mode", "reason")
_KNOWN = {"event_id", "kind", "at", "allow", *_COLUMNS}


async def ingest_events(community_code: str, gateway_id: str, events: list[dict[str, Any]]) -> int:
    """Store checked events (hardware_gateway.messages.parse_event_batch); returns how many.

    Returns 0 for an unknown community: the batch is confirmed anyway so a gateway pointed at
    the wrong estate does not resend forever (its events are in its own log).
    """
    community = await Community.get_or_none(code=community_code)
    if community is None or not events:
        return 0
    rows = [
        AccessEvent(
            event_id=event["event_id"],
            community_id=community.id,
            gateway_id=gateway_id,
            kind=event["kind"],
            at=datetime.fromtimestamp(float(event["at"]), UTC),
            allow=event.get("allow"),
            detail={k: v for k, v in event.items() if k not in _KNOWN},
            **{column: str(event.get(column) or "") for column in _COLUMNS},
        )
        for event in events
    ]
    await AccessEvent.bulk_create(rows, ignore_conflicts=True)
    return len(rows)
