"""import-roster: load or update estate master data from the roster CSV files (CONTRACT.md).

Each file is checked row by row against the rules in server/domain/roster.py and against what
the database (and the files loaded before it) already hold; bad rows are reported as
`file:line: reason` and skipped, good rows are upserted by their natural key. A file is written
in ONE transaction after every row of it has been checked, so an unexpected database error
leaves nothing of that file behind. Importing the same files twice writes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from tortoise.models import Model
from tortoise.transactions import in_transaction

from server.db.estate import Building, Community, Device, Room, Unit
from server.db.fees import FeeRow
from server.db.governance import Facility, FacilityVersion
from server.db.people import Department, Resident, RoomBinding, Staff, Vehicle
from server.domain.changes import FACILITY_COLUMNS, SNAPSHOT_KEYS, parse_facility_row, snapshot
from server.domain.privacy import mask_phone
from server.domain.roster import (
    IMPORT_ORDER,
    ROSTER_COLUMNS,
    CsvRow,
    DepartmentRecord,
    ResidentRecord,
    RoomAddress,
    RowError,
    parse_community_row,
    parse_csv_text,
    parse_department_row,
    parse_device_row,
    parse_fee_row,
    parse_resident_row,
    parse_room_row,
    parse_staff_row,
)

logger = logging.getLogger(__name__)

# facilities.csv (issue 9) comes last: it refers to communities only.
FILE_COLUMNS: dict[str, tuple[str, ...]] = {**ROSTER_COLUMNS, "facilities.csv": FACILITY_COLUMNS}
FILE_ORDER: tuple[str, ...] = (*IMPORT_ORDER, "facilities.csv")

OUTCOMES = ("created", "updated", "unchanged", "rejected")
M = TypeVar("M", bound=Model)
Write = Callable[[], Awaitable[Any]]


@dataclass
class ImportReport:
    """What an import did: one problem per rejected row or skipped file, counts per file."""

    problems: list[str] = field(default_factory=list)
    counts: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def changed(self) -> int:
        """Rows created or updated, over all files: 0 when the files were already loaded."""
        return sum(c["created"] + c["updated"] for c in self.counts.values())

    @property
    def rejected(self) -> int:
        """Rows not loaded, over all files (including rows of skipped files)."""
        return sum(c["rejected"] for c in self.counts.values())


async def import_roster(directory: Path) -> ImportReport:
    """Load every roster file present in `directory`, in dependency order.

    Raises FileNotFoundError when `directory` is not a directory (the CLI exits with 2).
    """
    if not directory.is_dir():
        raise FileNotFoundError(f"roster directory not found: {directory}")
    report = ImportReport()
    for path in sorted(directory.glob("*.csv")):
        if path.name not in FILE_COLUMNS:
            # A misspelt file name would otherwise be ignored without a word.
            report.problems.append(
                f"{path.name}:1: unknown roster file, not loaded "
                f"(expected one of {', '.join(FILE_ORDER)})"
            )
    for name in FILE_ORDER:
        path = directory / name
        if path.is_file():
            await _import_file(path, report)
    return report


# ---------------------------------------------------------------------------------------------
# One file: read, check every row, then write the good ones in one transaction.


@dataclass
class _Step:
    """The writes planned for one accepted row; outcome None marks a follow-up of earlier rows."""

    line: int
    outcome: str | None
    writes: list[Write] = field(default_factory=list)


class _Run:
    """One file's import in progress: rejected rows and the line being written."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.rejections: list[tuple[int, str]] = []
        self.line = 1

    def reject(self, line: int, reason: str) -> None:
        self.rejections.append((line, reason))


Planner = Callable[[list[CsvRow], _Run], Awaitable[list[_Step]]]


