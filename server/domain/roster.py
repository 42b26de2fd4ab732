"""Roster CSV rules (CONTRACT.md "Roster CSV files"): columns, and validation of one row at a time.

Pure: no ORM, no I/O. Every parser raises RowError with an English reason that names the field
and the value, so an import report line says what to fix. References between rows and to the
database (does this community exist?) are checked by server/actions/roster.py.
"""

from __future__ import annotations

import csv
import io
import math
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import TypeVar, cast

from server.domain.routing import CATEGORIES

T = TypeVar("T")

# File name -> columns, in the order CONTRACT.md lists them (the order inside a file is free).
ROSTER_COLUMNS: dict[str, tuple[str, ...]] = {
    "communities.csv": ("code", "name", "city", "district", "address", "lat", "lng", "radius_m"),
    "departments.csv": ("code", "name", "kind", "handles", "parent"),
    "rooms.csv": ("community", "building", "unit", "room", "area_m2"),
    "residents.csv": (
        "community",
        "building",
        "unit",
        "room",
        "name",
        "phone",
        "openid",
        "relation",
        "plate",
    ),
    "staff.csv": ("employee_no", "name", "phone", "openid", "department", "role", "communities"),
    "fees.csv": (
        "community",
        "building",
        "unit",
        "room",
        "period",
        "item",
        "amount_due",
        "amount_paid",
        "due_date",
    ),
    "devices.csv": ("community", "device_id", "kind", "building", "unit", "lat", "lng"),
}
# Dependency order: a file only references files before it.
IMPORT_ORDER: tuple[str, ...] = tuple(ROSTER_COLUMNS)

TASK_CATEGORIES = CATEGORIES  # one list: routing owns it (CONTRACT.md categories)
ROLES: tuple[str, ...] = (
    "staff",
    "lead",
    "manager",
    "assessor",
    "billing",
    "data_admin",
    "customer_service",
)
DEVICE_KINDS: tuple[str, ...] = ("vehicle_gate", "unit_door", "elevator", "fire_panel")
RELATIONS: tuple[str, ...] = ("owner", "family", "tenant")
DEPARTMENT_KINDS: tuple[str, ...] = ("internal", "contractor")

# GCJ-02 is only defined for mainland China; these bounds are China's extent (Zengmu Ansha to
# Mohe, Pamirs to the Wusu confluence), so a swapped or WGS-84-less-than-sane value is caught.
LAT_RANGE = (3.0, 54.0)
LNG_RANGE = (73.0, 136.0)
MAX_RADIUS_M = 20_000

# Codes end up in MQTT topics (wuye/{community}/devices/{device_id}/...): MQTT 3.1.1 §4.7 gives
# '/', '+' and '#' special meaning, so only plain characters are allowed.
_CODE = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
_DEVICE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_EMPLOYEE_NO = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,31}")
_ITEM = re.compile(r"[a-z][a-z0-9_]{0,31}")
_OPENID = re.compile(r"[A-Za-z0-9_-]{1,64}")
# Mainland mobile numbers: 11 digits, 1 then 3-9 (MIIT numbering plan).
_MOBILE = re.compile(r"1[3-9]\d{9}")
_PERIOD = re.compile(r"(\d{4})(?:-(\d{2})|Q([1-4]))?")
# Labels as written on the door ("5", "2", "302", "A"). A label with words around it (5号楼) is
# rejected rather than guessed at, so one building never ends up under two keys; Chinese
# vocabulary stays out of code (tests/unit/test_boundaries.py) and the bot maps what people type
# to these labels.
_DOOR_LABEL = re.compile(r"[0-9A-Z][0-9A-Z-]{0,15}")
# Mainland plates (GA 36-2018): a province character, the issuing letter, then 5 characters (6 on
# new-energy plates); some end in a character such as the trainer or trailer mark.
_PLATE = re.compile(r"[\u4e00-\u9fff][A-Z][A-Z0-9]{4,5}[A-Z0-9\u4e00-\u9fff]")
# What people write between the parts of a plate: a middle dot, a dash, a space.
_PLATE_SEPARATORS = re.compile(r"[\s\u00b7\u2022\u30fb.\-]")


