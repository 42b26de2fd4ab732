"""The access policy snapshot and the pure rule that turns a device request into a decision.

Stdlib only: the gateway decides from this on site, and the server builds snapshots with the
same shapes. Product rules it encodes (DESIGN.md, "Lawful operation"): arrears never refuse a
resident at their own estate, building or elevator (PRC Civil Code art. 944) — fees may only
add a display reminder; an expired *parking* lease turns a car into a `temporary` (pay per
entry) car, never a refused one; a fire alarm lets everyone through.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

SCHEMA = 1
CREDENTIAL_TYPES = ("plate", "card", "qr", "face")
MODES = ("resident", "temporary", "visitor", "staff", "emergency", "unknown")
DOOR_KINDS = frozenset({"vehicle_gate", "unit_door"})
ELEVATOR = "elevator"
LOBBY_FLOOR = 1

# Sections are maps keyed by id; deltas set and delete their entries one by one.
SECTIONS = ("devices", "residents", "plates", "credentials", "passes", "texts")
# Top-level values a delta replaces whole; `version` and `issued_at` travel on every delta.
SCALARS = ("schema", "community", "tz", "qr_key")
TEXT_KEYS = (
    "resident",
    "resident_reminder",
    "temporary",
    "visitor",
    "pass_invalid",
    "staff",
    "unknown",
    "no_access",
    "emergency",
)

RESIDENT_QR_PREFIX = "R1"
_QR_SIG_HEX = 24
# Separators plate cameras and rosters write inside a plate: space, middle dot, bullet, '-', '.'.
_PLATE_SEPARATORS = str.maketrans("", "", " \u00b7\u2022\u30fb-.\t")


class PolicyError(ValueError):
    """A snapshot or delta that does not have the documented shape; the old policy stays."""


def normalize_plate(value: str) -> str:
    """One spelling per plate: full-width folded (NFKC), separators dropped, letters upper-case."""
    return unicodedata.normalize("NFKC", value).translate(_PLATE_SEPARATORS).upper()


def credential_key(credential_type: str, value: str) -> str:
    """The key of a credential in the `credentials` and `passes` sections (`card:0012AB`)."""
    if credential_type == "plate":
        value = normalize_plate(value)
    return f"{credential_type}:{value}"


def _qr_signature(key_hex: str, body: str) -> str:
    digest = hmac.new(bytes.fromhex(key_hex), body.encode(), hashlib.sha256).hexdigest()
    return digest[:_QR_SIG_HEX]


def resident_qr(key_hex: str, resident_id: str, expires_at: int) -> str:
    """A resident's short-lived QR token `R1.{resident}.{expires}.{hmac}`; gateways verify it."""
    body = f"{RESIDENT_QR_PREFIX}.{resident_id}.{int(expires_at)}"
    return f"{body}.{_qr_signature(key_hex, body)}"


def read_resident_qr(key_hex: str, token: str, now: float) -> str | None:
    """The resident id of a valid, unexpired token signed with `key_hex`, else None."""
    parts = token.split(".")
    if len(parts) != 4 or parts[0] != RESIDENT_QR_PREFIX or not parts[2].isdigit():
        return None
    body = ".".join(parts[:3])
    try:
        expected = _qr_signature(key_hex, body)
    except ValueError:
        return None
    if not hmac.compare_digest(expected, parts[3]) or int(parts[2]) < now:
        return None
    return parts[1]


# ---- typed view of a snapshot --------------------------------------------------------------


@dataclass(frozen=True)
class Home:
    """Where a resident (or a visitor's host) lives: what their card opens."""

    building: str
    unit: str
    floor: int | None


@dataclass(frozen=True)
class DeviceInfo:
    kind: str
    building: str
    unit: str


@dataclass(frozen=True)
class ResidentInfo:
    homes: tuple[Home, ...]
    fees_due_since: date | None  # earliest unpaid property-fee due date: a reminder, never a bar


@dataclass(frozen=True)
class PlateInfo:
    resident: str
    lease_until: date | None  # last day the parking lease is paid for; None = no lease


@dataclass(frozen=True)
class Holder:
    resident: str | None
    staff: str | None


