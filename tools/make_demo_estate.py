"""Write the demo estate (config/demo/*.csv) that `make run` loads; deterministic, so re-running
it reproduces the committed files byte for byte.

    .venv/bin/python tools/make_demo_estate.py [OUT_DIR]

Two Hangzhou communities with GCJ-02 centres, ~220 rooms, residents (owners, family, tenants),
a property company's departments and staff of every role, 2026 property and parking fees with
~12% of households in arrears, and the site devices. The people the demo story uses are fixed
(see docs/roster.md); everyone else is drawn from a seeded random generator. All names, phone
numbers, plates and openids are invented.
"""

from __future__ import annotations

import csv
import random
import sys
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SEED = 20260101
OUT_DIR = ROOT / "config" / "demo"

# code, name, city, district, address, lat, lng (GCJ-02), radius_m, buildings, floors
COMMUNITIES = [
    (
        "cuiyuan",
        "翠苑小区",
        "杭州市",
        "西湖区",
        "文三路与学院路交叉口翠苑一区",
        30.287180,
        120.131920,
        350,
        6,
        6,
    ),
    ("jinse", "金色家园", "杭州市", "拱墅区", "湖墅南路金色家园", 30.283350, 120.157240, 280, 4, 5),
]
UNITS_PER_BUILDING = 2
ROOMS_PER_FLOOR = 2

# The demo story's people (docs/roster.md). The resident reports "5号楼2单元302卫生间漏水".
STORY_RESIDENT = ("cuiyuan", "5", "2", "302", "林晓燕", "13957100302", "o_demo_resident_001")
STORY_FAMILY = ("陈宇航", "13957100303")
# The story's staff keep fixed numbers too (mini-program login links by phone).
STORY_STAFF_PHONES = {"E1001": "13905710001", "E1002": "13905710002", "M0001": "13905710003"}

# code, name, kind, handles, parent
DEPARTMENTS = [
    ("hq", "安居物业服务有限公司", "internal", "", ""),
    (
        "engineering",
        "工程维修部",
        "internal",
        "water;drains;electricity;lights;gas;structure;doors",
        "hq",
    ),
    ("elevator_co", "恒升电梯维保有限公司", "contractor", "elevator", "hq"),
    ("service", "客户服务中心", "internal", "noise;other", "hq"),
    ("security", "秩序维护部", "internal", "security;parking", "hq"),
    ("cleaning", "环境保洁部", "internal", "cleaning;public_area", "hq"),
    ("billing", "财务收费部", "internal", "", "hq"),
    ("assessment", "品质考核部", "internal", "", "hq"),
]

# employee_no, name, department, role, communities; openids follow this order (001 = first).
STAFF = [
    ("E1001", "张建国", "engineering", "staff", "cuiyuan"),
    ("E1002", "李明", "engineering", "lead", "*"),
    ("M0001", "陈志强", "hq", "manager", "*"),
    ("E1003", "王磊", "engineering", "staff", "cuiyuan"),
    ("E1004", "赵强", "engineering", "staff", "jinse"),
    ("E1005", "刘洋", "engineering", "staff", "jinse"),
    ("M0002", "宋伟", "hq", "manager", "cuiyuan"),
    ("M0003", "唐丽", "hq", "manager", "jinse"),
    ("C2001", "孙浩", "elevator_co", "lead", "*"),
    ("C2002", "周杰", "elevator_co", "staff", "cuiyuan;jinse"),
    ("S3001", "何静", "service", "lead", "*"),
    ("S3002", "吴婷", "service", "customer_service", "cuiyuan"),
    ("S3003", "郑丽", "service", "customer_service", "jinse"),
    ("B4001", "马军", "security", "lead", "*"),
    ("B4002", "黄勇", "security", "staff", "cuiyuan"),
    ("B4003", "林峰", "security", "staff", "jinse"),
    ("H5001", "徐芳", "cleaning", "lead", "*"),
    ("H5002", "朱红", "cleaning", "staff", "cuiyuan"),
    ("H5003", "胡秀英", "cleaning", "staff", "jinse"),
    ("F6001", "高敏", "billing", "billing", "*"),
    ("F6002", "梁晨", "billing", "billing", "cuiyuan"),
    ("A7001", "罗斌", "assessment", "assessor", "*"),
    ("D8001", "邓佳", "hq", "data_admin", "*"),
]

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董"
    "袁潘蒋蔡余杜叶程魏苏吕丁沈任姚卢傅钟姜崔谭陆汪范金石廖贾夏韦方"
)
GIVEN = [
    "伟",
    "芳",
    "娜",
    "秀英",
    "敏",
    "静",
    "丽",
    "强",
    "磊",
    "军",
    "洋",
    "勇",
    "艳",
    "杰",
    "娟",
    "涛",
    "明",
    "超",
    "秀兰",
    "霞",
    "平",
    "刚",
    "桂英",
    "建华",
    "文博",
    "子涵",
    "欣怡",
    "浩然",
    "雨萱",
    "俊杰",
    "梓萱",
    "宇轩",
    "思远",
    "佳琪",
    "晓东",
    "海燕",
    "国平",
    "玉兰",
    "志刚",
    "丹",
    "红梅",
    "建平",
    "小龙",
    "婷婷",
    "嘉怡",
    "晨曦",
    "一鸣",
    "慧敏",
    "振华",
    "春燕",
]
PHONE_PREFIXES = ("138", "139", "150", "186")
PLATE_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"  # I and O are not used on plates

