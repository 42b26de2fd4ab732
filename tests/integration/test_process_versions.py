"""Changing a process while it runs (article 8): versions in use, and migrating running tasks
(API and command) with a state map and a clock rule, while transitions go on."""

from __future__ import annotations

import asyncio
import copy
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from tortoise.transactions import in_transaction

from server.actions.tasks import Actor, Move, create_task, current_definitions, fire, get_task
from server.actions.versions import migrate_tasks
from server.db.tasks import ProcessVersion, Task, TaskClock, TaskEvent
from server.domain.process import definition_version, load_definition
from tests.support.seed import Estate, bearer, seed_estate, seed_supervision, token_for

ROOT = Path(__file__).resolve().parents[2]
TZ = ZoneInfo("Asia/Shanghai")
INSIDE = Move(lat=30.2891, lng=120.1212, accuracy_m=15)


def renamed(raw: dict[str, Any], old: str, new: str) -> dict[str, Any]:
    """The definition with state `old` called `new` everywhere."""
    text = json.dumps(raw, ensure_ascii=False)
    return json.loads(text.replace(f'"{old}"', f'"{new}"'))


async def stored_version(raw: dict[str, Any]) -> ProcessVersion:
    """A version deployed somewhere (stored as tasks would store it), not the file's."""
    load_definition(raw)  # it must be a valid definition
    return await ProcessVersion.create(
        kind=raw["kind"], version=definition_version(raw), definition=raw
    )


def repair_raw() -> dict[str, Any]:
    return copy.deepcopy(dict(current_definitions()["repair"].raw))


async def repairs(estate: Estate, count: int, now: datetime) -> list[str]:
    refs = []
    for _ in range(count):
        task = await create_task(
            community=estate.a,
            category="water",
            source="console",
            now=now,
            tz=TZ,
            room=estate.room_a,
            description="卫生间漏水",
        )
        refs.append(task.ref)
    return refs


async def test_versions_list_counts_running_tasks(app, settings):
    estate = await seed_estate()
    sup = await seed_supervision(estate)
    now = datetime.now(UTC)
    refs = await repairs(estate, 3, now)
    await fire(refs[0], "cancel", Actor.of_staff(estate.lead_a), Move(), now=now, tz=TZ)
    _, response = await app.asgi_client.get(
        "/api/v1/processes", headers=bearer(token_for(settings, "staff", sup.manager.id))
    )
    kinds = {k["kind"]: k for k in response.json["items"]}
    assert set(kinds) >= {"repair", "complaint", "instruction", "contractor_job"}
    [version] = kinds["repair"]["versions"]
    assert version == {
        "version": current_definitions()["repair"].version,
        "current": True,
        "running": 2,
        "created_at": version["created_at"],
    }


async def test_migration_moves_running_tasks_and_they_carry_on(app, settings):
    estate = await seed_estate()
    sup = await seed_supervision(estate)
    now = datetime.now(UTC)
    refs = await repairs(estate, 3, now)
    staff = Actor.of_staff(estate.staff_a)
    await fire(refs[0], "accept", staff, Move(), now=now, tz=TZ)
    await fire(refs[0], "check_in", staff, INSIDE, now=now, tz=TZ)
    await fire(refs[2], "cancel", Actor.of_staff(estate.lead_a), Move(), now=now, tz=TZ)
    target = await stored_version(renamed(repair_raw(), "on_site", "working"))

    _, response = await app.asgi_client.post(
        "/api/v1/processes/repair/migrate",
        json={"to_version": target.version, "map": {"on_site": "working"}, "clocks": "keep"},
        headers=bearer(token_for(settings, "staff", sup.manager.id)),
    )

    assert response.status == 200, response.json
    assert (response.json["moved"], response.json["to_version"]) == (2, target.version)
    first, second, cancelled = [await get_task(ref) for ref in refs]
    assert (first.state, first.process_id, second.process_id) == ("working", target.id, target.id)
    assert cancelled.process_id != target.id  # finished work stays where it finished
    event = await TaskEvent.get(task_id=first.id, action="migrate")
    assert (event.from_state, event.to_state, event.actor_name) == ("on_site", "working", "周总")
    assert event.data["to_version"] == target.version
    with_photo = Move(photo_ids=[], note="换了阀门")
    from server.actions.photos import store_photo
    from tests.support.chat import PNG

    photo = await store_photo(
        PNG,
        media_dir=settings.media_dir,
        uploaded_by_kind="staff",
        uploaded_by_id=estate.staff_a.id,
        now=now,
    )
    with_photo.photo_ids = [photo.id]
    done = await fire(first.ref, "complete", staff, with_photo, now=now, tz=TZ)
    assert done.state == "completed"


async def test_migration_with_an_unmapped_state_moves_nothing(app, settings):
    estate = await seed_estate()
    sup = await seed_supervision(estate)
    refs = await repairs(estate, 2, datetime.now(UTC))
    target = await stored_version(renamed(repair_raw(), "assigned", "dispatched"))
    _, response = await app.asgi_client.post(
        "/api/v1/processes/repair/migrate",
        json={"to_version": target.version, "clocks": "keep"},
        headers=bearer(token_for(settings, "staff", sup.manager.id)),
    )
    assert (response.status, response.json["error"]["code"]) == (400, "bad_migration")
    assert any("'assigned'" in p for p in response.json["error"]["problems"])
    assert [(await get_task(ref)).state for ref in refs] == ["assigned", "assigned"]
    assert not await TaskEvent.filter(action="migrate").exists()