@dataclass(frozen=True)
class PassInfo:
    valid_from: float
    valid_to: float
    homes: tuple[Home, ...]  # empty = not tied to a home (e.g. a contractor's pass)


def _need(condition: bool, what: str) -> None:
    if not condition:
        raise PolicyError(what)


def _map(data: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = data.get(name, {})
    _need(isinstance(value, dict), f"{name} must be an object")
    return value  # type: ignore[no-any-return]


def _text(value: Any, what: str, *, empty: bool = True) -> str:
    _need(isinstance(value, str) and (empty or bool(value)), f"{what} must be a string")
    return value  # type: ignore[no-any-return]


def _day(value: Any, what: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(_text(value, what))
    except ValueError:
        raise PolicyError(f"{what} must be YYYY-MM-DD") from None


def _number(value: Any, what: str) -> float:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    _need(ok, f"{what} must be a number")
    return float(value)


def _homes(value: Any, what: str) -> tuple[Home, ...]:
    _need(isinstance(value, list), f"{what} must be a list")
    homes = []
    for item in value:
        _need(isinstance(item, dict), f"{what} entries must be objects")
        floor = item.get("floor")
        _need(
            floor is None or (isinstance(floor, int) and not isinstance(floor, bool)),
            f"{what} floor must be an integer or null",
        )
        homes.append(Home(_text(item.get("building"), what), _text(item.get("unit"), what), floor))
    return tuple(homes)


@dataclass(frozen=True)
class Policy:
    """A validated snapshot with indexes; `data` is the JSON object as the server sent it."""

    community: str
    version: int
    tz: tzinfo
    qr_key: str
    devices: Mapping[str, DeviceInfo]
    residents: Mapping[str, ResidentInfo]
    plates: Mapping[str, PlateInfo]
    credentials: Mapping[str, Holder]
    passes: Mapping[str, PassInfo]
    texts: Mapping[str, str]
    data: Mapping[str, Any]

    @classmethod
    def from_snapshot(cls, data: Any) -> Policy:
        """Check every entry once, here, so `decide` never meets a malformed one."""
        _need(isinstance(data, dict), "snapshot must be a JSON object")
        _need(data.get("schema") == SCHEMA, f"schema must be {SCHEMA}")
        version = data.get("version")
        _need(
            isinstance(version, int) and not isinstance(version, bool) and version >= 0,
            "version must be a non-negative integer",
        )
        community = _text(data.get("community"), "community", empty=False)
        try:
            tz = ZoneInfo(_text(data.get("tz", "UTC"), "tz", empty=False))
        except (ZoneInfoNotFoundError, ValueError):
            raise PolicyError("tz must be an IANA time zone name") from None
        qr_key = _text(data.get("qr_key", ""), "qr_key")
        try:
            bytes.fromhex(qr_key)
        except ValueError:
            raise PolicyError("qr_key must be hex") from None

        devices = {}
        for key, item in _map(data, "devices").items():
            _need(isinstance(item, dict), f"device {key} must be an object")
            devices[key] = DeviceInfo(
                _text(item.get("kind"), f"device {key} kind", empty=False),
                _text(item.get("building", ""), f"device {key} building"),
                _text(item.get("unit", ""), f"device {key} unit"),
            )
        residents = {}
        for key, item in _map(data, "residents").items():
            _need(isinstance(item, dict), f"resident {key} must be an object")
            residents[key] = ResidentInfo(
                _homes(item.get("homes", []), f"resident {key} homes"),
                _day(item.get("fees_due_since"), f"resident {key} fees_due_since"),
            )
        plates = {}
        for key, item in _map(data, "plates").items():
            _need(isinstance(item, dict), f"plate {key} must be an object")
            plates[normalize_plate(key)] = PlateInfo(
                _text(item.get("resident"), f"plate {key} resident", empty=False),
                _day(item.get("lease_until"), f"plate {key} lease_until"),
            )
        credentials = {}
        for key, item in _map(data, "credentials").items():
            _need(isinstance(item, dict), f"credential {key} must be an object")
            resident, staff = item.get("resident"), item.get("staff")
            _need(
                (resident is None) != (staff is None),
                f"credential {key} names exactly one resident or staff",
            )
            credentials[key] = Holder(
                None if resident is None else _text(resident, f"credential {key} resident"),
                None if staff is None else _text(staff, f"credential {key} staff"),
            )
        passes = {}
        for key, item in _map(data, "passes").items():
            _need(isinstance(item, dict), f"pass {key} must be an object")
            passes[key] = PassInfo(
                _number(item.get("valid_from"), f"pass {key} valid_from"),
                _number(item.get("valid_to"), f"pass {key} valid_to"),
                _homes(item.get("homes", []), f"pass {key} homes"),
            )
        texts = {k: _text(v, f"text {k}") for k, v in _map(data, "texts").items()}
        return cls(
            community,
            version,
            tz,
            qr_key,
            devices,
            residents,
            plates,
            credentials,
            passes,
            texts,
            data,
        )

    def text(self, key: str) -> str:
        """A display text rendered by the server; empty when the snapshot lacks it."""
        return self.texts.get(key, "")

    def local_date(self, now: float) -> date:
        return datetime.fromtimestamp(now, self.tz).date()


# ---- deltas ---------------------------------------------------------------------------------


def diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """The delta that turns snapshot `old` into `new` (entries set or deleted per section)."""
    changes: dict[str, Any] = {
        "schema": SCHEMA,
        "community": new["community"],
        "base_version": old["version"],
        "version": new["version"],
        "issued_at": new.get("issued_at"),
        "set": {},
        "delete": {},
        "scalars": {},
    }
    for section in SECTIONS:
        before, after = old.get(section, {}), new.get(section, {})
        upserts = {k: v for k, v in after.items() if before.get(k) != v}
        removed = sorted(k for k in before if k not in after)
        if upserts:
            changes["set"][section] = upserts
        if removed:
            changes["delete"][section] = removed
    for name in SCALARS:
        if old.get(name) != new.get(name):
            changes["scalars"][name] = new.get(name)
    return changes


def apply_delta(snapshot: Mapping[str, Any], delta: Any) -> dict[str, Any]:
    """A new snapshot: `snapshot` with `delta` applied; PolicyError if it does not fit."""
    _need(isinstance(delta, dict), "delta must be a JSON object")
    _need(delta.get("base_version") == snapshot.get("version"), "delta base is another version")
    version = delta.get("version")
    _need(isinstance(version, int) and not isinstance(version, bool), "delta version missing")
    sets, deletes, scalars = (_map(delta, "set"), _map(delta, "delete"), _map(delta, "scalars"))
    result: dict[str, Any] = dict(snapshot)
    for section in SECTIONS:
        entries = dict(snapshot.get(section, {}))
        removed = deletes.get(section, [])
        _need(isinstance(removed, list), f"delete.{section} must be a list")
        for key in removed:
            entries.pop(key, None)
        upserts = sets.get(section, {})
        _need(isinstance(upserts, dict), f"set.{section} must be an object")
        entries.update(upserts)
        result[section] = entries
    for name, value in scalars.items():
        _need(name in SCALARS, f"unknown scalar {name}")
        result[name] = value
    result["version"] = version
    result["issued_at"] = delta.get("issued_at")
    return result


# ---- requests and decisions ----------------------------------------------------------------


@dataclass(frozen=True)
class Credential:
    type: str
    value: str


@dataclass(frozen=True)
class AccessRequest:
    """A device asking whether to let someone through; `floor` is set by elevator readers."""

    request_id: str
    device_id: str
    credential: Credential
    ts: float
    floor: int | None = None


@dataclass(frozen=True)
class Decision:
    """The answer to one request. `reason` is for the event log; `display` for the screen."""

    request_id: str
    allow: bool
    mode: str
    display: str
    reason: str
    floors: tuple[int, ...] | None = None  # elevators: floors unlocked; None = no restriction

    def payload(self, ts: float) -> dict[str, Any]:
        """The `decision` message of CONTRACT.md (plus `floors` for elevators)."""
        body: dict[str, Any] = {
            "request_id": self.request_id,
            "allow": self.allow,
            "mode": self.mode,
            "display": self.display,
            "ts": ts,
        }
        if self.floors is not None:
            body["floors"] = list(self.floors)
        return body


def decide(
    request: AccessRequest, policy: Policy | None, now: float, *, fire: bool = False
) -> Decision:
    """Allow or refuse `request` at time `now` (unix seconds) from `policy`."""
    rid = request.request_id
    if fire:
        # GB 55024-2022 §5.3.6: on a fire signal every exit opens, whoever asks.
        return Decision(rid, True, "emergency", policy.text("emergency") if policy else "", "fire")
    if policy is None:
        return Decision(rid, False, "unknown", "", "no_policy")
    device = policy.devices.get(request.device_id)
    credential = request.credential
    if credential.type == "plate":
        plate = policy.plates.get(normalize_plate(credential.value))
        if plate is not None:
            return _resident(policy, request, device, plate.resident, now, plate=plate)
    elif credential.type == "qr":
        resident = read_resident_qr(policy.qr_key, credential.value, now)
        if resident is not None:
            return _resident(policy, request, device, resident, now)
    else:
        holder = policy.credentials.get(credential_key(credential.type, credential.value))
        if holder is not None and holder.staff is not None:
            return Decision(rid, True, "staff", policy.text("staff"), "staff")
        if holder is not None and holder.resident is not None:
            return _resident(policy, request, device, holder.resident, now)
    visitor = policy.passes.get(credential_key(credential.type, credential.value))
    if visitor is not None:
        return _visitor(policy, request, device, visitor, now)
    return Decision(rid, False, "unknown", policy.text("unknown"), "unknown")


def _scope(
    request: AccessRequest, device: DeviceInfo | None, homes: tuple[Home, ...]
) -> tuple[str | None, tuple[int, ...] | None]:
    """(refusal reason or None, elevator floors) for someone living at `homes`.

    A unit door opens for its own building and unit; an elevator for its building, on the
    lobby and the person's own floors. Gates and devices the policy does not describe open for
    every resident: refusing a resident wrongly is the worse mistake.
    """
    if device is None or not device.building:
        return None, None
    here = [h for h in homes if h.building == device.building]
    if device.kind == ELEVATOR:
        if not here:
            return "not_this_door", None
        floors = tuple(sorted({LOBBY_FLOOR} | {h.floor for h in here if h.floor is not None}))
        if request.floor is not None and request.floor not in floors:
            return "floor_not_allowed", floors
        return None, floors
    if device.kind == "unit_door" and not any(
        not device.unit or h.unit == device.unit for h in here
    ):
        return "not_this_door", None
    return None, None


def _resident(
    policy: Policy,
    request: AccessRequest,
    device: DeviceInfo | None,
    resident_id: str,
    now: float,
    *,
    plate: PlateInfo | None = None,
) -> Decision:
    rid = request.request_id
    info = policy.residents.get(resident_id, ResidentInfo((), None))
    if plate is None:
        refusal, floors = _scope(request, device, info.homes)
        if refusal is not None:
            return Decision(rid, False, "resident", policy.text("no_access"), refusal, floors)
    else:
        floors = None
    today = policy.local_date(now)
    if plate is not None and (plate.lease_until is None or today > plate.lease_until):
        # An expired parking lease makes a temporary (pay per entry) car, never a refused one.
        return Decision(rid, True, "temporary", policy.text("temporary"), "lease_expired")
    if info.fees_due_since is not None and today > info.fees_due_since:
        # Civil Code art. 944: arrears may show a reminder, never keep a resident out.
        return Decision(
            rid, True, "resident", policy.text("resident_reminder"), "arrears_reminder", floors
        )
    return Decision(rid, True, "resident", policy.text("resident"), "resident", floors)


def _visitor(
    policy: Policy,
    request: AccessRequest,
    device: DeviceInfo | None,
    visitor: PassInfo,
    now: float,
) -> Decision:
    rid = request.request_id
    if not visitor.valid_from <= now <= visitor.valid_to:
        return Decision(rid, False, "visitor", policy.text("pass_invalid"), "pass_outside_window")
    if not visitor.homes:
        return Decision(rid, True, "visitor", policy.text("visitor"), "visitor")
    refusal, floors = _scope(request, device, visitor.homes)
    if refusal is not None:
        return Decision(rid, False, "visitor", policy.text("no_access"), refusal, floors)
    return Decision(rid, True, "visitor", policy.text("visitor"), "visitor", floors)
