"""Per-number SMS limits, enforced before Aliyun's own flow control; no retry storm."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from server.actions.notify import enqueue
from server.db.outbox import OutboxMessage
from server.workers.outbox import relay_once
from tests.support.notify import NO_WECHAT, NOON, later, values


async def sms(services, key: str, now: datetime) -> OutboxMessage:  # type: ignore[no-untyped-def]
    await enqueue("breach_warning", NO_WECHAT, values("breach_warning"), key=key, now=now)
    await relay_once(services, now=now)
    return await OutboxMessage.get(idempotency_key=key)


async def test_second_sms_within_a_minute_waits_for_the_next_minute(services, wechat_calls):
    first = await sms(services, "a", NOON)
    second = await sms(services, "b", later(NOON, 10))
    assert (first.status, second.status) == ("sent", "pending")
    assert second.next_attempt_at >= datetime(2026, 11, 27, 4, 1, tzinfo=UTC)
    assert "1 SMS per minute" in second.last_error
    await relay_once(services, now=later(NOON, 75))
    assert (await OutboxMessage.get(idempotency_key="b")).status == "sent"
    assert len(wechat_calls.sms_calls()) == 2


async def test_business_limit_control_fails_and_stops_asking_aliyun(services, wechat_calls):
    wechat_calls.sms_fail_next("isv.BUSINESS_LIMIT_CONTROL")
    first = await sms(services, "a", NOON)
    assert (first.status, first.attempts) == ("failed", 0)
    assert "isv.BUSINESS_LIMIT_CONTROL" in first.last_error
    second = await sms(services, "b", later(NOON, 600))  # another message, ten minutes later
    assert second.status == "failed"
    assert len(wechat_calls.sms_requests) == 1  # Aliyun was asked once, not again
    assert wechat_calls.sms_calls() == []


async def test_over_the_day_limit_the_sms_channel_refuses(services, settings, wechat_calls):
    services.settings = settings.with_(
        notify=replace(settings.notify, sms_per_minute=0, sms_per_hour=0, sms_per_day=2)
    )
    statuses = [(await sms(services, f"k{i}", later(NOON, i))).status for i in range(3)]
    assert statuses == ["sent", "sent", "failed"]
    assert len(wechat_calls.sms_calls()) == 2


async def test_limit_counters_live_under_the_settings_prefix(services, settings):
    async def counters() -> set[str]:  # on a shared Redis, other runs' keys may be there too
        return {key async for key in services.redis.scan_iter(f"*sms:{NO_WECHAT.phone}*")}

    before = await counters()
    await sms(services, "a", NOON)
    new = await counters() - before
    assert new
    assert all(key.startswith(settings.redis_prefix) for key in new)
