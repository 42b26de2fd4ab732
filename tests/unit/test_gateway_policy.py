"""The gateway's decision rule, snapshot deltas and payload checks (pure, no broker)."""

from __future__ import annotations

import itertools
import json
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from hardware_gateway.messages import (
    MAX_DEVICE_BYTES,
    MessageError,
    parse_command,
    parse_event_batch,
    parse_request,
)
from hardware_gateway.policy import (
    AccessRequest,
    Credential,
    Policy,
    PolicyError,
    apply_delta,
    decide,
    diff,
    normalize_plate,
    resident_qr,
)
from hardware_gateway.sync_topics import SyncKind, SyncTopics

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 20, 10, 0, tzinfo=TZ).timestamp()
KEY = "00" * 32
TEXTS = {
    "resident": "welcome home",
    "resident_reminder": "welcome home, fees due",
    "temporary": "lease expired, pay per entry",
    "visitor": "welcome visitor",
    "pass_invalid": "pass not valid now",
    "staff": "staff",
    "unknown": "not registered",
    "no_access": "no access here",
    "emergency": "fire: evacuate",
}


def snapshot(**overrides: object) -> dict[str, object]:
    data: dict[str, object] = {
        "schema": 1,
        "community": "alpha",
        "version": 5,
        "tz": "Asia/Shanghai",
        "qr_key": KEY,
        "devices": {
            "gate": {"kind": "vehicle_gate", "building": "", "unit": ""},
            "door-5-2": {"kind": "unit_door", "building": "5", "unit": "2"},
            "door-5-1": {"kind": "unit_door", "building": "5", "unit": "1"},
            "lift-5": {"kind": "elevator", "building": "5", "unit": ""},
        },
        "residents": {
            "1": {"homes": [{"building": "5", "unit": "2", "floor": 3}], "fees_due_since": None},
        },
        "plates": {"浙AF48431": {"resident": "1", "lease_until": "2026-12-31"}},
        "credentials": {"card:C1": {"resident": "1"}, "card:S1": {"staff": "7"}},
        "passes": {
            "qr:V1": {
                "valid_from": NOW - 3600,
                "valid_to": NOW + 3600,
                "homes": [{"building": "5", "unit": "2", "floor": 3}],
            },
        },
        "texts": TEXTS,
    }
    data.update(overrides)
    return data


def ask(
    policy: Policy | None,
    device: str,
    kind: str,
    value: str,
    *,
    floor: int | None = None,
    now: float = NOW,
    fire: bool = False,
):  # type: ignore[no-untyped-def]
    request = AccessRequest("r1", device, Credential(kind, value), now, floor)
    return decide(request, policy, now, fire=fire)


def with_resident(fees_due_since: str | None = None, lease_until: str | None = "2026-12-31"):  # type: ignore[no-untyped-def]
    return Policy.from_snapshot(
        snapshot(
            residents={
                "1": {
                    "homes": [{"building": "5", "unit": "2", "floor": 3}],
                    "fees_due_since": fees_due_since,
                }
            },
            plates={"浙AF48431": {"resident": "1", "lease_until": lease_until}},
        )
    )


def test_resident_plate_with_paid_lease_enters_as_resident() -> None:
    decision = ask(with_resident(), "gate", "plate", "浙AF48431")
    assert (decision.allow, decision.mode, decision.display) == (True, "resident", "welcome home")


def test_expired_parking_lease_enters_as_temporary_with_a_prompt() -> None:
    decision = ask(with_resident(lease_until="2026-10-31"), "gate", "plate", "浙AF48431")
    assert (decision.allow, decision.mode) == (True, "temporary")
    assert decision.display == TEXTS["temporary"]


def test_car_without_any_parking_lease_enters_as_temporary() -> None:
    decision = ask(with_resident(lease_until=None), "gate", "plate", "浙AF48431")
    assert (decision.allow, decision.mode) == (True, "temporary")


def test_lease_is_valid_through_its_last_local_day() -> None:
    last_evening = datetime(2026, 12, 31, 23, 30, tzinfo=TZ).timestamp()
    next_morning = datetime(2027, 1, 1, 0, 30, tzinfo=TZ).timestamp()
    policy = with_resident()
    assert ask(policy, "gate", "plate", "浙AF48431", now=last_evening).mode == "resident"
    assert ask(policy, "gate", "plate", "浙AF48431", now=next_morning).mode == "temporary"


def test_resident_in_arrears_is_let_in_with_a_reminder() -> None:
    decision = ask(with_resident(fees_due_since="2026-09-15"), "door-5-2", "card", "C1")
    assert (decision.allow, decision.mode) == (True, "resident")
    assert decision.display == TEXTS["resident_reminder"]


def test_fees_not_yet_due_show_no_reminder() -> None:
    decision = ask(with_resident(fees_due_since="2026-12-15"), "door-5-2", "card", "C1")
    assert decision.display == TEXTS["resident"]