async def _import_file(path: Path, report: ImportReport) -> None:
    file = path.name
    counts = dict.fromkeys(OUTCOMES, 0)
    report.counts[file] = counts
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        report.problems.append(f"{file}:{line}: not UTF-8 text; file skipped")
        counts["rejected"] = sum(1 for chunk in data.splitlines()[1:] if chunk.strip())
        return
    table = parse_csv_text(text, FILE_COLUMNS[file])
    if table.problem:
        report.problems.append(f"{file}:{table.problem_line}: {table.problem}")
        counts["rejected"] = table.row_count
        return

    run = _Run(file)
    for line, reason in table.bad_rows:
        run.reject(line, reason)
    try:
        async with in_transaction():
            steps = await _PLANNERS[file](table.rows, run)
            for step in steps:
                run.line = step.line
                for write in step.writes:
                    await write()
    except Exception as exc:  # any failure rolls the whole file back; other files still load
        logger.exception("roster import of %s failed at line %s", file, run.line)
        report.problems.extend(_problems(file, run.rejections))
        report.problems.append(
            f"{file}:{run.line}: database error, nothing from this file was written "
            f"({type(exc).__name__}: {exc})"
        )
        counts["rejected"] = table.row_count
        return
    report.problems.extend(_problems(file, run.rejections))
    for step in steps:
        if step.outcome is not None:
            counts[step.outcome] += 1
    counts["rejected"] = len(run.rejections)


def _problems(file: str, rejections: list[tuple[int, str]]) -> list[str]:
    return [f"{file}:{line}: {reason}" for line, reason in sorted(rejections)]


def _changes(current: Model, wanted: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in wanted.items() if getattr(current, name) != value}


async def _create(model: type[M], values: dict[str, Any]) -> M:
    obj = model(**values)
    await obj.save()
    return obj


async def _update(obj: Model, changes: dict[str, Any]) -> None:
    for name, value in changes.items():
        setattr(obj, name, value)
    await obj.save(update_fields=list(changes))


def _upsert(
    line: int, model: type[M], current: M | None, key: dict[str, Any], values: dict[str, Any]
) -> _Step:
    """Create the row, update the fields that differ, or do nothing when nothing differs."""
    if current is None:
        return _Step(line, "created", [partial(_create, model, {**key, **values})])
    changes = _changes(current, values)
    if changes:
        return _Step(line, "updated", [partial(_update, current, changes)])
    return _Step(line, "unchanged")


