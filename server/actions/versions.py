"""Process versions in use, and moving running tasks to another version while work goes on.

A migration validates its whole plan first (every running state has a place, the clock rule is
known) and moves nothing if anything is wrong. Then it moves the tasks in batches, each task in
its own short transaction that locks the task row (`SELECT ... FOR UPDATE`) exactly as every
transition does (server/actions/tasks.fire): a transition racing the migration waits for the
row and then runs on whichever version the task is on by then, so none of them fails
(DESIGN.md, "Process engine"; article 8). Each moved task gets a `migrate` event.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from tortoise.transactions import in_transaction

from server.actions import clocks
from server.actions.tasks import (
    Actor,
    TaskRefused,
    current_definitions,
    current_version,
    definition_of,
)
from server.db.tasks import ProcessVersion, Task, TaskClock, TaskEvent, Timer
from server.domain import sla
from server.domain.process import ProcessDefinition, open_states
from server.domain.versions import (
    CLOCK_RULES,
    MigrationError,
    clock_changes,
    clocks_untouched,
    plan_states,
    unknown_map_keys,
)

MIGRATION_ACTOR = Actor("system", None, "migrate-tasks", "system")
_EVENT_DATA = TaskEvent._meta.fields_map["data"]  # encodes JSON the way the ORM stores it


@cache
def _statements(dialect: str) -> tuple[str, str]:
    """The two statements of a move, with the driver's placeholders.

    Raw SQL because building them through the ORM cost more CPU than running them (as for the
    webhook's dedupe marks, docs/bot.md): 10,000 moves must fit in seconds (tests/bench).
    """

    def mark(i: int) -> str:
        return f"${i}" if dialect == "postgres" else "?"

    update = (
        f"UPDATE tasks SET process_id={mark(1)}, state={mark(2)}, updated_at={mark(3)} "
        f"WHERE id={mark(4)} AND process_id={mark(5)} AND state={mark(6)}"
    )
    columns = (
        "task_id",
        "action",
        "from_state",
        "to_state",
        "actor_kind",
        "actor_id",
        "actor_name",
        "note",
        "photo_ids",
        "data",
        "at",
    )
    values = ", ".join(mark(i) for i in range(1, len(columns) + 1))
    insert = f"INSERT INTO task_events ({', '.join(columns)}) VALUES ({values})"
    return update, insert


_MIRRORED = ("respond", "arrive", "resolve")  # clocks whose deadline is also on the task row


@dataclass
class MigrationReport:
    """What a migration did: how many tasks moved from which version, and how long it took."""

    kind: str
    to_version: str
    clocks: str
    moved: int = 0
    skipped: int = 0  # closed or moved by someone else between listing and locking
    from_versions: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "to_version": self.to_version,
            "clocks": self.clocks,
            "moved": self.moved,
            "skipped": self.skipped,
            "from_versions": self.from_versions,
            "seconds": round(self.seconds, 3),
        }


async def process_versions() -> list[dict[str, Any]]:
    """Every kind with its versions: which one new tasks take, how many tasks run on each."""
    kinds: dict[str, dict[str, Any]] = {}
    for kind, defn in sorted(current_definitions().items()):
        kinds[kind] = {"kind": kind, "current_version": defn.version, "versions": []}
    for row in await ProcessVersion.all().order_by("kind", "id"):
        entry = kinds.setdefault(
            row.kind, {"kind": row.kind, "current_version": None, "versions": []}
        )
        defn = definition_of(row)
        running = await Task.filter(process_id=row.id, state__in=sorted(open_states(defn))).count()
        entry["versions"].append(
            {
                "version": row.version,
                "created_at": row.created_at.isoformat(),
                "current": row.version == entry["current_version"],
                "running": running,
            }
        )
    return list(kinds.values())


async def _target(kind: str, to_version: str) -> tuple[ProcessDefinition, ProcessVersion]:
    if to_version == "latest":
        try:
            return await current_version(kind)
        except TaskRefused:
            raise MigrationError([f"no process kind {kind!r}"]) from None
    current = current_definitions().get(kind)
    if current is not None and current.version == to_version:
        return await current_version(kind)
    row = await ProcessVersion.get_or_none(kind=kind, version=to_version)
    if row is None:
        raise MigrationError([f"{kind} has no version {to_version!r} (see GET /api/v1/processes)"])
    return definition_of(row), row


async def migrate_tasks(
    kind: str,
    to_version: str,
    mapping: Mapping[str, str],
    clock_rule: str,
    *,
    tz: ZoneInfo,
    actor: Actor = MIGRATION_ACTOR,
    from_versions: Collection[str] = (),
    batch: int = 500,
    concurrency: int = 8,
    clock: Callable[[], datetime],
    progress: Callable[[MigrationReport], Awaitable[None] | None] | None = None,
) -> MigrationReport:
    """Move every running `kind` task not on `to_version` (or only those on `from_versions`).

    `clock` gives the time of each task's move (its event and, with rule restart, its clocks);
    `concurrency` tasks move at once, each in its own transaction. MigrationError (nothing
    moved) when the plan has a problem.
    """
    started = time.perf_counter()
    if clock_rule not in CLOCK_RULES:
        raise MigrationError([f"clocks must be keep or restart, got {clock_rule!r}"])
    new, target = await _target(kind, to_version)
    sources = [
        row
        for row in await ProcessVersion.filter(kind=kind).order_by("id")
        if row.id != target.id and (not from_versions or row.version in from_versions)
    ]
    missing = sorted(set(from_versions) - {row.version for row in sources})
    problems = [f"{kind} has no other version {v!r}" for v in missing]
    plans: dict[int, dict[str, str]] = {}
    olds = {row.id: definition_of(row) for row in sources}
    for row in sources:
        plan, found = plan_states(olds[row.id], new, mapping)
        if (
            found
            and await Task.filter(
                process_id=row.id, state__in=sorted(open_states(olds[row.id]))
            ).exists()
        ):
            problems.extend(found)  # only versions with running work must map every state
        plans[row.id] = plan
    problems.extend(unknown_map_keys(list(olds.values()), mapping))
    if problems:
        raise MigrationError(problems)

    report = MigrationReport(kind=kind, to_version=new.version, clocks=clock_rule)
    gate = asyncio.Semaphore(max(1, concurrency))

    async def move(task_id: int, state: str, row: ProcessVersion) -> None:
        async with gate:
            moved = await _move_one(
                task_id,
                state,
                row.id,
                olds[row.id],
                plans[row.id],
                new,
                target,
                clock_rule,
                actor,
                clock(),
                tz,
            )
        if moved:
            report.moved += 1
            report.from_versions[row.version] = report.from_versions.get(row.version, 0) + 1
        else:
            report.skipped += 1

    for row in sources:
        last_id = 0
        states = sorted(plans[row.id])
        while True:
            listed = (
                await Task.filter(process_id=row.id, state__in=states, id__gt=last_id)
                .order_by("id")
                .limit(batch)
                .values_list("id", "state")
            )
            if not listed:
                break
            last_id = listed[-1][0]
            await asyncio.gather(*(move(task_id, state, row) for task_id, state in listed))
            if progress is not None:
                result = progress(report)
                if result is not None:
                    await result
    report.seconds = time.perf_counter() - started
    return report


async def _move_one(
    task_id: int,
    listed_state: str,
    source_id: int,
    old: ProcessDefinition,
    plan: Mapping[str, str],
    new: ProcessDefinition,
    target: ProcessVersion,
    clock_rule: str,
    actor: Actor,
    now: datetime,
    tz: ZoneInfo,
) -> bool:
    """One task, one short transaction; False when it is no longer one to move.

    The UPDATE names the version and state the task was listed in, so it takes the row lock
    and changes the row only if nobody moved the task meanwhile (a transition holding the lock
    makes it wait; PostgreSQL then checks the condition against the committed row). If the
    task did move on, it is read again under the lock (SELECT ... FOR UPDATE) and mapped from
    where it is now.
    """
    async with in_transaction() as conn:
        update, insert = _statements(conn.capabilities.dialect)
        before = listed_state
        at = now.astimezone(UTC)
        moved, _ = await conn.execute_query(
            update, [target.id, plan[before], at, task_id, source_id, before]
        )
        if not moved:
            task = await Task.filter(id=task_id).select_for_update().first()
            # closed meanwhile, or moved by another migration: not ours to move any more
            if task is None or task.process_id != source_id or task.state not in plan:
                return False
            before = task.state
            await conn.execute_query(
                update, [target.id, plan[before], at, task_id, source_id, before]
            )
        after = plan[before]
        data = _EVENT_DATA.to_db_value(
            {"from_version": old.version, "to_version": new.version, "clocks": clock_rule},
            TaskEvent,
        )
        await conn.execute_query(
            insert,
            [
                task_id,
                "migrate",
                before,
                after,
                actor.kind,
                actor.id,
                actor.name,
                "",
                "[]",
                data,
                at,
            ],
        )
        if not clocks_untouched(old, new, before, after, clock_rule):
            task = await Task.get(id=task_id)
            await _carry_clocks(task, old, new, before, after, clock_rule, now, tz)
    return True


async def _carry_clocks(
    task: Task,
    old: ProcessDefinition,
    new: ProcessDefinition,
    before: str,
    after: str,
    clock_rule: str,
    now: datetime,
    tz: ZoneInfo,
) -> None:
    """Apply clock_changes with the clock machinery of server/actions/clocks.py."""
    running = {
        name: row
        for name, row in await TaskClock.filter(task_id=task.id, stopped_at=None).values_list(
            "name", "id"
        )
    }
    changes = clock_changes(old, new, after, running, clock_rule)
    if not changes.nothing:
        await _apply_clock_changes(task, old, new, changes, now, tz)
    if before == "completed" and after != "completed":
        await Timer.filter(task_id=task.id, name=clocks.RATING_TIMER, fired_at=None).update(
            cancelled=True
        )
    elif after == "completed" and before != "completed":
        await clocks.schedule(task, clocks.RATING_TIMER, sla.rating_closes_at(new, now))


async def _apply_clock_changes(
    task: Task,
    old: ProcessDefinition,
    new: ProcessDefinition,
    changes: Any,
    now: datetime,
    tz: ZoneInfo,
) -> None:
    # clocks.py owns how clocks start, stop and are replanned (calendars, pauses, escalation
    # levels); the migration only says which.
    book = clocks.book_for(tz)
    old_specs = {spec.name: spec for spec in old.clocks}
    new_specs = {spec.name: spec for spec in new.clocks}
    if changes.stop:
        stopping = [old_specs.get(name) or new_specs[name] for name in sorted(changes.stop)]
        await clocks.stop_clocks(task, stopping, now)
    rows = {r.name: r for r in await TaskClock.filter(task_id=task.id)}
    deadlines: dict[str, datetime | None] = {}
    fresh = [new_specs[name] for name in sorted(changes.restart | changes.start)]
    if fresh:
        deadlines.update(await clocks.start_clocks(task, fresh, rows, now, book))
    for name in sorted(changes.replan):
        if rows[name].paused_at is not None:
            continue  # resuming plans its timers from the version the task is on by then
        gone = (
            set(clocks.timer_names(old_specs[name])) - set(clocks.timer_names(new_specs[name]))
            if name in old_specs
            else set()
        )
        if gone:
            await Timer.filter(task_id=task.id, name__in=sorted(gone), fired_at=None).update(
                cancelled=True
            )
        deadlines[name] = await clocks.replan_clock(task, new_specs[name], rows[name], book)
    mirrored = [name for name in deadlines if name in _MIRRORED]
    for name in mirrored:
        setattr(task, f"{name}_by", deadlines[name])
    if mirrored:
        await task.save(update_fields=[f"{name}_by" for name in mirrored])
