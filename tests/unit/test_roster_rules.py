"""Pure roster rules (server/domain/roster.py): field parsers, row parsers, CSV line numbers."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from server.domain.roster import (
    ROSTER_COLUMNS,
    CommunityScope,
    RowError,
    header_problem,
    parse_amount,
    parse_area,
    parse_building,
    parse_categories,
    parse_communities,
    parse_community_row,
    parse_csv_text,
    parse_date,
    parse_department_row,
    parse_device_id,
    parse_device_kind,
    parse_device_row,
    parse_lat,
    parse_lng,
    parse_openid,
    parse_period,
    parse_phone,
    parse_plate,
    parse_radius,
    parse_relation,
    parse_role,
    parse_room,
    parse_unit,
)


@pytest.mark.parametrize(
    "raw",
    [
        "13812345678",
        "+8613812345678",
        "+86 138 1234 5678",
        "138-1234-5678",
        "0086 13812345678",
        "8613812345678",
        " 13812345678 ",
        "１３８１２３４５６７８",
    ],
)
def test_phone_written_in_common_ways_normalises_to_11_digits(raw):
    assert parse_phone(raw) == "13812345678"


@pytest.mark.parametrize("raw", ["1381234567", "12812345678", "0571-88886666", "abc", "+1 415 555"])
def test_phone_that_is_not_a_mainland_mobile_is_rejected(raw):
    with pytest.raises(RowError, match="is not a mainland mobile number"):
        parse_phone(raw)


def test_empty_phone_is_rejected():
    with pytest.raises(RowError, match="phone is empty"):
        parse_phone("  ")


def test_empty_openid_is_none_not_empty_string():
    assert parse_openid("") is None
    assert parse_openid(" o_demo_resident_001 ") == "o_demo_resident_001"


def test_openid_with_spaces_inside_is_rejected():
    with pytest.raises(RowError, match="openid 'o demo' is not an openid"):
        parse_openid("o demo")


@pytest.mark.parametrize(
    ("parse", "good", "bad"),
    [
        (parse_relation, "Owner", "friend"),
        (parse_role, "customer_service", "boss"),
        (parse_device_kind, "fire_panel", "toaster"),
    ],
)
def test_closed_vocabularies_accept_known_words_only(parse, good, bad):
    assert parse(good) == good.lower()
    with pytest.raises(RowError, match=f"'{bad}' is not one of"):
        parse(bad)


def test_categories_are_split_deduplicated_and_ordered_as_written():
    assert parse_categories("water; drains;;water;Doors") == ("water", "drains", "doors")
    assert parse_categories("") == ()


def test_unknown_category_is_named():
    with pytest.raises(RowError, match="unknown task category 'plumbing'"):
        parse_categories("water;plumbing")


def test_coordinates_in_china_are_accepted():
    assert parse_lat("30.287180") == pytest.approx(30.28718)
    assert parse_lng("120.131920") == pytest.approx(120.13192)


@pytest.mark.parametrize(
    ("parse", "raw"),
    [
        (parse_lat, "120.13"),  # lat and lng swapped
        (parse_lat, "-30.2"),
        (parse_lng, "30.28"),
        (parse_lng, "nan"),
        (parse_lat, "inf"),
    ],
)
def test_coordinates_outside_china_are_rejected(parse, raw):
    with pytest.raises(RowError):
        parse(raw)


@pytest.mark.parametrize("raw", ["0", "-5", "12.5", "abc", "50000"])
def test_radius_must_be_a_positive_whole_number_of_metres(raw):
    with pytest.raises(RowError, match="radius_m"):
        parse_radius(raw)


def test_amounts_keep_fen_and_allow_zero():
    assert parse_amount("161.1") == Decimal("161.10")
    assert parse_amount("0") == Decimal("0.00")
    assert parse_amount("1,800.00") == Decimal("1800.00")


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("-0.01", "is negative"),
        ("1.005", "more than 2 decimals"),
        ("12元", "is not a number"),
        ("NaN", "is not a number"),
        ("1e12", "too large"),
    ],
)
def test_bad_amounts_are_rejected_with_reason(raw, reason):
    with pytest.raises(RowError, match=reason):
        parse_amount(raw, "amount_paid")


def test_area_must_be_more_than_zero():
    assert parse_area("89.5") == Decimal("89.50")
    with pytest.raises(RowError, match="must be more than 0"):
        parse_area("0")


def test_due_date_must_be_iso():
    assert parse_date("2026-01-15") == date(2026, 1, 15)
    for raw in ("2026/01/15", "2026-1-15", "2026-02-30", "20260115"):
        with pytest.raises(RowError, match="not an ISO date"):
            parse_date(raw)


@pytest.mark.parametrize("raw", ["2026", "2026-03", "2026Q3", "2026q3"])
def test_periods_are_years_months_or_quarters(raw):
    assert parse_period(raw) == raw.upper()


@pytest.mark.parametrize("raw", ["2026-13", "2026Q5", "26-03", "March"])
def test_other_periods_are_rejected(raw):
    with pytest.raises(RowError, match="is not a period"):
        parse_period(raw)


def test_door_labels_are_ascii_and_upper_case():
    assert parse_building("５") == "5"
    assert parse_building(" a ") == "A"
    assert parse_unit("2") == "2"
    assert parse_room("B-302") == "B-302"


@pytest.mark.parametrize("raw", ["5号楼", "3/02", "3 02"])
def test_door_label_with_words_or_punctuation_is_rejected(raw):
    with pytest.raises(RowError, match=f"room '{raw}' is not a label as written on the door"):
        parse_room(raw)


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("浙A·12345", "浙A12345"),
        ("浙a 12345", "浙A12345"),
        ("浙A-D12345", "浙AD12345"),
        ("沪B1234学", "沪B1234学"),
        ("", None),
    ],
)
def test_plates_are_stored_without_separators(raw, stored):
    assert parse_plate(raw) == stored


@pytest.mark.parametrize("raw", ["A12345", "浙12345", "浙A123", "浙A1234567"])
def test_malformed_plates_are_rejected(raw):
    with pytest.raises(RowError, match="is not a mainland licence plate"):
        parse_plate(raw)


def test_device_id_cannot_carry_mqtt_topic_characters():
    assert parse_device_id("cuiyuan-b5-u2-door") == "cuiyuan-b5-u2-door"
    for raw in ("gate/1", "gate+", "gate#"):
        with pytest.raises(RowError, match="device_id"):
            parse_device_id(raw)


def test_communities_star_means_all_and_codes_are_sorted():
    assert parse_communities("*") == CommunityScope(all_communities=True)
    assert parse_communities("jinse; cuiyuan;jinse") == CommunityScope(False, ("cuiyuan", "jinse"))
    with pytest.raises(RowError, match="communities is empty"):
        parse_communities(" ; ")


def test_row_parser_reports_every_bad_field_at_once():
    values = dict.fromkeys(ROSTER_COLUMNS["communities.csv"], "x")
    values.update(code="cuiyuan", lat="91", radius_m="0")

    with pytest.raises(RowError) as caught:
        parse_community_row(values)

    assert str(caught.value) == (
        "lat '91' is outside China (3..54); lng 'x' is not a number; "
        "radius_m '0' is not a whole number of metres (1..20000)"
    )


def test_department_cannot_be_its_own_parent():
    with pytest.raises(RowError, match="parent 'hq' is the department itself"):
        parse_department_row(
            {"code": "hq", "name": "总部", "kind": "internal", "handles": "", "parent": "hq"}
        )


def test_unit_door_needs_building_and_unit():
    row = {
        "community": "cuiyuan",
        "device_id": "d1",
        "kind": "unit_door",
        "building": "5",
        "unit": "",
        "lat": "",
        "lng": "",
    }
    with pytest.raises(RowError, match=r"unit is empty \(a unit_door needs one\)"):
        parse_device_row(row)


def test_device_needs_both_coordinates_or_neither():
    row = {
        "community": "cuiyuan",
        "device_id": "g1",
        "kind": "vehicle_gate",
        "building": "",
        "unit": "",
        "lat": "30.28",
        "lng": "",
    }
    with pytest.raises(RowError, match="lat and lng must both be given"):
        parse_device_row(row)


def test_header_problem_names_missing_and_unknown_columns_in_any_order():
    expected = ROSTER_COLUMNS["rooms.csv"]
    assert header_problem(expected, ["room", "unit", "building", "community", "area_m2"]) is None
    assert header_problem(expected, ["community", "building", "unit", "room", "size"]) == (
        "header: missing column(s) area_m2; unknown column(s) 'size'; "
        "expected community,building,unit,room,area_m2; file skipped"
    )


def test_csv_rows_carry_the_physical_line_they_start_on():
    text = '\ufeffa,b\n1,2\n\n"multi\nline",3\n4\n5,6\n'

    table = parse_csv_text(text, ("a", "b"))

    assert table.problem is None
    assert [(row.line, row.values["a"]) for row in table.rows] == [
        (2, "1"),
        (4, "multi\nline"),
        (7, "5"),
    ]
    assert table.bad_rows == [(6, "expected 2 fields, found 1")]


def test_csv_with_an_unterminated_quote_is_skipped_as_a_whole():
    table = parse_csv_text('a,b\n1,2\n3,"4\n', ("a", "b"))

    assert table.problem is not None
    assert table.problem.startswith("unreadable CSV")
    assert (table.problem_line, table.rows, table.row_count) == (3, [], 2)


def test_empty_file_is_a_problem():
    assert parse_csv_text("", ("a",)).problem == "file is empty; expected a header a"
