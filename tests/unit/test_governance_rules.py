"""Pure rules of issue 9: change values, ownership, facility codes, masking, chat wording."""

from __future__ import annotations

import pytest

from bot.change_dialogue import Proposal, parse_decision, parse_proposal
from bot.nlu import normalize
from server.domain.changes import (
    ChangeInvalid,
    check_facility_values,
    check_resident_values,
    next_codes,
    owner_of,
    parse_facility_row,
    subscribers_of,
)
from server.domain.privacy import mask_field, mask_name, mask_phone, mask_phones_in, may_see_phone
from server.domain.roster import RowError


def test_new_codes_follow_the_highest_number_used():
    assert next_codes("street_lamp", ["lamp-001", "lamp-007", "cam-009", "lamp-x"], 2) == [
        "lamp-008",
        "lamp-009",
    ]
    assert next_codes("camera", [], 1) == ["cam-001"]


def test_facility_values_are_checked():
    assert check_facility_values({"kind": "street_lamp", "location": " 东门 ", "count": 2}) == {
        "kind": "street_lamp",
        "location": "东门",
        "count": 2,
    }
    for bad, code in (
        ({"kind": "lamp"}, "bad_kind"),
        ({"kind": "pump", "count": 0}, "bad_count"),
        ({"kind": "pump", "count": 51}, "bad_count"),
        ({"kind": "pump", "lat": 30.2}, "bad_position"),
        ({"kind": "pump", "lat": 91.0, "lng": 120.0}, "bad_position"),
        ({"kind": "pump", "colour": "red"}, "bad_field"),
        ({"kind": "pump", "count": 2, "code": "pump-9"}, "bad_count"),
    ):
        with pytest.raises(ChangeInvalid) as refused:
            check_facility_values(bad)
        assert refused.value.code == code, bad
    with pytest.raises(ChangeInvalid):
        check_facility_values({}, partial=True)


def test_resident_values_are_checked():
    assert check_resident_values({"phone": "138-1111-2222"}) == {"phone": "13811112222"}
    assert check_resident_values({"relation": "tenant", "room_id": 3}) == {
        "relation": "tenant",
        "room_id": 3,
    }
    for bad in (
        {"phone": "12345"},
        {"relation": "friend", "room_id": 1},
        {"relation": "owner"},
        {},
    ):
        with pytest.raises(ChangeInvalid):
            check_resident_values(bad)


def test_owner_and_subscribers():
    owners = {"street_lamp": "engineering", "*": "service"}
    assert owner_of("street_lamp", owners) == "engineering"
    assert owner_of("camera", owners) == "service"
    with pytest.raises(ChangeInvalid):
        owner_of("camera", {})
    subs = {"street_lamp": ["security", "engineering"], "*": ["hq"]}
    assert subscribers_of("street_lamp", "engineering", subs) == ["engineering", "security", "hq"]


def test_facility_rows_report_every_fault():
    row = {
        "community": "cuiyuan",
        "code": "lamp-001",
        "kind": "street_lamp",
        "name": "东门路灯1",
        "location": "东门",
        "building": "",
        "lat": "30.28",
        "lng": "120.13",
    }
    assert parse_facility_row(row)["lat"] == 30.28
    with pytest.raises(RowError) as bad:
        parse_facility_row({**row, "community": "", "code": "a b", "kind": "lamp"})
    assert str(bad.value).count(";") == 2


def test_masking():
    assert mask_phone("13800001234") == "138****1234"
    assert mask_name("欧阳娜娜") == "欧***"
    assert mask_field("reporter_phone", "13800001234") == "138****1234"
    assert mask_phones_in("call 13800001234 now") == "call 138****1234 now"
    assert may_see_phone("customer_service") and may_see_phone("manager")
    assert not any(may_see_phone(r) for r in ("staff", "lead", "data_admin", "resident", "guest"))


@pytest.mark.parametrize(
    ("said", "expected"),
    [
        ("东门新增路灯2盏", Proposal("add_facility", "street_lamp", "东门", 2)),
        ("东门新增两盏路灯", Proposal("add_facility", "street_lamp", "东门", 2)),
        ("北门加装摄像头", Proposal("add_facility", "camera", "北门", 1)),
        ("报废路灯 lamp-003", Proposal("retire_facility", "street_lamp", code="lamp-003")),
        ("东门的路灯坏了", None),
        ("通知工程部修路灯", None),
    ],
)
def test_proposals_in_chat(said, expected):
    assert parse_proposal(normalize(said)) == expected


def test_decisions_in_chat():
    assert parse_decision(normalize("同意变更 C12")) == (True, "C12", "")
    assert parse_decision(normalize("驳回变更C12，原因是位置不对")) == (False, "C12", "位置不对")
    assert parse_decision(normalize("同意 T1042")) is None