PROPERTY_FEE_PER_M2 = {"cuiyuan": Decimal("1.80"), "jinse": Decimal("2.60")}  # yuan/m²/month
PARKING_FEE = Decimal("1800.00")  # a year's surface parking lease
AREAS = ("58.60", "68.35", "74.20", "86.90", "89.50", "96.15", "105.80", "118.40", "126.75")
ARREARS_SHARE = 0.12


@dataclass
class Person:
    name: str
    phone: str
    openid: str = ""


class Estate:
    """Builds every table in memory from one seeded generator."""

    def __init__(self, seed: int = SEED) -> None:
        self.rng = random.Random(seed)
        self.phones: set[str] = {STORY_RESIDENT[5], STORY_FAMILY[1], *STORY_STAFF_PHONES.values()}
        self.names: set[str] = set()
        self.resident_openids = 1  # 001 is the story resident's
        self.communities: list[list[object]] = []
        self.rooms: list[list[object]] = []
        self.residents: list[list[object]] = []
        self.staff: list[list[object]] = []
        self.fees: list[list[object]] = []
        self.devices: list[list[object]] = []

    # -- people --------------------------------------------------------------------------------

    def phone(self) -> str:
        while True:
            number = self.rng.choice(PHONE_PREFIXES) + f"{self.rng.randrange(10**8):08d}"
            if number not in self.phones:
                self.phones.add(number)
                return number

    def name(self) -> str:
        while True:
            name = self.rng.choice(SURNAMES) + self.rng.choice(GIVEN)
            if name not in self.names:
                self.names.add(name)
                return name

    def person(self, *, with_openid: bool) -> Person:
        person = Person(self.name(), self.phone())
        if with_openid:
            self.resident_openids += 1
            person.openid = f"o_demo_resident_{self.resident_openids:03d}"
        return person

    def written_phone(self, phone: str, row_no: int) -> str:
        """Most numbers plain; a few as people type them, to show the import normalising them."""
        if row_no % 23 == 0:
            return f"+86 {phone[:3]}-{phone[3:7]}-{phone[7:]}"
        if row_no % 17 == 0:
            return f"{phone[:3]} {phone[3:7]} {phone[7:]}"
        return phone

    def plate(self) -> str:
        letter = self.rng.choice("ABCDEFGHJ")  # Hangzhou is 浙A; a few cars from nearby cities
        letter = "A" if self.rng.random() < 0.7 else letter
        if self.rng.random() < 0.2:  # new-energy plates have six characters after the letter
            tail = self.rng.choice("DF") + f"{self.rng.randrange(10**5):05d}"
        else:
            tail = "".join(  # mostly digits, as issued
                self.rng.choice(PLATE_LETTERS if self.rng.random() < 0.2 else "0123456789")
                for _ in range(5)
            )
        return f"浙{letter}·{tail}"

    # -- tables --------------------------------------------------------------------------------

    def build(self) -> None:
        for code, name, city, district, address, lat, lng, radius, buildings, floors in COMMUNITIES:
            self.communities.append(
                [code, name, city, district, address, f"{lat:.6f}", f"{lng:.6f}", radius]
            )
            self.build_community(code, lat, lng, buildings, floors)
        self.build_staff()
        plates = [(row[0], str(row[8]).replace("·", "")) for row in self.residents if row[8]]
        assert len(plates) == len(set(plates)), "a plate was drawn twice: change SEED"

    def build_community(
        self, code: str, lat: float, lng: float, buildings: int, floors: int
    ) -> None:
        gates = [("gate-n", lat + 0.0021, lng), ("gate-s", lat - 0.0019, lng + 0.0004)]
        for suffix, gate_lat, gate_lng in gates:
            self.devices.append(
                [
                    code,
                    f"{code}-{suffix}",
                    "vehicle_gate",
                    "",
                    "",
                    f"{gate_lat:.6f}",
                    f"{gate_lng:.6f}",
                ]
            )
        self.devices.append(
            [code, f"{code}-fire", "fire_panel", "", "", f"{lat:.6f}", f"{lng:.6f}"]
        )
        owners_with_two_rooms: list[Person] = []
        for building in range(1, buildings + 1):
            self.devices.append(
                [code, f"{code}-b{building}-lift", "elevator", building, "", "", ""]
            )
            for unit in range(1, UNITS_PER_BUILDING + 1):
                self.devices.append(
                    [code, f"{code}-b{building}-u{unit}-door", "unit_door", building, unit, "", ""]
                )
                for floor in range(1, floors + 1):
                    for door in range(1, ROOMS_PER_FLOOR + 1):
                        room = f"{floor}{door:02d}"
                        area = Decimal(self.rng.choice(AREAS))
                        self.rooms.append([code, building, unit, room, f"{area}"])
                        self.build_household(
                            code, str(building), str(unit), room, area, owners_with_two_rooms
                        )

    def build_household(
        self,
        code: str,
        building: str,
        unit: str,
        room: str,
        area: Decimal,
        owners_with_two_rooms: list[Person],
    ) -> None:
        address = [code, building, unit, room]
        story = tuple(address) == STORY_RESIDENT[:4]
        if story:
            owner = Person(STORY_RESIDENT[4], STORY_RESIDENT[5], STORY_RESIDENT[6])
        elif self.rng.random() < 0.08:
            return  # an unsold or empty flat: no one on the roster yet
        elif owners_with_two_rooms and self.rng.random() < 0.04:
            owner = owners_with_two_rooms.pop()  # owns a second flat here (and lets it out)
        else:
            owner = self.person(with_openid=self.rng.random() < 0.3)
            if self.rng.random() < 0.05:
                owners_with_two_rooms.append(owner)

        plate = self.plate() if self.rng.random() < 0.22 else ""
        rows: list[list[object]] = [
            [*address, owner.name, owner.phone, owner.openid, "owner", plate]
        ]
        let_out = not story and self.rng.random() < 0.1
        if story:
            rows.append([*address, STORY_FAMILY[0], STORY_FAMILY[1], "", "family", ""])
        elif let_out:
            tenant = self.person(with_openid=self.rng.random() < 0.4)
            rows.append([*address, tenant.name, tenant.phone, tenant.openid, "tenant", ""])
        elif self.rng.random() < 0.5:
            family = self.person(with_openid=self.rng.random() < 0.2)
            rows.append([*address, family.name, family.phone, family.openid, "family", ""])
        for row in rows:
            row[5] = self.written_phone(str(row[5]), len(self.residents) + 2)
            self.residents.append(row)
        self.build_fees(
            address,
            area,
            in_arrears=not story and self.rng.random() < ARREARS_SHARE,
            parking=bool(plate),
        )

    def build_fees(
        self, address: list[str], area: Decimal, *, in_arrears: bool, parking: bool
    ) -> None:
        monthly = (area * PROPERTY_FEE_PER_M2[address[0]]).quantize(Decimal("0.01"))
        # Arrears start some month between May and October and run on; a few paid part of it.
        stopped_paying = self.rng.randrange(5, 11) if in_arrears else 13
        part = Decimal(self.rng.choice(("0.00", "0.00", "0.50"))) if in_arrears else Decimal(1)
        for month in range(1, 13):
            paid = monthly if month < stopped_paying else (monthly * part).quantize(Decimal("0.01"))
            self.fees.append(
                [
                    *address,
                    f"2026-{month:02d}",
                    "property_fee",
                    f"{monthly}",
                    f"{paid}",
                    f"2026-{month:02d}-15",
                ]
            )
        if parking:
            paid = Decimal("0.00") if in_arrears else PARKING_FEE
            self.fees.append(
                [*address, "2026", "parking_fee", f"{PARKING_FEE}", f"{paid}", "2026-01-31"]
            )

    def build_staff(self) -> None:
        for n, (employee_no, name, department, role, communities) in enumerate(STAFF, 1):
            phone = STORY_STAFF_PHONES.get(employee_no) or self.phone()
            self.staff.append(
                [employee_no, name, phone, f"o_demo_staff_{n:03d}", department, role, communities]
            )