class RowError(ValueError):
    """A row (or one field of it) cannot be loaded; the message is the reason shown to the user."""


# ---------------------------------------------------------------------------------------------
# Field parsers: (raw, field name) -> normalised value, or RowError naming field and value.


def _required(raw: str, field: str, max_len: int) -> str:
    value = raw.strip()
    if not value:
        raise RowError(f"{field} is empty")
    if len(value) > max_len:
        raise RowError(f"{field} '{value}' is longer than {max_len} characters")
    return value


def parse_text(raw: str, field: str, max_len: int = 64) -> str:
    """A required free-text field (names, addresses) no longer than the column."""
    return _required(raw, field, max_len)


def parse_code(raw: str, field: str = "code") -> str:
    """A community or department code: lower-case letters, digits, '_' or '-', ≤ 32."""
    value = _required(raw, field, 32)
    if not _CODE.fullmatch(value):
        raise RowError(
            f"{field} '{value}' may only contain lower-case letters, digits, '_' and '-'"
        )
    return value


def parse_phone(raw: str, field: str = "phone") -> str:
    """A mainland mobile number as 11 digits; '+86', '0086', spaces and dashes are dropped."""
    value = unicodedata.normalize("NFKC", raw).strip()
    if not value:
        raise RowError(f"{field} is empty")
    digits = re.sub(r"[\s\-()]", "", value)
    if digits.startswith("+86"):
        digits = digits[3:]
    elif digits.startswith("0086"):
        digits = digits[4:]
    elif len(digits) == 13 and digits.startswith("86"):
        digits = digits[2:]
    if not _MOBILE.fullmatch(digits):
        raise RowError(f"{field} '{raw.strip()}' is not a mainland mobile number")
    return digits


def parse_openid(raw: str, field: str = "openid") -> str | None:
    """An official-account openid, or None when empty (never the empty string)."""
    value = raw.strip()
    if not value:
        return None
    if not _OPENID.fullmatch(value):
        raise RowError(f"{field} '{value}' is not an openid (letters, digits, '_', '-', ≤ 64)")
    return value


def _one_of(raw: str, field: str, allowed: tuple[str, ...]) -> str:
    value = raw.strip().lower()
    if value not in allowed:
        raise RowError(f"{field} '{raw.strip()}' is not one of {', '.join(allowed)}")
    return value


def parse_relation(raw: str, field: str = "relation") -> str:
    """owner, family or tenant."""
    return _one_of(raw, field, RELATIONS)


def parse_role(raw: str, field: str = "role") -> str:
    """One of the staff roles the access layer knows."""
    return _one_of(raw, field, ROLES)


def parse_device_kind(raw: str, field: str = "kind") -> str:
    """One of the device kinds the hardware gateway drives."""
    return _one_of(raw, field, DEVICE_KINDS)


def parse_department_kind(raw: str, field: str = "kind") -> str:
    """internal or contractor."""
    return _one_of(raw, field, DEPARTMENT_KINDS)


def parse_categories(raw: str, field: str = "handles") -> tuple[str, ...]:
    """';'-separated task categories, duplicates dropped, order kept; empty means none."""
    result: list[str] = []
    for part in raw.split(";"):
        name = part.strip().lower()
        if not name:
            continue
        if name not in TASK_CATEGORIES:
            raise RowError(
                f"{field}: unknown task category '{part.strip()}' "
                f"(known: {', '.join(TASK_CATEGORIES)})"
            )
        if name not in result:
            result.append(name)
    return tuple(result)


def _number(raw: str, field: str) -> float:
    value = raw.strip()
    if not value:
        raise RowError(f"{field} is empty")
    try:
        number = float(value)
    except ValueError:
        raise RowError(f"{field} '{value}' is not a number") from None
    if not math.isfinite(number):
        raise RowError(f"{field} '{value}' is not a number")
    return number