class _Seen:
    """First line of each natural key in this file, to reject a second row with the same key."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.lines: dict[Any, int] = {}

    def duplicate(self, key: Any, line: int) -> str | None:
        first = self.lines.setdefault(key, line)
        return None if first == line else f"duplicate of line {first} (same {self.what})"


# ---------------------------------------------------------------------------------------------
# Lookups loaded once per file (a few queries, whatever the number of rows).


async def _community_ids() -> dict[str, int]:
    return {code: pk for pk, code in await Community.all().values_list("id", "code")}


async def _buildings() -> dict[int, tuple[int, str]]:
    rows = await Building.all().values_list("id", "community_id", "name")
    return {pk: (community_id, name) for pk, community_id, name in rows}


async def _units() -> dict[int, tuple[int, str]]:
    rows = await Unit.all().values_list("id", "building_id", "name")
    return {pk: (building_id, name) for pk, building_id, name in rows}


async def _room_ids() -> dict[RoomAddress, int]:
    codes = {pk: code for code, pk in (await _community_ids()).items()}
    buildings, units = await _buildings(), await _units()
    result: dict[RoomAddress, int] = {}
    for pk, unit_id, number in await Room.all().values_list("id", "unit_id", "number"):
        building_id, unit = units[unit_id]
        community_id, building = buildings[building_id]
        result[RoomAddress(codes[community_id], building, unit, number)] = pk
    return result


def _room_problem(address: RoomAddress, community_ids: dict[str, int]) -> str:
    if address.community not in community_ids:
        return f"unknown community '{address.community}'"
    return (
        f"unknown room {address.building}-{address.unit}-{address.room} in community "
        f"'{address.community}' (rooms come from rooms.csv)"
    )


# ---------------------------------------------------------------------------------------------
# communities.csv


async def _plan_communities(rows: list[CsvRow], run: _Run) -> list[_Step]:
    existing = {c.code: c for c in await Community.all()}
    seen = _Seen("code")
    steps = []
    for row in rows:
        try:
            rec = parse_community_row(row.values)
        except RowError as exc:
            run.reject(row.line, str(exc))
            continue
        if dup := seen.duplicate(rec.code, row.line):
            run.reject(row.line, dup)
            continue
        values = {
            "name": rec.name,
            "city": rec.city,
            "district": rec.district,
            "address": rec.address,
            "lat": rec.lat,
            "lng": rec.lng,
            "radius_m": rec.radius_m,
        }
        steps.append(
            _upsert(row.line, Community, existing.get(rec.code), {"code": rec.code}, values)
        )
    return steps


# ---------------------------------------------------------------------------------------------
# departments.csv: `parent` may name a department defined further down, so rows are checked in
# full first and parents are set in a second pass once every department exists.


def _cycle(code: str, parent_of: dict[str, str | None]) -> list[str] | None:
    path = [code]
    parent = parent_of.get(code)
    while parent is not None:
        if parent == code:
            return [*path, code]
        if parent in path:
            return None  # a cycle above this department; reported on its own members
        path.append(parent)
        parent = parent_of.get(parent)
    return None


async def _plan_departments(rows: list[CsvRow], run: _Run) -> list[_Step]:
    existing = {d.code: d for d in await Department.all()}
    code_by_id = {d.id: code for code, d in existing.items()}
    db_parent = {
        code_by_id[pk]: code_by_id.get(parent_id)
        for pk, parent_id in await Department.all().values_list("id", "parent_id")
    }
    seen = _Seen("code")
    accepted: dict[str, tuple[int, DepartmentRecord]] = {}
    for row in rows:
        try:
            rec = parse_department_row(row.values)
        except RowError as exc:
            run.reject(row.line, str(exc))
            continue
        if dup := seen.duplicate(rec.code, row.line):
            run.reject(row.line, dup)
            continue
        accepted[rec.code] = (row.line, rec)

    # Rejecting a row can orphan another row's parent, so check until nothing changes.
    while True:
        parent_of = {**db_parent, **{code: rec.parent for code, (_, rec) in accepted.items()}}
        bad: dict[str, str] = {}
        for code, (_, rec) in accepted.items():
            if rec.parent is None:
                continue
            if rec.parent not in parent_of:
                bad[code] = f"unknown parent department '{rec.parent}'"
            elif cycle := _cycle(code, parent_of):
                bad[code] = f"parent '{rec.parent}' makes a cycle: {' -> '.join(cycle)}"
        if not bad:
            break
        for code, reason in bad.items():
            run.reject(accepted.pop(code)[0], reason)

    objects: dict[str, Department] = dict(existing)

    async def create(rec: DepartmentRecord) -> None:
        objects[rec.code] = await _create(
            Department,
            {"code": rec.code, "name": rec.name, "kind": rec.kind, "handles": rec.handles_text},
        )

    async def set_parent(code: str, parent: str | None) -> None:
        obj = objects[code]
        obj.parent_id = objects[parent].id if parent else None
        await obj.save(update_fields=["parent_id"])

    steps, parent_steps = [], []
    for code, (line, rec) in sorted(accepted.items(), key=lambda item: item[1][0]):
        current = existing.get(code)
        parent_changed = db_parent.get(code) != rec.parent
        if current is None:
            step = _Step(line, "created", [partial(create, rec)])
        else:
            values = {"name": rec.name, "kind": rec.kind, "handles": rec.handles_text}
            step = _upsert(line, Department, current, {}, values)
            if parent_changed and step.outcome == "unchanged":
                step.outcome = "updated"
        steps.append(step)
        if parent_changed:
            parent_steps.append(_Step(line, None, [partial(set_parent, code, rec.parent)]))
    return steps + parent_steps


# ---------------------------------------------------------------------------------------------
# rooms.csv: creates buildings and units as needed.


async def _plan_rooms(rows: list[CsvRow], run: _Run) -> list[_Step]:
    community_ids = await _community_ids()
    building_ids = {(c, name): pk for pk, (c, name) in (await _buildings()).items()}
    unit_ids = {(b, name): pk for pk, (b, name) in (await _units()).items()}
    room_ids = await _room_ids()
    rooms = {r.id: r for r in await Room.all()}
    seen = _Seen("room")

    async def create(address: RoomAddress, values: dict[str, Any]) -> None:
        community_id = community_ids[address.community]
        building_key = (community_id, address.building)
        if building_key not in building_ids:
            building = await _create(
                Building, {"community_id": community_id, "name": address.building}
            )
            building_ids[building_key] = building.id
        unit_key = (building_ids[building_key], address.unit)
        if unit_key not in unit_ids:
            unit = await _create(Unit, {"building_id": unit_key[0], "name": address.unit})
            unit_ids[unit_key] = unit.id
        await _create(
            Room,
            {
                "community_id": community_id,
                "unit_id": unit_ids[unit_key],
                "number": address.room,
                **values,
            },
        )

    steps = []
    for row in rows:
        try:
            rec = parse_room_row(row.values)
        except RowError as exc:
            run.reject(row.line, str(exc))
            continue
        if rec.address.community not in community_ids:
            run.reject(row.line, f"unknown community '{rec.address.community}'")
            continue
        if dup := seen.duplicate(rec.address, row.line):
            run.reject(row.line, dup)
            continue
        values = {"area_m2": rec.area_m2}
        room_id = room_ids.get(rec.address)
        if room_id is None:
            steps.append(_Step(row.line, "created", [partial(create, rec.address, values)]))
        else:
            steps.append(_upsert(row.line, Room, rooms[room_id], {}, values))
    return steps


# ---------------------------------------------------------------------------------------------
# residents.csv: a person (key: phone) may have several rows, one per room they are bound to.


@dataclass
class _Person:
    """What the file says about one phone: name from its first row, openid from any row."""

    line: int
    name: str
    openid: str | None = None
    openid_line: int = 0


async def _plan_residents(rows: list[CsvRow], run: _Run) -> list[_Step]:
    community_ids = await _community_ids()
    room_ids = await _room_ids()
    residents = {r.phone: r for r in await Resident.all()}
    phone_by_id = {r.id: phone for phone, r in residents.items()}
    openid_owner = {r.openid: phone for phone, r in residents.items() if r.openid}
    bindings = {(phone_by_id[b.resident_id], b.room_id): b for b in await RoomBinding.all()}
    vehicles = {(v.community_id, v.plate): v for v in await Vehicle.all()}

    # Pass 1: check every row, and that rows of one phone agree with each other.
    seen = _Seen("phone and room")
    people: dict[str, _Person] = {}
    openid_lines: dict[str, tuple[str, int]] = {}
    plate_lines: dict[tuple[int, str], tuple[str, int]] = {}
    accepted: list[tuple[int, ResidentRecord, int, int]] = []
    for row in rows:
        try:
            rec = parse_resident_row(row.values)
        except RowError as exc:
            run.reject(row.line, str(exc))
            continue
        room_id = room_ids.get(rec.address)
        if room_id is None:
            run.reject(row.line, _room_problem(rec.address, community_ids))
            continue
        community_id = community_ids[rec.address.community]
        reason = _resident_conflict(
            rec, people, openid_lines, plate_lines, openid_owner, community_id
        )
        if reason is None:
            reason = seen.duplicate((rec.phone, room_id), row.line)
        if reason:
            run.reject(row.line, reason)
            continue
        person = people.setdefault(rec.phone, _Person(row.line, rec.name))
        if rec.openid and person.openid is None:
            person.openid, person.openid_line = rec.openid, row.line
            openid_lines[rec.openid] = (rec.phone, row.line)
        if rec.plate:
            plate_lines.setdefault((community_id, rec.plate), (rec.phone, row.line))
        accepted.append((row.line, rec, room_id, community_id))

    # Pass 2: plan the writes; a person's own changes count on their first row.
    objects: dict[str, Resident] = dict(residents)

    async def save_person(phone: str, values: dict[str, Any]) -> None:
        if phone in objects:
            await _update(objects[phone], values)
        else:
            objects[phone] = await _create(Resident, {"phone": phone, **values})

    async def bind(phone: str, room_id: int, relation: str) -> None:
        await _create(
            RoomBinding,
            {"resident_id": objects[phone].id, "room_id": room_id, "relation": relation},
        )

    async def park(key: tuple[int, str], phone: str) -> None:
        vehicle = vehicles.get(key)
        if vehicle is None:
            vehicles[key] = await _create(
                Vehicle, {"community_id": key[0], "plate": key[1], "resident_id": objects[phone].id}
            )
        else:
            await _update(vehicle, {"resident_id": objects[phone].id})

    steps = []
    planned_plates: set[tuple[int, str]] = set()
    for line, rec, room_id, community_id in accepted:
        person = people[rec.phone]
        current = residents.get(rec.phone)
        step = _Step(line, "unchanged")
        if person.line == line:
            wanted: dict[str, Any] = {"name": person.name}
            if person.openid:  # an empty openid keeps the one WeChat binding gave them
                wanted["openid"] = person.openid
            changes = wanted if current is None else _changes(current, wanted)
            if changes:
                step.writes.append(partial(save_person, rec.phone, changes))
                step.outcome = "updated"
        binding = bindings.get((rec.phone, room_id))
        if binding is None:
            step.writes.append(partial(bind, rec.phone, room_id, rec.relation))
            step.outcome = "created"
        elif binding.relation != rec.relation:
            step.writes.append(partial(_update, binding, {"relation": rec.relation}))
            step.outcome = "updated"
        if rec.plate and (community_id, rec.plate) not in planned_plates:
            planned_plates.add((community_id, rec.plate))
            vehicle = vehicles.get((community_id, rec.plate))
            if vehicle is None or current is None or vehicle.resident_id != current.id:
                step.writes.append(partial(park, (community_id, rec.plate), rec.phone))
                if step.outcome == "unchanged":
                    step.outcome = "updated"
        steps.append(step)
    return steps


def _resident_conflict(
    rec: ResidentRecord,
    people: dict[str, _Person],
    openid_lines: dict[str, tuple[str, int]],
    plate_lines: dict[tuple[int, str], tuple[str, int]],
    openid_owner: dict[str, str],
    community_id: int,
) -> str | None:
    """Why this row contradicts earlier rows or other residents, or None."""
    person = people.get(rec.phone)
    if person and person.name != rec.name:
        return f"phone {rec.phone} is named '{person.name}' on line {person.line}"
    if rec.openid:
        if person and person.openid and person.openid != rec.openid:
            return f"phone {rec.phone} has openid '{person.openid}' on line {person.openid_line}"
        other = openid_lines.get(rec.openid)
        if other and other[0] != rec.phone:
            return f"openid '{rec.openid}' is also given to another phone on line {other[1]}"
        owner = openid_owner.get(rec.openid)
        if owner and owner != rec.phone:
            return (
                f"openid '{rec.openid}' already belongs to another resident ({mask_phone(owner)})"
            )
    if rec.plate:
        other = plate_lines.get((community_id, rec.plate))
        if other and other[0] != rec.phone:
            return f"plate {rec.plate} is also given to another phone on line {other[1]}"
    return None


# ---------------------------------------------------------------------------------------------
# staff.csv


async def _plan_staff(rows: list[CsvRow], run: _Run) -> list[_Step]:
    department_ids = {code: pk for pk, code in await Department.all().values_list("id", "code")}
    communities = {c.code: c for c in await Community.all()}
    existing = {s.employee_no: s for s in await Staff.all().prefetch_related("communities")}
    scopes = {no: {c.id for c in s.communities} for no, s in existing.items()}
    openid_owner = {s.openid: no for no, s in existing.items() if s.openid}
    openid_lines: dict[str, tuple[str, int]] = {}
    seen = _Seen("employee_no")
    objects: dict[str, Staff] = dict(existing)

    async def save(employee_no: str, values: dict[str, Any]) -> None:
        if employee_no in objects:
            await _update(objects[employee_no], values)
        else:
            objects[employee_no] = await _create(Staff, {"employee_no": employee_no, **values})

    async def set_scope(employee_no: str, wanted: set[int]) -> None:
        obj, current = objects[employee_no], scopes.get(employee_no, set())
        by_id = {c.id: c for c in communities.values()}
        if current - wanted:
            await obj.communities.remove(*(by_id[pk] for pk in sorted(current - wanted)))
        if wanted - current:
            await obj.communities.add(*(by_id[pk] for pk in sorted(wanted - current)))

    steps = []
    for row in rows:
        try:
            rec = parse_staff_row(row.values)
        except RowError as exc:
            run.reject(row.line, str(exc))
            continue
        reasons = []
        if rec.department not in department_ids:
            reasons.append(f"unknown department '{rec.department}'")
        unknown = [code for code in rec.scope.codes if code not in communities]
        if unknown:
            reasons.append(f"unknown community {', '.join(repr(c) for c in unknown)}")
        if rec.openid:
            other = openid_lines.get(rec.openid)
            owner = openid_owner.get(rec.openid)
            if other and other[0] != rec.employee_no:
                reasons.append(
                    f"openid '{rec.openid}' is also given to another employee on line {other[1]}"
                )
            elif owner and owner != rec.employee_no:
                reasons.append(f"openid '{rec.openid}' already belongs to employee {owner}")
        if not reasons and (dup := seen.duplicate(rec.employee_no, row.line)):
            reasons.append(dup)
        if reasons:
            run.reject(row.line, "; ".join(reasons))
            continue
        if rec.openid:
            openid_lines[rec.openid] = (rec.employee_no, row.line)

        wanted: dict[str, Any] = {
            "name": rec.name,
            "phone": rec.phone,
            "role": rec.role,
            "department_id": department_ids[rec.department],
            "all_communities": rec.scope.all_communities,
        }
        if rec.openid:  # an empty openid keeps the one WeChat binding gave them
            wanted["openid"] = rec.openid
        wanted_scope = {communities[code].id for code in rec.scope.codes}
        current = existing.get(rec.employee_no)
        changes = wanted if current is None else _changes(current, wanted)
        step = _Step(row.line, "created" if current is None else "unchanged")
        if changes:
            step.writes.append(partial(save, rec.employee_no, changes))
        if wanted_scope != scopes.get(rec.employee_no, set()):
            step.writes.append(partial(set_scope, rec.employee_no, wanted_scope))
        if step.writes and current is not None:
            step.outcome = "updated"
        steps.append(step)
    return steps


# ---------------------------------------------------------------------------------------------
# fees.csv


async def _plan_fees(rows: list[CsvRow], run: _Run) -> list[_Step]:
    community_ids = await _community_ids()
    room_ids = await _room_ids()
    existing = {(f.room_id, f.period, f.item): f for f in await FeeRow.all()}
    seen = _Seen("room, period and item")
    steps = []
    for row in rows:
        try:
            rec = parse_fee_row(row.values)
        except RowError as exc:
            run.reject(row.line, str(exc))
            continue
        room_id = room_ids.get(rec.address)
        if room_id is None:
            run.reject(row.line, _room_problem(rec.address, community_ids))
            continue
        key = (room_id, rec.period, rec.item)
        if dup := seen.duplicate(key, row.line):
            run.reject(row.line, dup)
            continue
        values = {
            "amount_due": rec.amount_due,
            "amount_paid": rec.amount_paid,
            "due_date": rec.due_date,
        }
        steps.append(
            _upsert(
                row.line,
                FeeRow,
                existing.get(key),
                {"room_id": room_id, "period": rec.period, "item": rec.item},
                values,
            )
        )
    return steps


# ---------------------------------------------------------------------------------------------
# devices.csv


async def _plan_devices(rows: list[CsvRow], run: _Run) -> list[_Step]:
    community_ids = await _community_ids()
    buildings = await _buildings()
    building_names = {(c, name) for c, name in buildings.values()}
    unit_names = {(buildings[b][0], buildings[b][1], name) for b, name in (await _units()).values()}
    existing = {(d.community_id, d.device_id): d for d in await Device.all()}
    seen = _Seen("community and device_id")
    steps = []
    for row in rows:
        try:
            rec = parse_device_row(row.values)
        except RowError as exc:
            run.reject(row.line, str(exc))
            continue
        community_id = community_ids.get(rec.community)
        reason = None
        if community_id is None:
            reason = f"unknown community '{rec.community}'"
        elif rec.building and (community_id, rec.building) not in building_names:
            reason = f"unknown building '{rec.building}' in community '{rec.community}'"
        elif rec.unit and (community_id, rec.building, rec.unit) not in unit_names:
            reason = (
                f"unknown unit '{rec.unit}' of building '{rec.building}' in community "
                f"'{rec.community}'"
            )
        else:
            reason = seen.duplicate((community_id, rec.device_id), row.line)
        if reason or community_id is None:
            run.reject(row.line, reason or "unknown community")
            continue
        values = {
            "kind": rec.kind,
            "building": rec.building or "",
            "unit": rec.unit or "",
            "lat": rec.lat,
            "lng": rec.lng,
        }
        steps.append(
            _upsert(
                row.line,
                Device,
                existing.get((community_id, rec.device_id)),
                {"community_id": community_id, "device_id": rec.device_id},
                values,
            )
        )
    return steps


# ---------------------------------------------------------------------------------------------
# facilities.csv


async def _plan_facilities(rows: list[CsvRow], run: _Run) -> list[_Step]:
    """Upsert by community and code; every create or change is a new FacilityVersion."""
    community_ids = await _community_ids()
    existing = {(f.community_id, f.code): f for f in await Facility.all()}
    seen = _Seen("community and code")
    now = datetime.now(UTC)
    steps = []
    for row in rows:
        try:
            values = parse_facility_row(row.values)
        except RowError as exc:
            run.reject(row.line, str(exc))
            continue
        community_id = community_ids.get(values.pop("community"))
        if community_id is None:
            run.reject(row.line, f"unknown community '{row.values.get('community', '').strip()}'")
            continue
        if dup := seen.duplicate((community_id, values["code"]), row.line):
            run.reject(row.line, dup)
            continue
        current = existing.get((community_id, values["code"]))
        if current is None:
            steps.append(
                _Step(row.line, "created", [partial(_create_facility, community_id, values, now)])
            )
            continue
        changes = _changes(current, {k: v for k, v in values.items() if k != "code"})
        if changes:
            steps.append(
                _Step(row.line, "updated", [partial(_change_facility, current, changes, now)])
            )
        else:
            steps.append(_Step(row.line, "unchanged"))
    return steps


async def _create_facility(community_id: int, values: dict[str, Any], now: datetime) -> None:
    facility = await Facility.create(community_id=community_id, updated_at=now, **values)
    await _facility_version(facility, now)


async def _change_facility(facility: Facility, changes: dict[str, Any], now: datetime) -> None:
    await _update(facility, {**changes, "version": facility.version + 1, "updated_at": now})
    await _facility_version(facility, now)


async def _facility_version(facility: Facility, now: datetime) -> None:
    await FacilityVersion.create(
        facility_id=facility.id,
        version=facility.version,
        snapshot=snapshot({k: getattr(facility, k) for k in SNAPSHOT_KEYS}),
        at=now,
    )


_PLANNERS: dict[str, Planner] = {
    "communities.csv": _plan_communities,
    "departments.csv": _plan_departments,
    "rooms.csv": _plan_rooms,
    "residents.csv": _plan_residents,
    "staff.csv": _plan_staff,
    "fees.csv": _plan_fees,
    "devices.csv": _plan_devices,
    "facilities.csv": _plan_facilities,
}
