"""import-roster (server/actions/roster.py) against a real database: demo estate, idempotence,
bad rows, updates and all-or-nothing files."""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from tortoise import connections
from tortoise.exceptions import OperationalError

from server.actions.roster import import_roster
from server.db.estate import Building, Community, Device, Room, Unit
from server.db.fees import FeeRow
from server.db.people import Department, Resident, RoomBinding, Staff, Vehicle
from server.domain.roster import IMPORT_ORDER, ROLES
from server.settings import ROOT

DEMO_DIR = ROOT / "config" / "demo"
TABLES = (
    "communities",
    "buildings",
    "units",
    "rooms",
    "devices",
    "residents",
    "room_bindings",
    "vehicles",
    "departments",
    "staff",
    "staff_communities",
    "fee_rows",
)

# A small valid estate; each test appends or changes lines. `hq` comes after the department
# that names it as parent on purpose.
MINI = {
    "communities.csv": [
        "code,name,city,district,address,lat,lng,radius_m",
        "cuiyuan,翠苑小区,杭州市,西湖区,文三路翠苑一区,30.287180,120.131920,350",
        "jinse,金色家园,杭州市,拱墅区,湖墅南路金色家园,30.283350,120.157240,280",
    ],
    "departments.csv": [
        "code,name,kind,handles,parent",
        "engineering,工程维修部,internal,water;drains;doors,hq",
        "hq,安居物业服务有限公司,internal,,",
    ],
    "rooms.csv": [
        "community,building,unit,room,area_m2",
        "cuiyuan,5,2,302,89.50",
        "cuiyuan,5,2,301,76.00",
    ],
    "residents.csv": [
        "community,building,unit,room,name,phone,openid,relation,plate",
        "cuiyuan,5,2,302,林晓燕,13957100302,o_demo_resident_001,owner,浙A·12345",
        "cuiyuan,5,2,301,林晓燕,13957100302,,owner,",
        "cuiyuan,5,2,302,陈宇航,+86 139-5710-0303,,family,",
    ],
    "staff.csv": [
        "employee_no,name,phone,openid,department,role,communities",
        "E1001,张建国,13864591222,o_demo_staff_001,engineering,staff,cuiyuan",
        "M0001,陈志强,15024350210,o_demo_staff_003,hq,manager,*",
    ],
    "fees.csv": [
        "community,building,unit,room,period,item,amount_due,amount_paid,due_date",
        "cuiyuan,5,2,302,2026-01,property_fee,161.10,161.10,2026-01-15",
        "cuiyuan,5,2,302,2026-02,property_fee,161.10,0.00,2026-02-15",
        "cuiyuan,5,2,301,2026-01,property_fee,136.80,136.80,2026-01-15",
    ],
    "devices.csv": [
        "community,device_id,kind,building,unit,lat,lng",
        "cuiyuan,cuiyuan-gate-n,vehicle_gate,,,30.289280,120.131920",
        "cuiyuan,cuiyuan-b5-u2-door,unit_door,5,2,,",
    ],
}