def parse_lat(raw: str, field: str = "lat") -> float:
    """A GCJ-02 latitude inside China."""
    lat = _number(raw, field)
    if not LAT_RANGE[0] <= lat <= LAT_RANGE[1]:
        raise RowError(
            f"{field} '{raw.strip()}' is outside China ({LAT_RANGE[0]:g}..{LAT_RANGE[1]:g})"
        )
    return lat


def parse_lng(raw: str, field: str = "lng") -> float:
    """A GCJ-02 longitude inside China."""
    lng = _number(raw, field)
    if not LNG_RANGE[0] <= lng <= LNG_RANGE[1]:
        raise RowError(
            f"{field} '{raw.strip()}' is outside China ({LNG_RANGE[0]:g}..{LNG_RANGE[1]:g})"
        )
    return lng


def parse_radius(raw: str, field: str = "radius_m") -> int:
    """The check-in geofence radius in whole metres."""
    value = raw.strip()
    if not re.fullmatch(r"\d+", value) or not 0 < int(value) <= MAX_RADIUS_M:
        raise RowError(f"{field} '{value}' is not a whole number of metres (1..{MAX_RADIUS_M})")
    return int(value)


def _decimal(raw: str, field: str, max_digits: int) -> Decimal:
    value = raw.strip().replace(",", "")
    if not value:
        raise RowError(f"{field} is empty")
    try:
        amount = Decimal(value)
    except InvalidOperation:
        raise RowError(f"{field} '{raw.strip()}' is not a number") from None
    if not amount.is_finite():
        raise RowError(f"{field} '{raw.strip()}' is not a number")
    if amount < 0:
        raise RowError(f"{field} '{raw.strip()}' is negative")
    exponent = amount.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -2:
        raise RowError(f"{field} '{raw.strip()}' has more than 2 decimals")
    if amount >= Decimal(10) ** (max_digits - 2):
        raise RowError(f"{field} '{raw.strip()}' is too large")
    return amount.quantize(Decimal("0.01"))


def parse_amount(raw: str, field: str = "amount") -> Decimal:
    """Yuan, ≥ 0, at most 2 decimals (fen). Paid may exceed due: prepayment is allowed."""
    return _decimal(raw, field, 12)


def parse_area(raw: str, field: str = "area_m2") -> Decimal:
    """Floor area in m², > 0, at most 2 decimals."""
    area = _decimal(raw, field, 8)
    if area == 0:
        raise RowError(f"{field} '{raw.strip()}' must be more than 0")
    return area


def parse_date(raw: str, field: str = "due_date") -> date:
    """An ISO calendar date, YYYY-MM-DD."""
    value = raw.strip()
    try:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            raise ValueError
        return date.fromisoformat(value)
    except ValueError:
        raise RowError(f"{field} '{value}' is not an ISO date (YYYY-MM-DD)") from None


def parse_period(raw: str, field: str = "period") -> str:
    """A billing period: a year (2026), a month (2026-03) or a quarter (2026Q3)."""
    value = raw.strip().upper()
    match = _PERIOD.fullmatch(value)
    if not match or (match.group(2) and not 1 <= int(match.group(2)) <= 12):
        raise RowError(f"{field} '{raw.strip()}' is not a period like 2026, 2026-03 or 2026Q3")
    return value


def parse_item(raw: str, field: str = "item") -> str:
    """A fee item name such as property_fee: lower-case letters, digits and '_'."""
    value = _required(raw, field, 32)
    if not _ITEM.fullmatch(value):
        raise RowError(f"{field} '{value}' must look like property_fee (a-z, 0-9, '_')")
    return value


def parse_device_id(raw: str, field: str = "device_id") -> str:
    """A device id usable as one MQTT topic level."""
    value = _required(raw, field, 64)
    if not _DEVICE_ID.fullmatch(value):
        raise RowError(f"{field} '{value}' may only contain letters, digits, '_', '.' and '-'")
    return value


def parse_employee_no(raw: str, field: str = "employee_no") -> str:
    """A staff number: letters, digits, '_' or '-'."""
    value = _required(raw, field, 32)
    if not _EMPLOYEE_NO.fullmatch(value):
        raise RowError(f"{field} '{value}' may only contain letters, digits, '_' and '-'")
    return value