async def test_only_managers_migrate(app, settings):
    estate = await seed_estate()
    _, response = await app.asgi_client.post(
        "/api/v1/processes/repair/migrate",
        json={"to_version": "latest", "clocks": "keep"},
        headers=bearer(token_for(settings, "staff", estate.lead_a.id)),
    )
    assert response.status == 403


async def test_keep_leaves_deadlines_and_restart_gives_full_time_again(app, settings):
    estate = await seed_estate()
    start = datetime.now(UTC) - timedelta(hours=1)
    kept, restarted = await repairs(estate, 2, start)
    before = (await get_task(kept)).respond_by
    raw = repair_raw()
    raw["description"] = "a new wording, same rules"
    target = await stored_version(raw)
    later = start + timedelta(hours=1)
    tz = ZoneInfo(settings.tz_name)
    await migrate_tasks(
        "repair",
        target.version,
        {},
        "keep",
        tz=tz,
        clock=lambda: later,
        from_versions=[current_definitions()["repair"].version],
    )
    assert (await get_task(kept)).respond_by == before
    raw["description"] = "another wording"
    again = await stored_version(raw)
    await migrate_tasks("repair", again.version, {}, "restart", tz=tz, clock=lambda: later)
    task = await get_task(restarted)
    clock = await TaskClock.get(task_id=task.id, name="respond")
    assert (clock.started_at, clock.duration_s) == (later, 2 * 3600)  # normal: 2 h, from now
    assert task.respond_by == clock.due_at


async def test_clock_the_new_version_drops_is_stopped(app, settings):
    estate = await seed_estate()
    [ref] = await repairs(estate, 1, datetime.now(UTC))
    raw = repair_raw()
    raw["clocks"] = [c for c in raw["clocks"] if c["name"] != "arrive"]
    target = await stored_version(raw)
    await migrate_tasks(
        "repair", target.version, {}, "keep", tz=TZ, clock=lambda: datetime.now(UTC)
    )
    task = await get_task(ref)
    assert (await TaskClock.get(task_id=task.id, name="arrive")).stopped_at is not None
    assert (await TaskClock.get(task_id=task.id, name="respond")).stopped_at is None


async def test_transitions_racing_a_migration_all_succeed(app, settings):
    estate = await seed_estate()
    now = datetime.now(UTC)
    refs = await repairs(estate, 40, now)
    raw = repair_raw()
    raw["description"] = "deployed under load"
    target = await stored_version(raw)
    staff = Actor.of_staff(estate.staff_a)

    async def work(ref: str) -> str:
        task = await fire(ref, "accept", staff, Move(), now=now, tz=TZ)
        return task.state

    results = await asyncio.gather(
        migrate_tasks(
            "repair", target.version, {}, "keep", tz=TZ, clock=lambda: now, batch=7, concurrency=4
        ),
        *(work(ref) for ref in refs),
        return_exceptions=True,
    )
    failures = [r for r in results if isinstance(r, BaseException)]
    assert failures == []
    assert results[1:] == ["accepted"] * len(refs)
    assert await Task.filter(process_id=target.id, state="accepted").count() == len(refs)


async def test_a_transition_waiting_on_a_migrating_task_runs_on_the_new_version(app, settings):
    """The accept waits for the migration's row lock, then reads the version the task moved to
    (on PostgreSQL a locked read that joined the version row came back without one)."""
    estate = await seed_estate()
    now = datetime.now(UTC)
    [ref] = await repairs(estate, 1, now)
    raw = repair_raw()
    raw["description"] = "deployed while a transition waits"
    target = await stored_version(raw)
    task = await get_task(ref)
    locked, release = asyncio.Event(), asyncio.Event()

    async def migration() -> None:
        async with in_transaction():
            await Task.filter(id=task.id).update(process_id=target.id)
            locked.set()
            await release.wait()

    migrating = asyncio.create_task(migration())
    await locked.wait()
    staff = Actor.of_staff(estate.staff_a)
    waiting = asyncio.create_task(fire(ref, "accept", staff, Move(), now=now, tz=TZ))
    await asyncio.sleep(0.3)
    assert not waiting.done()  # held by the migration's lock
    release.set()
    await migrating
    accepted = await waiting
    assert (accepted.state, accepted.process_id) == ("accepted", target.id)


async def test_migrate_tasks_command(app, settings, database_url):
    estate = await seed_estate()
    await repairs(estate, 2, datetime.now(UTC))
    target = await stored_version(renamed(repair_raw(), "reopened", "reworking"))
    env = {**os.environ, "DATABASE_URL": database_url}
    result = await asyncio.to_thread(
        subprocess.run,
        [
            sys.executable,
            "-m",
            "server",
            "migrate-tasks",
            "--kind",
            "repair",
            "--to-version",
            target.version,
            "--map",
            "reopened:reworking",
            "--clocks",
            "keep",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["moved"] == 2
    assert await Task.filter(process_id=target.id).count() == 2


async def test_migrate_tasks_command_names_the_problem(app, settings, database_url):
    env = {**os.environ, "DATABASE_URL": database_url}
    result = await asyncio.to_thread(
        subprocess.run,
        [
            sys.executable,
            "-m",
            "server",
            "migrate-tasks",
            "--kind",
            "repair",
            "--to-version",
            "latest",
            "--map",
            "nowhere",
            "--clocks",
            "keep",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "old_state:new_state" in result.stderr