def write_roster(directory: Path, files: dict[str, list[str]]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, lines in files.items():
        (directory / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return directory


def mini(**changes: list[str]) -> dict[str, list[str]]:
    """MINI with whole files replaced: mini(rooms_csv=[...])."""
    files = {name: list(lines) for name, lines in MINI.items()}
    for key, lines in changes.items():
        files[key.replace("_csv", ".csv")] = lines
    return files


def data_rows(path: Path) -> int:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return sum(1 for row in csv.reader(fh) if any(row)) - 1


async def dump() -> dict[str, list[dict[str, Any]]]:
    conn = connections.get("default")
    return {t: await conn.execute_query_dict(f"SELECT * FROM {t} ORDER BY 1, 2") for t in TABLES}


async def resident_of(community: str, building: str, unit: str, room: str) -> list[Resident]:
    bindings = await RoomBinding.filter(
        room__community__code=community,
        room__unit__building__name=building,
        room__unit__name=unit,
        room__number=room,
    ).prefetch_related("resident")
    return [b.resident for b in bindings]


# --- the shipped demo estate -------------------------------------------------------------------


async def test_demo_estate_imports_without_problems(database_url):
    report = await import_roster(DEMO_DIR)

    assert report.problems == []
    for name in IMPORT_ORDER:
        rows = data_rows(DEMO_DIR / name)
        assert report.counts[name] == {
            "created": rows,
            "updated": 0,
            "unchanged": 0,
            "rejected": 0,
        }, name


async def test_demo_story_resident_in_5_2_302_has_an_openid(database_url):
    await import_roster(DEMO_DIR)

    people = await resident_of("cuiyuan", "5", "2", "302")
    assert "o_demo_resident_001" in {p.openid for p in people}


async def test_demo_estate_has_staff_of_every_role_with_openids(database_url):
    await import_roster(DEMO_DIR)

    staff = await Staff.all()
    assert {s.role for s in staff} == set(ROLES)
    assert all(s.openid and s.openid.startswith("o_demo_staff_") for s in staff)
    assert any(s.all_communities for s in staff)


async def test_importing_the_same_files_twice_changes_nothing(database_url):
    await import_roster(DEMO_DIR)
    before = await dump()

    again = await import_roster(DEMO_DIR)

    assert again.changed == 0
    assert all(c["created"] == 0 and c["updated"] == 0 for c in again.counts.values())
    assert await dump() == before


# --- bad rows ----------------------------------------------------------------------------------

ROLE_LIST = "staff, lead, manager, assessor, billing, data_admin, customer_service"
BAD_ROWS = {
    "bad_phone": (
        "residents.csv",
        "cuiyuan,5,2,301,王伟,1234567,,tenant,",
        "phone '1234567' is not a mainland mobile number",
    ),
    "unknown_community": ("rooms.csv", "xx,1,1,101,80.00", "unknown community 'xx'"),
    "bad_relation": (
        "residents.csv",
        "cuiyuan,5,2,301,王伟,13800001111,,friend,",
        "relation 'friend' is not one of owner, family, tenant",
    ),
    "unknown_role": (
        "staff.csv",
        "E9001,王伟,13800001111,,engineering,boss,cuiyuan",
        f"role 'boss' is not one of {ROLE_LIST}",
    ),
    "duplicate_key": ("rooms.csv", "cuiyuan,5,2,302,90.00", "duplicate of line 2 (same room)"),
    "bad_amount": (
        "fees.csv",
        "cuiyuan,5,2,301,2026-02,property_fee,-5,0.00,2026-02-15",
        "amount_due '-5' is negative",
    ),
    "three_decimals": (
        "fees.csv",
        "cuiyuan,5,2,301,2026-02,property_fee,5.005,0,2026-02-15",
        "amount_due '5.005' has more than 2 decimals",
    ),
    "bad_coordinate": (
        "communities.csv",
        "far,远方,杭州市,西湖区,某路,91.0,120.1,300",
        "lat '91.0' is outside China (3..54)",
    ),
    "bad_date": (
        "fees.csv",
        "cuiyuan,5,2,301,2026-02,property_fee,5,0,15/02/2026",
        "due_date '15/02/2026' is not an ISO date (YYYY-MM-DD)",
    ),
    "unknown_room": (
        "fees.csv",
        "cuiyuan,5,2,999,2026-02,property_fee,5,0,2026-02-15",
        "unknown room 5-2-999 in community 'cuiyuan' (rooms come from rooms.csv)",
    ),
    "unknown_category": (
        "departments.csv",
        "gardens,绿化部,internal,trees,hq",
        "handles: unknown task category 'trees' (known: water, drains, "
        "electricity, lights, elevator, doors, gas, structure, public_area, "
        "cleaning, security, parking, noise, other)",
    ),
    "unknown_parent": (
        "departments.csv",
        "gardens,绿化部,internal,cleaning,nowhere",
        "unknown parent department 'nowhere'",
    ),
    "unknown_department": (
        "staff.csv",
        "E9001,王伟,13800001111,,gardens,staff,cuiyuan",
        "unknown department 'gardens'",
    ),
    "bad_device_kind": (
        "devices.csv",
        "cuiyuan,cuiyuan-x,toaster,,,,",
        "kind 'toaster' is not one of vehicle_gate, unit_door, elevator, fire_panel",
    ),
    "too_few_fields": ("rooms.csv", "cuiyuan,5,2", "expected 5 fields, found 3"),
    "two_faults": (
        "communities.csv",
        "far,远方,杭州市,西湖区,某路,30.1,200,-3",
        "lng '200' is outside China (73..136); radius_m '-3' is not a whole number "
        "of metres (1..20000)",
    ),
}


@pytest.mark.parametrize("case", BAD_ROWS.values(), ids=BAD_ROWS.keys())
async def test_bad_row_is_reported_with_file_line_and_reason_and_good_rows_load(
    database_url, tmp_path, case
):
    file, bad_line, reason = case
    files = mini()
    files[file].append(bad_line)
    line = len(files[file])

    report = await import_roster(write_roster(tmp_path, files))

    assert report.problems == [f"{file}:{line}: {reason}"]
    good = len(MINI[file]) - 1
    assert report.counts[file] == {"created": good, "updated": 0, "unchanged": 0, "rejected": 1}


async def test_header_missing_a_column_skips_the_file_with_one_problem(database_url, tmp_path):
    files = mini(
        devices_csv=[
            "community,device_id,kind,building,lat,lng",
            "cuiyuan,cuiyuan-gate-n,vehicle_gate,,30.2892,120.1319",
        ]
    )

    report = await import_roster(write_roster(tmp_path, files))

    assert report.problems == [
        "devices.csv:1: header: missing column(s) unit; expected "
        "community,device_id,kind,building,unit,lat,lng; file skipped"
    ]
    assert report.counts["devices.csv"]["rejected"] == 1
    assert await Device.all().count() == 0
    assert await FeeRow.all().count() == 3  # the other files loaded


async def test_rows_of_a_rejected_community_are_reported_as_unknown(database_url, tmp_path):
    files = mini()
    files["communities.csv"][1] = files["communities.csv"][1].replace("350", "0")

    report = await import_roster(write_roster(tmp_path, files))

    assert report.problems[0] == (
        "communities.csv:2: radius_m '0' is not a whole number of metres (1..20000)"
    )
    assert "rooms.csv:2: unknown community 'cuiyuan'" in report.problems
    assert await Room.all().count() == 0


async def test_openid_given_to_two_phones_rejects_the_second(database_url, tmp_path):
    files = mini()
    files["residents.csv"].append("cuiyuan,5,2,301,王伟,13800001111,o_demo_resident_001,tenant,")

    report = await import_roster(write_roster(tmp_path, files))

    assert report.problems == [
        "residents.csv:5: openid 'o_demo_resident_001' is also given to another phone on line 2"
    ]


async def test_two_names_for_one_phone_rejects_the_second(database_url, tmp_path):
    files = mini()
    files["residents.csv"][2] = "cuiyuan,5,2,301,林小燕,13957100302,,owner,"

    report = await import_roster(write_roster(tmp_path, files))

    assert report.problems == ["residents.csv:3: phone 13957100302 is named '林晓燕' on line 2"]


async def test_department_parent_cycle_is_rejected(database_url, tmp_path):
    files = mini(
        departments_csv=[
            "code,name,kind,handles,parent",
            "a,甲,internal,,b",
            "b,乙,internal,,a",
            "hq,总部,internal,,",
            "engineering,工程维修部,internal,water,hq",
        ]
    )

    report = await import_roster(write_roster(tmp_path, files))

    assert report.problems[:2] == [
        "departments.csv:2: parent 'b' makes a cycle: a -> b -> a",
        "departments.csv:3: parent 'a' makes a cycle: b -> a -> b",
    ]
    assert sorted(await Department.all().values_list("code", flat=True)) == ["engineering", "hq"]


async def test_file_with_an_unknown_name_is_reported(database_url, tmp_path):
    files = mini()
    files["resident.csv"] = files.pop("residents.csv")

    report = await import_roster(write_roster(tmp_path, files))

    assert report.problems[0].startswith("resident.csv:1: unknown roster file, not loaded")


async def test_missing_directory_raises_file_not_found(database_url, tmp_path):
    with pytest.raises(FileNotFoundError):
        await import_roster(tmp_path / "nowhere")


# --- what lands in the database -----------------------------------------------------------------


async def test_mini_estate_lands_with_normalised_values(database_url, tmp_path):
    report = await import_roster(write_roster(tmp_path, mini()))

    assert report.problems == []
    family = await Resident.get(name="陈宇航")
    assert family.phone == "13957100303"
    assert family.openid is None
    vehicle = await Vehicle.get().prefetch_related("resident", "community")
    assert (vehicle.plate, vehicle.resident.phone, vehicle.community.code) == (
        "浙A12345",
        "13957100302",
        "cuiyuan",
    )
    assert await Building.all().count() == 1
    assert await Unit.all().count() == 1


async def test_resident_on_several_rows_is_bound_to_each_room(database_url, tmp_path):
    await import_roster(write_roster(tmp_path, mini()))

    owner = await Resident.get(phone="13957100302")
    rooms = await RoomBinding.filter(resident=owner).values_list("room__number", "relation")
    assert sorted(rooms) == [("301", "owner"), ("302", "owner")]


async def test_department_parent_may_be_defined_later_in_the_file(database_url, tmp_path):
    await import_roster(write_roster(tmp_path, mini()))

    engineering = await Department.get(code="engineering").prefetch_related("parent")
    assert engineering.parent is not None
    assert engineering.parent.code == "hq"
    assert engineering.handles == "water;drains;doors"


async def test_staff_star_means_all_communities_and_codes_are_replaced(database_url, tmp_path):
    await import_roster(write_roster(tmp_path, mini()))
    files = mini()
    files["staff.csv"][1] = "E1001,张建国,13864591222,o_demo_staff_001,engineering,staff,jinse"
    files["staff.csv"][2] = "M0001,陈志强,15024350210,o_demo_staff_003,hq,manager,cuiyuan;jinse"

    report = await import_roster(write_roster(tmp_path, files))

    assert report.counts["staff.csv"]["updated"] == 2
    worker = await Staff.get(employee_no="E1001").prefetch_related("communities")
    manager = await Staff.get(employee_no="M0001").prefetch_related("communities")
    assert [c.code for c in worker.communities] == ["jinse"]
    assert not manager.all_communities
    assert sorted(c.code for c in manager.communities) == ["cuiyuan", "jinse"]


async def test_changed_name_and_amount_paid_are_updated(database_url, tmp_path):
    await import_roster(write_roster(tmp_path, mini()))
    files = mini()
    files["residents.csv"][3] = "cuiyuan,5,2,302,陈宇杭,13957100303,,family,"
    files["fees.csv"][2] = "cuiyuan,5,2,302,2026-02,property_fee,161.10,161.10,2026-02-15"

    report = await import_roster(write_roster(tmp_path, files))

    assert report.counts["residents.csv"] == {
        "created": 0,
        "updated": 1,
        "unchanged": 2,
        "rejected": 0,
    }
    assert report.counts["fees.csv"] == {"created": 0, "updated": 1, "unchanged": 2, "rejected": 0}
    assert (await Resident.get(phone="13957100303")).name == "陈宇杭"
    fee = await FeeRow.get(period="2026-02")
    assert fee.amount_paid == Decimal("161.10")


async def test_empty_openid_keeps_the_openid_already_bound(database_url, tmp_path):
    await import_roster(write_roster(tmp_path, mini()))
    await Resident.filter(phone="13957100303").update(openid="o_bound_in_chat")

    report = await import_roster(write_roster(tmp_path, mini()))

    assert report.changed == 0
    assert (await Resident.get(phone="13957100303")).openid == "o_bound_in_chat"


async def test_utf8_bom_is_accepted(database_url, tmp_path):
    write_roster(tmp_path, {"communities.csv": MINI["communities.csv"]})
    path = tmp_path / "communities.csv"
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())

    report = await import_roster(tmp_path)

    assert report.problems == []
    assert await Community.all().count() == 2


async def test_database_failure_mid_file_writes_nothing_from_that_file(
    database_url, tmp_path, monkeypatch
):
    saves = 0
    original = FeeRow.save

    async def failing_save(self: FeeRow, *args: Any, **kwargs: Any) -> None:
        nonlocal saves
        saves += 1
        if saves == 3:
            raise OperationalError("disk I/O error")
        await original(self, *args, **kwargs)

    monkeypatch.setattr(FeeRow, "save", failing_save)

    report = await import_roster(write_roster(tmp_path, mini()))

    assert report.problems == [
        "fees.csv:4: database error, nothing from this file was written "
        "(OperationalError: disk I/O error)"
    ]
    assert report.counts["fees.csv"]["rejected"] == 3
    assert await FeeRow.all().count() == 0
    assert await Device.all().count() == 2  # later files still load