def _door_label(raw: str, field: str) -> str:
    # NFKC turns full-width digits and letters (common from Chinese input methods) into ASCII.
    value = unicodedata.normalize("NFKC", raw).strip().upper()
    if not value:
        raise RowError(f"{field} is empty")
    if not _DOOR_LABEL.fullmatch(value):
        raise RowError(
            f"{field} '{raw.strip()}' is not a label as written on the door "
            "(letters, digits and '-', like 5 or 302)"
        )
    return value


def parse_building(raw: str, field: str = "building") -> str:
    """A building as written on it: '5', 'A'."""
    return _door_label(raw, field)


def parse_unit(raw: str, field: str = "unit") -> str:
    """A unit (entrance) as written on it: '2'."""
    return _door_label(raw, field)


def parse_room(raw: str, field: str = "room") -> str:
    """A room as written on the door: '302'."""
    return _door_label(raw, field)


def parse_plate(raw: str, field: str = "plate") -> str | None:
    """A mainland plate with separators dropped and letters upper-cased, or None when empty."""
    value = _PLATE_SEPARATORS.sub("", unicodedata.normalize("NFKC", raw)).upper()
    if not value:
        return None
    if not _PLATE.fullmatch(value):
        raise RowError(f"{field} '{raw.strip()}' is not a mainland licence plate")
    return value


@dataclass(frozen=True)
class CommunityScope:
    """Which communities a staff member works in: all of them, or the listed codes."""

    all_communities: bool
    codes: tuple[str, ...] = ()


def parse_communities(raw: str, field: str = "communities") -> CommunityScope:
    """'*' for every community, else ';'-separated community codes (sorted, unique)."""
    value = raw.strip()
    if value == "*":
        return CommunityScope(all_communities=True)
    codes = sorted({parse_code(part, field) for part in value.split(";") if part.strip()})
    if not codes:
        raise RowError(f"{field} is empty (list community codes separated by ';', or '*')")
    return CommunityScope(all_communities=False, codes=tuple(codes))


# ---------------------------------------------------------------------------------------------
# Row parsers: one CSV row (column -> raw text) -> a typed record, or RowError with every reason.


class _Reader:
    """Runs each field parser, collecting all reasons so one report line lists every fault."""

    def __init__(self, values: Mapping[str, str]) -> None:
        self.values = values
        self.errors: list[str] = []

    def take(self, column: str, parse: Callable[[str, str], T]) -> T:
        try:
            return parse(self.values.get(column, ""), column)
        except RowError as exc:
            self.errors.append(str(exc))
            return cast(T, None)  # never used: done() raises

    def fail(self, reason: str) -> None:
        self.errors.append(reason)

    def done(self) -> None:
        if self.errors:
            raise RowError("; ".join(self.errors))


def _text(max_len: int) -> Callable[[str, str], str]:
    return lambda raw, field: parse_text(raw, field, max_len)


def _optional(parse: Callable[[str, str], T]) -> Callable[[str, str], T | None]:
    return lambda raw, field: parse(raw, field) if raw.strip() else None


@dataclass(frozen=True)
class RoomAddress:
    """A room's natural key: community code and the labels on the doors."""

    community: str
    building: str
    unit: str
    room: str

    def __str__(self) -> str:
        return f"{self.community} {self.building}-{self.unit}-{self.room}"


def _address(r: _Reader) -> RoomAddress:
    return RoomAddress(
        community=r.take("community", parse_code),
        building=r.take("building", parse_building),
        unit=r.take("unit", parse_unit),
        room=r.take("room", parse_room),
    )


@dataclass(frozen=True)
class CommunityRecord:
    code: str
    name: str
    city: str
    district: str
    address: str
    lat: float
    lng: float
    radius_m: int


