"""SLA timers: durable rows, fired once each by any number of workers (surviving a kill -9),
on business calendars, paused while a task is held, escalating handler -> lead -> assessment."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from server.actions import tasks as task_actions
from server.actions.clocks import enter_state, set_deadline
from server.actions.tasks import Actor, Move, create_task, fire
from server.db.outbox import OutboxMessage
from server.db.people import Department, Staff
from server.db.tasks import Task, TaskClock, TaskEvent, Timer
from server.domain.process import load_definition
from server.settings import ROOT
from server.workers.outbox import relay_once
from server.workers.timers import run_due_timers
from tests.support.seed import seed_estate

TZ = ZoneInfo("Asia/Shanghai")
H = timedelta(hours=1)
MIN = timedelta(minutes=1)


def at(text: str) -> datetime:
    """Shanghai wall time, aware (2026-03-02 is a Monday, an ordinary working day)."""
    return datetime.fromisoformat(text).replace(tzinfo=TZ)


MONDAY_9 = at("2026-03-02 09:00")


async def new_task(estate, urgency="normal", now=MONDAY_9, created_by=None) -> Task:
    return await create_task(
        community=estate.a,
        category="water",
        source="console",
        now=now,
        tz=TZ,
        urgency=urgency,
        room=estate.room_a,
        description="漏水",
        created_by=created_by,
    )


async def clock_events(task: Task, clock: str, action: str = "sla_breach") -> int:
    events = await TaskEvent.filter(task_id=task.id, action=action)
    return sum(1 for e in events if e.data["clock"] == clock)


async def told(kind: str, task: Task) -> set[int]:
    rows = await OutboxMessage.filter(kind=kind, subject=f"task:{task.ref}")
    return {r.recipient_id for r in rows}


async def run_all(services, now: datetime) -> None:
    while await run_due_timers(services, now=now):
        pass


async def test_timers_are_planned_from_the_definition(services):
    estate = await seed_estate()
    task = await new_task(estate, urgency="urgent")
    names = set(await Timer.filter(task_id=task.id).values_list("name", flat=True))
    assert names == {
        f"{c}.{k}"
        for c in ("respond", "arrive", "resolve")
        for k in ("warn", "breach", "escalate2", "escalate3")
    }
    assert task.arrive_by - task.created_at == timedelta(minutes=30)


async def test_normal_clocks_count_office_hours_only(services):
    estate = await seed_estate()
    task = await new_task(estate, now=at("2026-03-06 16:00"))  # a Friday
    # 1.5 working hours on Friday, the other 0.5 on Monday morning
    assert task.respond_by == at("2026-03-09 09:00")
    clock = await TaskClock.get(task_id=task.id, name="respond")
    assert (clock.calendar, clock.duration_s, clock.started_at) == (
        "office",
        7200,
        at("2026-03-06 16:00"),
    )


async def test_clocks_skip_the_national_day_holiday(services):
    estate = await seed_estate()
    task = await new_task(estate, now=at("2026-09-30 16:00"))
    assert task.respond_by == at("2026-10-08 09:00")


async def test_urgent_clocks_run_through_the_night(services):
    estate = await seed_estate()
    task = await new_task(estate, urgency="urgent", now=at("2026-10-03 23:00"))
    assert task.respond_by == at("2026-10-03 23:15")


async def test_warning_goes_to_the_handler_before_the_breach(services):
    estate = await seed_estate()
    task = await new_task(estate)
    await run_all(services, at("2026-03-02 10:56"))  # respond warns at 10:55, breaches at 11:00
    assert await told("breach_warning", task) == {estate.staff_a.id}
    assert await clock_events(task, "respond") == 0


async def test_breach_tells_the_handler_only(services):
    estate = await seed_estate()
    task = await new_task(estate)
    await run_all(services, at("2026-03-02 11:01"))
    assert await clock_events(task, "respond") == 1
    assert await told("task_breached", task) == {estate.staff_a.id}
    assert await told("task_escalated", task) == set()


async def test_breach_message_reaches_the_handler_on_wechat(services, wechat_calls):
    estate = await seed_estate()
    task = await new_task(estate)
    await run_all(services, at("2026-03-02 11:01"))
    await relay_once(services, now=at("2026-03-02 11:01"))
    [call] = [
        c
        for c in wechat_calls.calls(kind="template", openid="o_staff_a")
        if c["payload"]["template_id"] == "tmpl_task_breached"
    ]
    assert call["payload"]["data"]["character_string1"]["value"] == task.ref


async def test_a_fixed_deadline_replans_the_clock(services):
    estate = await seed_estate()
    task = await new_task(estate)
    await task.fetch_related("process")
    defn = task_actions.definition_of(task.process)
    await set_deadline(task, defn, "resolve", at("2026-03-02 09:30"), TZ)  # 30 min, wall time
    timers = {t.name: t for t in await Timer.filter(task_id=task.id, name__startswith="resolve.")}
    assert timers["resolve.breach"].due_at == at("2026-03-02 09:30")
    assert timers["resolve.warn"].cancelled  # an hour's warning no longer fits
    assert (await Task.get(id=task.id)).resolve_by == at("2026-03-02 09:30")


async def add_assessor(estate) -> Staff:
    department = await Department.create(code="assessment", name="品质考核部", kind="internal")
    assessor = await Staff.create(
        employee_no="A001",
        name="罗斌",
        phone="13600000009",
        department=department,
        role="assessor",
        openid="o_assess",
    )
    await assessor.communities.add(estate.a)
    return assessor


async def test_escalation_reaches_the_lead_then_assessment_and_assigner(services):
    estate = await seed_estate()
    assessor = await add_assessor(estate)
    task = await new_task(estate, created_by=estate.manager_all)
    await run_all(services, at("2026-03-02 12:01"))  # respond breach 11:00, lead at 12:00
    assert await told("task_escalated", task) == {estate.lead_a.id}
    await run_all(services, at("2026-03-02 16:31"))  # 4 working hours after the breach
    assert await told("task_escalated", task) == {
        estate.lead_a.id,
        assessor.id,
        estate.manager_all.id,
    }
    clock = await TaskClock.get(task_id=task.id, name="respond")
    assert clock.level == 3


async def test_each_level_fires_once(services):
    estate = await seed_estate()
    await add_assessor(estate)
    task = await new_task(estate, created_by=estate.manager_all)
    later = at("2026-03-31 09:00")
    await run_all(services, later)
    await run_all(services, later + 5 * MIN)
    events = await TaskEvent.filter(
        task_id=task.id, action__in=["sla_warning", "sla_breach", "sla_escalation"]
    )
    fired = [(e.data["clock"], e.data["level"]) for e in events]
    assert sorted(fired) == sorted(
        (c, lvl) for c in ("respond", "arrive", "resolve") for lvl in (0, 1, 2, 3)
    )


async def test_stopped_clock_does_not_fire(services):
    estate = await seed_estate()
    task = await new_task(estate)
    await fire(
        task.ref, "accept", Actor.of_staff(estate.staff_a), Move(), now=MONDAY_9 + 10 * MIN, tz=TZ
    )
    await run_all(services, at("2026-03-02 17:00"))
    assert await clock_events(task, "respond") == 0
    assert (await TaskClock.get(task_id=task.id, name="respond")).stopped_at is not None


async def test_late_timer_catches_up_after_downtime(services):
    estate = await seed_estate()
    task = await new_task(estate)
    await run_all(services, MONDAY_9 + timedelta(days=30))
    assert [await clock_events(task, c) for c in ("respond", "arrive", "resolve")] == [1, 1, 1]


async def test_concurrent_runners_fire_each_timer_once(services):
    estate = await seed_estate()
    tasks = [await new_task(estate) for _ in range(5)]
    later = MONDAY_9 + timedelta(days=30)
    await asyncio.gather(*(run_due_timers(services, now=later, batch=4) for _ in range(4)))
    await run_all(services, later)
    for task in tasks:
        assert await TaskEvent.filter(task_id=task.id, action="sla_breach").count() == 3
    assert await OutboxMessage.filter(kind="task_breached").count() == 5 * 3


async def test_restarted_clock_fires_and_tells_again(services):
    estate = await seed_estate()
    task = await new_task(estate)
    await run_all(services, at("2026-03-02 11:01"))  # respond breached at 11:00
    await task.fetch_related("process")
    # reopened (article 3.2: an unsatisfied rating) restarts every clock the next morning
    await enter_state(
        task,
        task_actions.definition_of(task.process),
        "assigned",
        "reopened",
        at("2026-03-03 09:00"),
        TZ,
    )
    await run_all(services, at("2026-03-03 11:01"))
    assert await clock_events(task, "respond") == 2
    assert len(await OutboxMessage.filter(kind="task_breached", subject=f"task:{task.ref}")) == 2


# ---- pause and resume: a repair definition with a `held` state that pauses every clock


@pytest.fixture
def held_repair(monkeypatch):  # type: ignore[no-untyped-def]
    definitions = dict(task_actions.current_definitions())
    raw = dict(definitions["repair"].raw)
    raw["states"] = [*raw["states"], "held"]
    raw["transitions"] = [
        *raw["transitions"],
        {
            "name": "set_aside",
            "from": ["assigned", "accepted"],
            "to": "held",
            "actors": ["lead", "manager"],
        },
        {"name": "unhold", "from": ["held"], "to": "assigned", "actors": ["lead", "manager"]},
    ]
    raw["clocks"] = [{**clock, "paused_in": ["held"]} for clock in raw["clocks"]]
    definitions["repair"] = load_definition(raw)
    monkeypatch.setattr(task_actions, "current_definitions", lambda: definitions)


async def move(task: Task, estate, name: str, when: str) -> None:
    await fire(task.ref, name, Actor.of_staff(estate.lead_a), Move(), now=at(when), tz=TZ)


async def test_held_task_does_not_breach(services, held_repair):
    estate = await seed_estate()
    task = await new_task(estate)
    await move(task, estate, "set_aside", "2026-03-02 10:00")
    await run_all(services, at("2026-03-05 09:00"))
    assert await TaskEvent.filter(task_id=task.id, action__startswith="sla_").count() == 0
    task = await Task.get(id=task.id)
    assert task.respond_by is None  # unknown until it resumes


async def test_resume_moves_every_deadline_by_the_pause(services, held_repair):
    estate = await seed_estate()
    task = await new_task(estate)
    await move(task, estate, "set_aside", "2026-03-02 10:00")
    await move(task, estate, "unhold", "2026-03-03 10:00")  # one working day held
    task = await Task.get(id=task.id)
    assert task.respond_by == at("2026-03-03 11:00")  # was Monday 11:00
    assert task.arrive_by == at("2026-03-04 09:00")  # was Tuesday 09:00
    clock = await TaskClock.get(task_id=task.id, name="resolve")
    assert clock.pauses == [
        [
            at("2026-03-02 10:00").astimezone(UTC).isoformat(),
            at("2026-03-03 10:00").astimezone(UTC).isoformat(),
        ]
    ]
    breach = await Timer.get(task_id=task.id, name="arrive.breach")
    assert (breach.due_at, breach.cancelled) == (at("2026-03-04 09:00"), False)


async def test_fired_levels_stay_fired_after_a_pause(services, held_repair):
    estate = await seed_estate()
    task = await new_task(estate)
    await run_all(services, at("2026-03-02 11:01"))  # respond warned 10:55, breached 11:00
    await move(task, estate, "set_aside", "2026-03-02 11:30")
    await move(task, estate, "unhold", "2026-03-03 11:30")
    escalate = await Timer.get(task_id=task.id, name="respond.escalate2")
    assert escalate.due_at == at("2026-03-03 12:00")  # 0.5 h before the hold, 0.5 h after
    await run_all(services, at("2026-03-31 09:00"))
    assert await clock_events(task, "respond", "sla_warning") == 1
    assert await clock_events(task, "respond") == 1
    assert await clock_events(task, "respond", "sla_escalation") == 2


async def test_escalation_after_a_pause_waits_for_the_held_time(services, held_repair):
    estate = await seed_estate()
    task = await new_task(estate)
    await move(task, estate, "set_aside", "2026-03-02 09:30")
    await move(task, estate, "unhold", "2026-03-02 14:00")
    timers = {t.name: t.due_at for t in await Timer.filter(task_id=task.id, cancelled=False)}
    # respond: 0.5 h ran before the hold, 1.5 h from 14:00; the lead 1 working hour later
    assert (timers["respond.breach"], timers["respond.escalate2"]) == (
        at("2026-03-02 15:30"),
        at("2026-03-02 16:30"),
    )
    # arrive: 7 h left at 14:00: 3.5 h today, 3.5 h tomorrow; the lead 2 working hours later
    assert (timers["arrive.breach"], timers["arrive.escalate2"]) == (
        at("2026-03-03 12:00"),
        at("2026-03-03 15:30"),
    )


# ---- workers as processes


def start_worker(settings) -> subprocess.Popen:
    env = dict(
        os.environ,
        DATABASE_URL=settings.database_url,
        REDIS_URL=settings.redis_url,
        WECHAT_API_BASE=settings.wechat_api_base,
        SMS_ENDPOINT=settings.sms_endpoint,
    )
    return subprocess.Popen(
        [sys.executable, "-m", "server", "worker"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


async def wait_for(predicate, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if await predicate():
            return
        await asyncio.sleep(0.1)
    raise AssertionError("condition not reached")


async def test_worker_killed_mid_way_still_fires_arrive_breach_exactly_once(settings, services):
    estate = await seed_estate()
    task = await new_task(estate, now=datetime.now(UTC))
    # A first worker claimed the breach and was killed -9 before firing: its lease remains.
    past = datetime.now(UTC) - timedelta(seconds=1)
    await Timer.filter(task_id=task.id, name="arrive.breach").update(
        due_at=past, lock_owner="dead-worker:1", lock_expires_at=past
    )
    first = start_worker(settings)
    await wait_for(lambda: breaches_nonzero(task))
    first.send_signal(signal.SIGKILL)
    first.wait(60)
    second = start_worker(settings)
    try:
        await asyncio.sleep(1.5)  # the restarted worker gets time to (wrongly) fire it again
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(60)
    assert await clock_events(task, "arrive") == 1
    timer = await Timer.get(task_id=task.id, name="arrive.breach")
    assert timer.fired_at is not None


async def breaches_nonzero(task: Task) -> bool:
    return await clock_events(task, "arrive") > 0
