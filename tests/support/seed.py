"""A tiny estate for tests that need people and places (the demo estate is for `make run`)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from server.api.tokens import issue_token
from server.db.estate import Building, Community, Device, Room, Unit
from server.db.people import Department, Resident, RoomBinding, Staff


@dataclass
class Estate:
    a: Community
    b: Community
    room_a: Room
    room_b: Room
    resident_a: Resident
    staff_a: Staff
    manager_all: Staff
    department: Department
    lead_a: Staff
    service_desk: Staff


async def seed_estate() -> Estate:
    a = await Community.create(
        code="alpha",
        name="阿尔法小区",
        city="杭州",
        district="西湖区",
        address="文一路1号",
        lat=30.2890,
        lng=120.1210,
        radius_m=300,
    )
    b = await Community.create(
        code="beta",
        name="贝塔家园",
        city="杭州",
        district="拱墅区",
        address="湖墅路2号",
        lat=30.3050,
        lng=120.1500,
        radius_m=300,
    )
    rooms = []
    for community in (a, b):
        building = await Building.create(community=community, name="5")
        unit = await Unit.create(building=building, name="2")
        rooms.append(
            await Room.create(
                community=community, unit=unit, number="302", area_m2=Decimal("89.50")
            )
        )
        await Device.create(
            community=community, device_id=f"{community.code}-gate-1", kind="vehicle_gate"
        )
    department = await Department.create(
        code="eng", name="工程部", kind="internal", handles="water;drains;electricity"
    )
    resident = await Resident.create(name="张伟", phone="13800001234", openid="o_res_a")
    await RoomBinding.create(resident=resident, room=rooms[0], relation="owner")
    await RoomBinding.create(
        resident=await Resident.create(name="李娜", phone="13900005678"),
        room=rooms[1],
        relation="owner",
    )
    staff_a = await Staff.create(
        employee_no="E001",
        name="王强",
        phone="13600000001",
        department=department,
        role="staff",
        openid="o_staff_a",
    )
    await staff_a.communities.add(a)
    manager = await Staff.create(
        employee_no="E002",
        name="赵敏",
        phone="13600000002",
        department=department,
        role="manager",
        all_communities=True,
    )
    lead = await Staff.create(
        employee_no="E003",
        name="钱工",
        phone="13600000003",
        department=department,
        role="lead",
        openid="o_lead_a",
    )
    await lead.communities.add(a)
    desk_department = await Department.create(code="cs", name="客服中心", kind="internal")
    desk = await Staff.create(
        employee_no="E004",
        name="孙丽",
        phone="13600000004",
        department=desk_department,
        role="customer_service",
        openid="o_desk",
        all_communities=True,
    )
    return Estate(a, b, rooms[0], rooms[1], resident, staff_a, manager, department, lead, desk)


def token_for(settings, kind: str, pid: int | None, openid: str = "o_test") -> str:  # type: ignore[no-untyped-def]
    return issue_token(settings.secret_key, {"kind": kind, "id": pid, "openid": openid}, 600)


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


@dataclass
class Supervision:
    """Issue 5's people on top of seed_estate: a manager in chat, a second department, and an
    external contractor (its lead answers for it, also as its manager)."""

    manager: Staff  # a company manager serving every estate, openid o_manager
    cleaning: Department
    cleaning_lead: Staff
    contractor: Department
    contractor_lead: Staff
    contractor_staff: Staff


async def seed_supervision(estate: Estate) -> Supervision:
    """Add the people instructions, transfers and contractor jobs need (see Supervision)."""
    hq = await Department.create(code="hq", name="物业公司", kind="internal")
    manager = await Staff.create(
        employee_no="M100",
        name="周总",
        phone="13600000100",
        department=hq,
        role="manager",
        openid="o_manager",
        all_communities=True,
    )
    cleaning = await Department.create(
        code="cleaning", name="保洁部", kind="internal", handles="cleaning;public_area"
    )
    cleaning_lead = await Staff.create(
        employee_no="E101",
        name="孙洁",
        phone="13600000101",
        department=cleaning,
        role="lead",
        openid="o_clean_lead",
    )
    await cleaning_lead.communities.add(estate.a)
    contractor = await Department.create(
        code="lift_co", name="恒升电梯维保有限公司", kind="contractor", handles="elevator"
    )
    contractor_lead = await Staff.create(
        employee_no="C201",
        name="孙浩",
        phone="13600000201",
        department=contractor,
        role="lead",
        openid="o_lift_lead",
    )
    contractor_staff = await Staff.create(
        employee_no="C202",
        name="周杰",
        phone="13600000202",
        department=contractor,
        role="staff",
        openid="o_lift_staff",
    )
    for person in (contractor_lead, contractor_staff):
        await person.communities.add(estate.a)
    return Supervision(
        manager, cleaning, cleaning_lead, contractor, contractor_lead, contractor_staff
    )