def parse_community_row(values: Mapping[str, str]) -> CommunityRecord:
    """A communities.csv row."""
    r = _Reader(values)
    record = CommunityRecord(
        code=r.take("code", parse_code),
        name=r.take("name", _text(64)),
        city=r.take("city", _text(32)),
        district=r.take("district", _text(32)),
        address=r.take("address", _text(128)),
        lat=r.take("lat", parse_lat),
        lng=r.take("lng", parse_lng),
        radius_m=r.take("radius_m", parse_radius),
    )
    r.done()
    return record


@dataclass(frozen=True)
class RoomRecord:
    address: RoomAddress
    area_m2: Decimal


def parse_room_row(values: Mapping[str, str]) -> RoomRecord:
    """A rooms.csv row."""
    r = _Reader(values)
    record = RoomRecord(address=_address(r), area_m2=r.take("area_m2", parse_area))
    r.done()
    return record


@dataclass(frozen=True)
class ResidentRecord:
    address: RoomAddress
    name: str
    phone: str
    openid: str | None
    relation: str
    plate: str | None


def parse_resident_row(values: Mapping[str, str]) -> ResidentRecord:
    """A residents.csv row: one person bound to one room (a person may have several rows)."""
    r = _Reader(values)
    record = ResidentRecord(
        address=_address(r),
        name=r.take("name", _text(32)),
        phone=r.take("phone", parse_phone),
        openid=r.take("openid", parse_openid),
        relation=r.take("relation", parse_relation),
        plate=r.take("plate", parse_plate),
    )
    r.done()
    return record


@dataclass(frozen=True)
class DepartmentRecord:
    code: str
    name: str
    kind: str
    handles: tuple[str, ...]
    parent: str | None

    @property
    def handles_text(self) -> str:
        """How `handles` is stored: categories joined by ';'."""
        return ";".join(self.handles)


def parse_department_row(values: Mapping[str, str]) -> DepartmentRecord:
    """A departments.csv row; whether `parent` exists is checked against the whole file."""
    r = _Reader(values)
    record = DepartmentRecord(
        code=r.take("code", parse_code),
        name=r.take("name", _text(64)),
        kind=r.take("kind", parse_department_kind),
        handles=r.take("handles", parse_categories),
        parent=r.take("parent", _optional(parse_code)),
    )
    if record.parent is not None and record.parent == record.code:
        r.fail(f"parent '{record.parent}' is the department itself")
    r.done()
    return record


@dataclass(frozen=True)
class StaffRecord:
    employee_no: str
    name: str
    phone: str
    openid: str | None
    department: str
    role: str
    scope: CommunityScope


def parse_staff_row(values: Mapping[str, str]) -> StaffRecord:
    """A staff.csv row."""
    r = _Reader(values)
    record = StaffRecord(
        employee_no=r.take("employee_no", parse_employee_no),
        name=r.take("name", _text(32)),
        phone=r.take("phone", parse_phone),
        openid=r.take("openid", parse_openid),
        department=r.take("department", parse_code),
        role=r.take("role", parse_role),
        scope=r.take("communities", parse_communities),
    )
    r.done()
    return record


@dataclass(frozen=True)
class FeeRecord:
    address: RoomAddress
    period: str
    item: str
    amount_due: Decimal
    amount_paid: Decimal
    due_date: date


def parse_fee_row(values: Mapping[str, str]) -> FeeRecord:
    """A fees.csv row. amount_paid > amount_due is allowed (prepayment)."""
    r = _Reader(values)
    record = FeeRecord(
        address=_address(r),
        period=r.take("period", parse_period),
        item=r.take("item", parse_item),
        amount_due=r.take("amount_due", parse_amount),
        amount_paid=r.take("amount_paid", parse_amount),
        due_date=r.take("due_date", parse_date),
    )
    r.done()
    return record


@dataclass(frozen=True)
class DeviceRecord:
    community: str
    device_id: str
    kind: str
    building: str | None
    unit: str | None
    lat: float | None
    lng: float | None


# Where a device must say it is: a unit door serves one unit, an elevator one building.
_DEVICE_PLACE: dict[str, tuple[str, ...]] = {
    "unit_door": ("building", "unit"),
    "elevator": ("building",),
    "vehicle_gate": (),
    "fire_panel": (),
}