HEADERS = {
    "communities.csv": ["code", "name", "city", "district", "address", "lat", "lng", "radius_m"],
    "departments.csv": ["code", "name", "kind", "handles", "parent"],
    "rooms.csv": ["community", "building", "unit", "room", "area_m2"],
    "residents.csv": [
        "community",
        "building",
        "unit",
        "room",
        "name",
        "phone",
        "openid",
        "relation",
        "plate",
    ],
    "staff.csv": ["employee_no", "name", "phone", "openid", "department", "role", "communities"],
    "fees.csv": [
        "community",
        "building",
        "unit",
        "room",
        "period",
        "item",
        "amount_due",
        "amount_paid",
        "due_date",
    ],
    "devices.csv": ["community", "device_id", "kind", "building", "unit", "lat", "lng"],
}


def write(out_dir: Path) -> dict[str, int]:
    """Write every file; returns the number of data rows per file."""
    estate = Estate()
    estate.build()
    tables: dict[str, list[list[object]]] = {
        "communities.csv": estate.communities,
        "departments.csv": [list(d) for d in DEPARTMENTS],
        "rooms.csv": estate.rooms,
        "residents.csv": estate.residents,
        "staff.csv": estate.staff,
        "fees.csv": estate.fees,
        "devices.csv": estate.devices,
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, rows in tables.items():
        with (out_dir / name).open("w", encoding="utf-8", newline="") as fh:
            writer = csv.writer(fh, lineterminator="\n")
            writer.writerow(HEADERS[name])
            writer.writerows(rows)
    return {name: len(rows) for name, rows in tables.items()}


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else OUT_DIR
    for file, count in write(target).items():
        print(f"{target / file}: {count} rows")
