"""Change requests to master data, as pure rules: what may be changed, how values are checked,
who owns a subject, the codes new facilities get, and a facility's versioned snapshot."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from server.domain.roster import RowError, parse_code, parse_text

FACILITY_KINDS: tuple[str, ...] = (
    "street_lamp",
    "elevator",
    "pump",
    "camera",
    "gate",
    "door",
    "fire_equipment",
    "other",
)
FACILITY_STATUSES: tuple[str, ...] = ("active", "retired")
CHANGE_KINDS: tuple[str, ...] = (
    "add_facility",
    "modify_facility",
    "retire_facility",
    "resident_data",
)
RESIDENT_SUBJECT = "resident_data"
RESIDENT_FIELDS: tuple[str, ...] = ("phone", "name", "relation")
RELATIONS: tuple[str, ...] = ("owner", "family", "tenant")
FACILITY_FIELDS: tuple[str, ...] = ("kind", "name", "location", "lat", "lng", "building")
MAX_ADD = 50  # one request adds at most this many facilities (东门新增路灯2盏)
# Short prefixes for generated codes: lamp-001, lift-002 ...
CODE_PREFIX: dict[str, str] = {
    "street_lamp": "lamp",
    "elevator": "lift",
    "pump": "pump",
    "camera": "cam",
    "gate": "gate",
    "door": "door",
    "fire_equipment": "fire",
    "other": "fac",
}
_CODE = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
_MOBILE = re.compile(r"1[3-9]\d{9}")
_LABEL = re.compile(r"[0-9A-Z][0-9A-Z-]{0,15}")


class ChangeInvalid(ValueError):
    """A change request that cannot be accepted as asked; `code` names a label (change group)."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code
        self.detail = detail


def check_code(raw: str) -> str:
    code = raw.strip().lower()
    if not _CODE.fullmatch(code):
        raise ChangeInvalid("bad_code", raw)
    return code


def check_facility_values(values: Mapping[str, Any], *, partial: bool = False) -> dict[str, Any]:
    """The facility fields of a request, checked and normalised; `partial` for a modification."""
    unknown = set(values) - set(FACILITY_FIELDS) - {"count", "code"}
    if unknown:
        raise ChangeInvalid("bad_field", ", ".join(sorted(unknown)))
    out: dict[str, Any] = {}
    if "kind" in values or not partial:
        kind = str(values.get("kind") or "")
        if kind not in FACILITY_KINDS:
            raise ChangeInvalid("bad_kind", kind)
        out["kind"] = kind
    for name, limit in (("name", 64), ("location", 128)):
        if name in values:
            text = str(values[name] or "").strip()
            if len(text) > limit:
                raise ChangeInvalid("too_long", name)
            out[name] = text
    if "building" in values:
        building = str(values["building"] or "").strip().upper()
        if building and not _LABEL.fullmatch(building):
            raise ChangeInvalid("bad_building", building)
        out["building"] = building
    if "lat" in values or "lng" in values:
        lat, lng = values.get("lat"), values.get("lng")
        if (lat is None) != (lng is None):
            raise ChangeInvalid("bad_position", "lat and lng go together")
        if lat is not None and lng is not None:
            if not (
                isinstance(lat, int | float)
                and isinstance(lng, int | float)
                and 3.0 <= lat <= 54.0
                and 73.0 <= lng <= 136.0
            ):
                raise ChangeInvalid("bad_position", f"{lat},{lng}")
            out["lat"], out["lng"] = float(lat), float(lng)
        else:
            out["lat"] = out["lng"] = None
    if not partial:
        count = values.get("count", 1)
        if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= MAX_ADD:
            raise ChangeInvalid("bad_count", str(count))
        out["count"] = count
        if values.get("code"):
            if count != 1:
                raise ChangeInvalid("bad_count", "a code names one facility")
            out["code"] = check_code(str(values["code"]))
    elif not out:
        raise ChangeInvalid("nothing_to_change")
    return out


def check_resident_values(values: Mapping[str, Any]) -> dict[str, Any]:
    """Corrected resident data: phone (mainland mobile), name, relation (with the room)."""
    unknown = set(values) - set(RESIDENT_FIELDS) - {"room_id"}
    if unknown:
        raise ChangeInvalid("bad_field", ", ".join(sorted(unknown)))
    out: dict[str, Any] = {}
    if values.get("phone") is not None:
        phone = re.sub(r"[\s-]", "", str(values["phone"]))
        if not _MOBILE.fullmatch(phone):
            raise ChangeInvalid("bad_phone")
        out["phone"] = phone
    if values.get("name") is not None:
        name = str(values["name"]).strip()
        if not 1 <= len(name) <= 32:
            raise ChangeInvalid("bad_name")
        out["name"] = name
    if values.get("relation") is not None:
        if values["relation"] not in RELATIONS or not isinstance(values.get("room_id"), int):
            raise ChangeInvalid("bad_relation")
        out["relation"] = values["relation"]
        out["room_id"] = values["room_id"]
    if not out:
        raise ChangeInvalid("nothing_to_change")
    return out


