"""SLA timers: durable rows, fired once each, by any number of workers, surviving a kill -9."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from server.actions.tasks import create_task
from server.db.outbox import OutboxMessage
from server.db.tasks import Task, TaskEvent, Timer
from server.settings import ROOT
from server.workers.outbox import relay_once
from server.workers.timers import run_due_timers
from tests.support.seed import seed_estate

TZ = ZoneInfo("Asia/Shanghai")


async def new_task(estate, urgency="normal") -> Task:
    return await create_task(community=estate.a, category="water", source="console",
                             now=datetime.now(UTC), tz=TZ, urgency=urgency, room=estate.room_a,
                             description="漏水")


async def breaches(task: Task, clock: str) -> int:
    events = await TaskEvent.filter(task_id=task.id, action="sla_breach")
    return sum(1 for e in events if e.data["clock"] == clock)


async def test_timers_are_planned_from_the_definition(services):
    estate = await seed_estate()
    task = await new_task(estate, urgency="urgent")
    names = set(await Timer.filter(task_id=task.id).values_list("name", flat=True))
    assert names == {f"{c}.{k}" for c in ("respond", "arrive", "resolve") for k in ("warn", "breach")}
    assert task.arrive_by - task.created_at == timedelta(minutes=30)


async def test_breach_fires_once_and_tells_handler_and_lead(services, wechat_calls):
    estate = await seed_estate()
    task = await new_task(estate)
    later = datetime.now(UTC) + timedelta(hours=2, minutes=1)  # respond (2 h) has run out
    await run_due_timers(services, now=later)
    await run_due_timers(services, now=later + timedelta(minutes=5))
    assert (await breaches(task, "respond"), await breaches(task, "arrive")) == (1, 0)
    await relay_once(services, now=later)
    breached = [c["openid"] for c in wechat_calls.calls(kind="template")
                if c["payload"]["template_id"] == "tmpl_task_breached"]
    assert sorted(breached) == ["o_lead_a", "o_staff_a"]


async def test_stopped_clock_does_not_fire(services):
    from server.actions.tasks import Actor, Move, fire

    estate = await seed_estate()
    task = await new_task(estate)
    await fire(task.ref, "accept", Actor.of_staff(estate.staff_a), Move(),
               now=datetime.now(UTC), tz=TZ)
    await run_due_timers(services, now=datetime.now(UTC) + timedelta(hours=3))
    assert await breaches(task, "respond") == 0


async def test_late_timer_catches_up_after_downtime(services):
    estate = await seed_estate()
    task = await new_task(estate)
    await run_due_timers(services, now=datetime.now(UTC) + timedelta(days=10))
    assert [await breaches(task, c) for c in ("respond", "arrive", "resolve")] == [1, 1, 1]


async def test_concurrent_runners_fire_each_timer_once(services):
    estate = await seed_estate()
    tasks = [await new_task(estate) for _ in range(5)]
    later = datetime.now(UTC) + timedelta(days=4)
    await asyncio.gather(*(run_due_timers(services, now=later, batch=4) for _ in range(4)))
    while await run_due_timers(services, now=later):
        pass
    for task in tasks:
        assert await TaskEvent.filter(task_id=task.id, action="sla_breach").count() == 3
    assert await OutboxMessage.filter(kind="task_breached").count() == 5 * 3 * 2


def start_worker(settings) -> subprocess.Popen:
    env = dict(os.environ, DATABASE_URL=settings.database_url, REDIS_URL=settings.redis_url,
               WECHAT_API_BASE=settings.wechat_api_base, SMS_ENDPOINT=settings.sms_endpoint)
    return subprocess.Popen([sys.executable, "-m", "server", "worker"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


async def wait_for(predicate, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if await predicate():
            return
        await asyncio.sleep(0.1)
    raise AssertionError("condition not reached")


async def test_worker_killed_mid_way_still_fires_arrive_breach_exactly_once(settings, services):
    estate = await seed_estate()
    task = await new_task(estate)
    # A first worker claimed the breach and was killed -9 before firing: its lease remains.
    past = datetime.now(UTC) - timedelta(seconds=1)
    await Timer.filter(task_id=task.id, name="arrive.breach").update(
        due_at=past, lock_owner="dead-worker:1", lock_expires_at=past)
    first = start_worker(settings)
    await wait_for(lambda: breaches_nonzero(task))
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    second = start_worker(settings)
    try:
        await asyncio.sleep(1.5)  # the restarted worker gets time to (wrongly) fire it again
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(10)
    assert await breaches(task, "arrive") == 1
    timer = await Timer.get(task_id=task.id, name="arrive.breach")
    assert timer.fired_at is not None


async def breaches_nonzero(task: Task) -> bool:
    return await breaches(task, "arrive") > 0