def parse_device_row(values: Mapping[str, str]) -> DeviceRecord:
    """A devices.csv row; building/unit are required where the kind serves one place."""
    r = _Reader(values)
    record = DeviceRecord(
        community=r.take("community", parse_code),
        device_id=r.take("device_id", parse_device_id),
        kind=r.take("kind", parse_device_kind),
        building=r.take("building", _optional(parse_building)),
        unit=r.take("unit", _optional(parse_unit)),
        lat=r.take("lat", _optional(parse_lat)),
        lng=r.take("lng", _optional(parse_lng)),
    )
    if not r.errors:
        for needed in _DEVICE_PLACE[record.kind]:
            if getattr(record, needed) is None:
                r.fail(f"{needed} is empty (a {record.kind} needs one)")
        if record.unit is not None and record.building is None:
            r.fail("unit is given without a building")
        if (record.lat is None) != (record.lng is None):
            r.fail("lat and lng must both be given or both be empty")
    r.done()
    return record


# ---------------------------------------------------------------------------------------------
# CSV text -> rows with physical line numbers.


@dataclass(frozen=True)
class CsvRow:
    """One data row; `line` is the physical line it starts on (the header is line 1)."""

    line: int
    values: dict[str, str]


@dataclass
class CsvTable:
    """A parsed file: a file-level problem (then the file is skipped), rows, and row faults."""

    problem: str | None = None
    problem_line: int = 1
    rows: list[CsvRow] = field(default_factory=list)
    bad_rows: list[tuple[int, str]] = field(default_factory=list)
    skipped: int = 0  # data rows not read because of the file-level problem

    @property
    def row_count(self) -> int:
        """Every non-blank data row, loaded or not."""
        return len(self.rows) + len(self.bad_rows) + self.skipped


def header_problem(expected: tuple[str, ...], header: list[str]) -> str | None:
    """One reason listing missing, unknown and repeated columns, or None when they match."""
    names = [name.strip().lower() for name in header]
    missing = [c for c in expected if c not in names]
    unknown = [n for n in names if n not in expected]
    repeated = sorted({n for n in names if names.count(n) > 1})
    reasons = []
    if missing:
        reasons.append(f"missing column(s) {', '.join(missing)}")
    if unknown:
        reasons.append(f"unknown column(s) {', '.join(repr(n) for n in unknown)}")
    if repeated:
        reasons.append(f"repeated column(s) {', '.join(repeated)}")
    if not reasons:
        return None
    return f"header: {'; '.join(reasons)}; expected {','.join(expected)}; file skipped"


def parse_csv_text(text: str, expected: tuple[str, ...]) -> CsvTable:
    """Split CSV text into rows keyed by column; a UTF-8 BOM and blank lines are ignored."""
    table = CsvTable()
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline=""), strict=True)
    line_before = 0
    header: list[str] | None = None
    try:
        for record in reader:
            line, line_before = line_before + 1, reader.line_num
            if header is None:
                if not any(cell.strip() for cell in record):
                    continue
                header = [name.strip().lower() for name in record]
                problem = header_problem(expected, record)
                if problem:
                    table.problem, table.problem_line = problem, line
                    # Count what is skipped so the report says how many rows were not loaded.
                    table.skipped = sum(1 for r in reader if any(c.strip() for c in r))
                    return table
                continue
            if not any(cell.strip() for cell in record):
                continue
            if len(record) != len(header):
                table.bad_rows.append((line, f"expected {len(header)} fields, found {len(record)}"))
                continue
            table.rows.append(CsvRow(line, dict(zip(header, record, strict=True))))
    except csv.Error as exc:
        table.problem, table.problem_line = f"unreadable CSV: {exc}; file skipped", line_before + 1
        table.skipped = table.row_count + 1  # the rows read so far and the unreadable one
        table.rows, table.bad_rows = [], []
        return table
    if header is None:
        table.problem = f"file is empty; expected a header {','.join(expected)}"
    return table