def subject_of(kind: str, facility_kind: str | None) -> str:
    """What a change is about, for ownership and subscriptions: a facility kind or resident data."""
    if kind == RESIDENT_SUBJECT:
        return RESIDENT_SUBJECT
    return facility_kind or "other"


def owner_of(subject: str, owners: Mapping[str, str]) -> str:
    """The department code that approves changes of `subject` (`*` is the fallback owner)."""
    owner = owners.get(subject) or owners.get("*")
    if not owner:
        raise ChangeInvalid("no_owner", subject)
    return owner


def subscribers_of(subject: str, owner: str, subscribers: Mapping[str, Iterable[str]]) -> list[str]:
    """Departments told about an applied change: the owner, then those subscribed (no repeats)."""
    wanted = [owner, *subscribers.get(subject, ()), *subscribers.get("*", ())]
    return list(dict.fromkeys(wanted))


def next_codes(kind: str, existing: Iterable[str], count: int) -> list[str]:
    """Codes for `count` new facilities of a kind, after the highest number already used."""
    prefix = CODE_PREFIX.get(kind, "fac")
    pattern = re.compile(rf"{re.escape(prefix)}-(\d+)")
    used = [int(m.group(1)) for code in existing if (m := pattern.fullmatch(code))]
    start = max(used, default=0) + 1
    return [f"{prefix}-{n:03d}" for n in range(start, start + count)]


SNAPSHOT_KEYS: tuple[str, ...] = ("code", "status", *FACILITY_FIELDS, "photo_id")


def snapshot(values: Mapping[str, Any]) -> dict[str, Any]:
    """What a FacilityVersion keeps: every field a change may touch, plus code and status."""
    return {k: values.get(k) for k in SNAPSHOT_KEYS}


# ---------------------------------------------------------------------------------------------
# facilities.csv (the roster import; docs/roster.md)

FACILITY_COLUMNS: tuple[str, ...] = (
    "community",
    "code",
    "kind",
    "name",
    "location",
    "building",
    "lat",
    "lng",
)


def parse_facility_row(values: Mapping[str, str]) -> dict[str, Any]:
    """A facilities.csv row as model values (community as its code); every fault in one
    RowError (server.domain.roster) so the import reports the row once."""
    errors: list[str] = []
    out: dict[str, Any] = {}
    try:
        out["community"] = parse_code(values.get("community", ""), "community")
    except RowError as exc:
        errors.append(str(exc))
    try:
        out["name"] = parse_text(values.get("name", ""), "name", 64)
    except RowError as exc:
        errors.append(str(exc))
    raw_code = values.get("code", "").strip()
    try:
        out["code"] = check_code(raw_code)
    except ChangeInvalid:
        errors.append(f"code '{raw_code}' may only contain lower-case letters, digits, '_' and '-'")
    lat, lng = values.get("lat", "").strip(), values.get("lng", "").strip()
    try:
        position: dict[str, Any] = {"lat": float(lat), "lng": float(lng)} if lat or lng else {}
    except ValueError:
        position = {"lat": lat, "lng": lng}
    try:
        checked = check_facility_values(
            {
                "kind": values.get("kind", "").strip(),
                "location": values.get("location", ""),
                "building": values.get("building", ""),
                **position,
            }
        )
        checked.pop("count", None)
        out.update(checked)
    except ChangeInvalid as exc:
        errors.append(_row_reason(exc, values))
    if errors:
        raise RowError("; ".join(errors))
    out.setdefault("lat", None)
    out.setdefault("lng", None)
    return out


def _row_reason(exc: ChangeInvalid, values: Mapping[str, str]) -> str:
    reasons = {
        "bad_kind": f"kind '{values.get('kind', '')}' is not one of {', '.join(FACILITY_KINDS)}",
        "bad_position": "lat and lng must both be given, GCJ-02 inside China",
        "bad_building": f"building '{values.get('building', '')}' is not a door label",
        "too_long": f"{exc.detail} is too long",
    }
    return reasons.get(exc.code, exc.code)
