"""Parse and check every MQTT payload the gateway and the server accept (stdlib only).

Anything on a broker may be malformed or hostile (issue 6, "MQTT security"): a payload is
size-checked before it is decoded, must be a JSON object, and every field is type-checked.
A bad one raises MessageError; callers log it and carry on, never crash their loop.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from hardware_gateway.policy import CREDENTIAL_TYPES, AccessRequest, Credential
from hardware_gateway.topics import check_level

MAX_DEVICE_BYTES = 4 * 1024  # requests, acks, states, fire signals
MAX_COMMAND_BYTES = 4 * 1024
MAX_POLICY_BYTES = 32 * 1024 * 1024
MAX_EVENT_BATCH_BYTES = 4 * 1024 * 1024
MAX_ID = 64
MAX_CREDENTIAL = 256
COMMAND_ACTIONS = ("open", "close", "release", "restore")
ALL_DEVICES = "*"


class MessageError(ValueError):
    """A payload that is not what the contract says; the message is dropped and logged."""


def load_object(payload: Any, max_bytes: int) -> dict[str, Any]:
    """Decode a JSON object payload no larger than `max_bytes`."""
    if isinstance(payload, str):
        payload = payload.encode()
    if not isinstance(payload, bytes | bytearray):
        raise MessageError("payload is not bytes")
    if len(payload) > max_bytes:
        raise MessageError(f"payload of {len(payload)} bytes is over {max_bytes}")
    try:
        value = json.loads(payload)
    except (UnicodeDecodeError, ValueError):
        raise MessageError("payload is not JSON") from None
    if not isinstance(value, dict):
        raise MessageError("payload is not a JSON object")
    return value


def text(obj: dict[str, Any], key: str, max_len: int = MAX_ID, *, required: bool = True) -> str:
    """A string field, non-empty when required, at most `max_len` characters."""
    value = obj.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value):
        raise MessageError(f"{key} must be a non-empty string")
    if len(value) > max_len:
        raise MessageError(f"{key} is longer than {max_len}")
    return value


def number(obj: dict[str, Any], key: str, *, required: bool = True) -> float | None:
    """A finite number field (booleans are not numbers here)."""
    value = obj.get(key)
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise MessageError(f"{key} must be a number")
    return float(value)


def flag(obj: dict[str, Any], key: str) -> bool:
    value = obj.get(key)
    if not isinstance(value, bool):
        raise MessageError(f"{key} must be true or false")
    return value


def parse_request(payload: Any, device_id: str) -> AccessRequest:
    """`devices/{id}/request`: `{"request_id", "credential": {"type", "value"}, "ts"}`."""
    obj = load_object(payload, MAX_DEVICE_BYTES)
    credential = obj.get("credential")
    if not isinstance(credential, dict):
        raise MessageError("credential must be an object")
    kind = text(credential, "type", 8)
    if kind not in CREDENTIAL_TYPES:
        raise MessageError(f"credential type {kind!r} is not one of {CREDENTIAL_TYPES}")
    floor = obj.get("floor")
    if floor is not None and (isinstance(floor, bool) or not isinstance(floor, int)):
        raise MessageError("floor must be an integer")
    return AccessRequest(
        request_id=text(obj, "request_id"),
        device_id=device_id,
        credential=Credential(kind, text(credential, "value", MAX_CREDENTIAL)),
        ts=number(obj, "ts") or 0.0,
        floor=floor,
    )


def parse_fire(payload: Any) -> bool:
    """`fire/{panel_id}`: `{"active": bool, "ts"}`; returns `active`."""
    obj = load_object(payload, MAX_DEVICE_BYTES)
    number(obj, "ts")
    return flag(obj, "active")


def parse_ack(payload: Any) -> tuple[str, bool]:
    """`devices/{id}/ack`: `{"command_id", "ok", "ts"}`; returns (command_id, ok)."""
    obj = load_object(payload, MAX_DEVICE_BYTES)
    return text(obj, "command_id"), flag(obj, "ok")


@dataclass(frozen=True)
class DeviceState:
    online: bool
    kind: str


def parse_state(payload: Any) -> DeviceState | None:
    """`devices/{id}/state` (retained): `{"online", "kind"?...}`; None for a cleared one."""
    if payload in (b"", "", None):
        return None  # an empty retained payload deletes the retained state (MQTT 3.1.1 §3.3.1.3)
    obj = load_object(payload, MAX_DEVICE_BYTES)
    return DeviceState(flag(obj, "online"), text(obj, "kind", 32, required=False))


@dataclass(frozen=True)
class Command:
    """A server -> gateway command; `device_id` `*` means every door and gate."""

    command_id: str
    device_id: str
    action: str
    expires_at: float
    issued_by: str
    ts: float


def parse_command(payload: Any) -> Command:
    """`gateway/commands`: command_id, device_id, action, expires_at, issued_by, ts."""
    obj = load_object(payload, MAX_COMMAND_BYTES)
    action = text(obj, "action", 16)
    if action not in COMMAND_ACTIONS:
        raise MessageError(f"action {action!r} is not one of {COMMAND_ACTIONS}")
    device_id = text(obj, "device_id")
    if device_id == ALL_DEVICES:
        if action not in ("release", "restore"):
            raise MessageError(f"{action} needs one device, not {ALL_DEVICES}")
    else:
        try:
            check_level(device_id, "device_id")
        except ValueError as exc:
            raise MessageError(str(exc)) from None
    issued_by = text(obj, "issued_by", required=action == "restore")
    return Command(
        command_id=text(obj, "command_id"),
        device_id=device_id,
        action=action,
        expires_at=number(obj, "expires_at") or 0.0,
        issued_by=issued_by,
        ts=number(obj, "ts") or 0.0,
    )


def parse_events_ack(payload: Any) -> str:
    """`gateway/{id}/events/ack`: `{"batch_id", "ts"}`; returns the batch id."""
    return text(load_object(payload, MAX_DEVICE_BYTES), "batch_id")


@dataclass(frozen=True)
class EventBatch:
    batch_id: str
    events: list[dict[str, Any]]


EVENT_FIELDS = {
    "event_id": MAX_ID,
    "kind": 24,
    "device_id": MAX_ID,
    "request_id": MAX_ID,
    "credential_type": 8,
    "credential": MAX_CREDENTIAL,
    "mode": 12,
    "reason": 32,
}


def parse_event_batch(payload: Any) -> EventBatch:
    """`gateway/{id}/events`: `{"batch_id", "events": [...], "ts"}` with every event checked."""
    obj = load_object(payload, MAX_EVENT_BATCH_BYTES)
    events = obj.get("events")
    if not isinstance(events, list):
        raise MessageError("events must be a list")
    checked = []
    for event in events:
        if not isinstance(event, dict):
            raise MessageError("every event must be an object")
        for key, limit in EVENT_FIELDS.items():
            text(event, key, limit, required=key in ("event_id", "kind"))
        number(event, "at")
        if event.get("allow") is not None:
            flag(event, "allow")
        checked.append(event)
    return EventBatch(text(obj, "batch_id"), checked)