def test_staff_card_enters_as_staff_anywhere() -> None:
    policy = Policy.from_snapshot(snapshot())
    for device in ("gate", "door-5-1", "lift-5"):
        decision = ask(policy, device, "card", "S1")
        assert (decision.allow, decision.mode) == (True, "staff"), device


def test_visitor_pass_inside_its_window_is_allowed() -> None:
    decision = ask(Policy.from_snapshot(snapshot()), "door-5-2", "qr", "V1")
    assert (decision.allow, decision.mode) == (True, "visitor")


@pytest.mark.parametrize("offset", [-7200, +7200])
def test_visitor_pass_outside_its_window_is_refused(offset: int) -> None:
    decision = ask(Policy.from_snapshot(snapshot()), "door-5-2", "qr", "V1", now=NOW + offset)
    assert (decision.allow, decision.mode) == (False, "visitor")
    assert decision.display == TEXTS["pass_invalid"]


@pytest.mark.parametrize(
    "kind,value", [("plate", "沪A00000"), ("card", "nope"), ("qr", "x"), ("face", "f1")]
)
def test_unknown_credential_is_refused_as_unknown(kind: str, value: str) -> None:
    decision = ask(Policy.from_snapshot(snapshot()), "gate", kind, value)
    assert (decision.allow, decision.mode, decision.display) == (False, "unknown", "not registered")


def test_without_any_policy_the_gateway_refuses_as_unknown() -> None:
    decision = ask(None, "gate", "plate", "浙AF48431")
    assert (decision.allow, decision.mode) == (False, "unknown")


def test_resident_card_unlocks_the_lobby_and_own_floor_in_the_elevator() -> None:
    decision = ask(with_resident(fees_due_since="2026-01-15"), "lift-5", "card", "C1")
    assert decision.allow and decision.floors == (1, 3)
    assert decision.payload(NOW)["floors"] == [1, 3]


def test_elevator_refuses_a_floor_the_resident_does_not_live_on() -> None:
    assert ask(with_resident(), "lift-5", "card", "C1", floor=3).allow
    decision = ask(with_resident(), "lift-5", "card", "C1", floor=9)
    assert (decision.allow, decision.reason) == (False, "floor_not_allowed")


def test_resident_card_does_not_open_another_units_door() -> None:
    decision = ask(with_resident(), "door-5-1", "card", "C1")
    assert (decision.allow, decision.reason) == (False, "not_this_door")


FEE_STATES = [None, "2026-12-15", "2026-11-15", "2025-01-15"]  # none, not yet due, overdue, old
LEASE_STATES = ["2026-12-31", "2026-10-31", None]  # paid, expired, never


def test_no_resident_is_ever_refused_whatever_the_arrears() -> None:
    """Civil Code art. 944: fees never keep a resident out of estate, building or elevator."""
    for fees, lease in itertools.product(FEE_STATES, LEASE_STATES):
        policy = with_resident(fees_due_since=fees, lease_until=lease)
        token = resident_qr(KEY, "1", int(NOW) + 60)
        overdue = fees is not None and fees < "2026-11-20"
        for device, kind, value, floor in [
            ("gate", "plate", "浙A·F48431", None),
            ("gate", "card", "C1", None),
            ("door-5-2", "card", "C1", None),
            ("door-5-2", "qr", token, None),
            ("lift-5", "card", "C1", 3),
            ("lift-5", "qr", token, 1),
        ]:
            decision = ask(policy, device, kind, value, floor=floor)
            case = (fees, lease, device, kind)
            assert decision.allow, case
            assert decision.mode in ("resident", "temporary"), case
            if kind != "plate":
                assert decision.display == TEXTS["resident_reminder" if overdue else "resident"]


def test_fire_lets_everyone_through_as_emergency() -> None:
    policy = Policy.from_snapshot(snapshot())
    for device, kind, value in [
        ("gate", "plate", "沪A00000"),
        ("door-5-1", "card", "C1"),
        ("lift-5", "qr", "V1"),
    ]:
        decision = ask(policy, device, kind, value, fire=True)
        assert (decision.allow, decision.mode) == (True, "emergency")
    assert ask(None, "gate", "card", "x", fire=True).allow


def test_resident_qr_token_opens_until_it_expires() -> None:
    policy = with_resident()
    token = resident_qr(KEY, "1", int(NOW) + 300)
    assert ask(policy, "door-5-2", "qr", token).mode == "resident"
    assert ask(policy, "door-5-2", "qr", token, now=NOW + 301).mode == "unknown"


def test_forged_resident_qr_token_is_unknown() -> None:
    forged = resident_qr("11" * 32, "1", int(NOW) + 300)
    assert ask(with_resident(), "door-5-2", "qr", forged).mode == "unknown"


@pytest.mark.parametrize("spelling", ["浙A·F48431", "浙AF48431", "浙a f48431", "浙Ａ-Ｆ48431"])
def test_plate_spellings_from_cameras_and_rosters_match(spelling: str) -> None:
    assert normalize_plate(spelling) == "浙AF48431"
    assert ask(with_resident(), "gate", "plate", spelling).mode == "resident"


