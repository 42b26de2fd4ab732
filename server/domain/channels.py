"""Which channels may carry a message to a person, in the order to try them (DESIGN.md)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

CUSTOMER_SERVICE_WINDOW = timedelta(hours=48)  # WeChat: 45015 outside 48 h of the user's last message
MAX_ATTEMPTS = 8


@dataclass(frozen=True)
class Reach:
    """What we know about reaching one person."""

    openid: str
    follows: bool | None  # None = unknown (staff from the roster): try and let WeChat say 43004
    last_inbound_at: datetime | None
    phone: str


def channel_order(reach: Reach, now: datetime, *, has_template: bool, has_sms: bool) -> list[str]:
    """custom (inside 48 h) -> template (follower) -> sms (kind allows it and a phone is known)."""
    order: list[str] = []
    if reach.openid and reach.follows is not False:
        inside = reach.last_inbound_at is not None and now - reach.last_inbound_at < CUSTOMER_SERVICE_WINDOW
        if inside:
            order.append("custom")
        if has_template:
            order.append("template")
    if has_sms and reach.phone:
        order.append("sms")
    return order


def retry_delay_s(attempt: int, rng: random.Random | None = None) -> float:
    """Exponential back-off with full jitter: 5 s, 10 s, 20 s ... capped at 15 min."""
    base = min(5 * 2 ** max(attempt - 1, 0), 900)
    return (rng or random).uniform(base / 2, base)