def test_delta_turns_the_old_snapshot_into_the_new_one() -> None:
    old = snapshot()
    new = snapshot(
        version=6,
        plates={"沪B1": {"resident": "1", "lease_until": None}},
        passes={},
        tz="Asia/Urumqi",
    )
    delta = diff(old, new)
    assert delta["delete"] == {"plates": ["浙AF48431"], "passes": ["qr:V1"]}
    applied = apply_delta(old, json.loads(json.dumps(delta)))
    assert {k: v for k, v in applied.items() if k != "issued_at"} == new


def test_delta_for_another_base_version_is_refused() -> None:
    delta = diff(snapshot(version=3), snapshot(version=4))
    with pytest.raises(PolicyError):
        apply_delta(snapshot(version=5), delta)


@pytest.mark.parametrize(
    "bad",
    [
        {"schema": 2},
        {"version": "7"},
        {"tz": "Mars/Olympus"},
        {"plates": {"X": {"lease_until": "2026-01-01"}}},
        {"plates": {"X": {"resident": "1", "lease_until": "soon"}}},
        {"credentials": {"card:X": {"resident": "1", "staff": "2"}}},
        {"passes": {"qr:X": {"valid_from": "today", "valid_to": 1}}},
        {"residents": {"1": {"homes": [{"building": "5", "unit": "2", "floor": "3"}]}}},
    ],
)
def test_malformed_snapshot_is_refused(bad: dict[str, object]) -> None:
    with pytest.raises(PolicyError):
        Policy.from_snapshot(snapshot(**bad))


GOOD_REQUEST = {"request_id": "r1", "credential": {"type": "card", "value": "C1"}, "ts": 1}


@pytest.mark.parametrize(
    "payload",
    [
        b"{not json",
        b"\xff\xfe",
        b"[1, 2]",
        json.dumps({**GOOD_REQUEST, "request_id": None}).encode(),
        json.dumps({**GOOD_REQUEST, "credential": "C1"}).encode(),
        json.dumps({**GOOD_REQUEST, "credential": {"type": "iris", "value": "x"}}).encode(),
        json.dumps({**GOOD_REQUEST, "credential": {"type": "card", "value": 12}}).encode(),
        json.dumps({**GOOD_REQUEST, "ts": "now"}).encode(),
        json.dumps({**GOOD_REQUEST, "ts": True}).encode(),
        json.dumps({**GOOD_REQUEST, "floor": 2.5}).encode(),
        json.dumps({**GOOD_REQUEST, "pad": "x" * MAX_DEVICE_BYTES}).encode(),
    ],
    ids=[
        "bad-json",
        "not-utf8",
        "not-object",
        "no-id",
        "credential-not-object",
        "bad-type",
        "value-not-string",
        "ts-string",
        "ts-bool",
        "floor-float",
        "oversized",
    ],
)
def test_malformed_request_is_rejected(payload: bytes) -> None:
    with pytest.raises(MessageError):
        parse_request(payload, "gate")


def test_well_formed_request_is_read() -> None:
    request = parse_request(json.dumps({**GOOD_REQUEST, "floor": 3}).encode(), "lift-5")
    assert request == AccessRequest("r1", "lift-5", Credential("card", "C1"), 1.0, 3)


@pytest.mark.parametrize(
    "command",
    [
        {"command_id": "c1", "device_id": "*", "action": "open", "expires_at": 9, "ts": 1},
        {"command_id": "c1", "device_id": "a/b", "action": "open", "expires_at": 9, "ts": 1},
        {"command_id": "c1", "device_id": "gate", "action": "explode", "expires_at": 9, "ts": 1},
        {"command_id": "c1", "device_id": "*", "action": "restore", "expires_at": 9, "ts": 1},
        {"command_id": "c1", "device_id": "gate", "action": "open", "ts": 1},
    ],
)
def test_malformed_command_is_rejected(command: dict[str, object]) -> None:
    with pytest.raises(MessageError):
        parse_command(json.dumps(command).encode())


def test_event_batch_with_a_bad_event_is_rejected_whole() -> None:
    good = {"event_id": "e1", "kind": "plate_seen", "at": 1.0}
    assert len(parse_event_batch(json.dumps({"batch_id": "b", "events": [good]})).events) == 1
    with pytest.raises(MessageError):
        parse_event_batch(json.dumps({"batch_id": "b", "events": [good, {**good, "at": "x"}]}))


def test_sync_topics_round_trip() -> None:
    topics = SyncTopics("wuye_t1")
    assert topics.parse(topics.policy("alpha")) == ("alpha", SyncKind.POLICY, "")
    assert topics.parse(topics.policy_delta("alpha")) == ("alpha", SyncKind.DELTA, "")
    assert topics.parse(topics.events_ack("alpha", "gw")) == ("alpha", SyncKind.EVENTS_ACK, "gw")
    with pytest.raises(ValueError):
        topics.events("alpha", "policy")
    with pytest.raises(ValueError):
        topics.parse("wuye/alpha/gateway/policy")
