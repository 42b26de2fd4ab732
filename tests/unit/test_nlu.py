"""bot.nlu: accuracy over the utterance test set, and the edge cases of each helper."""

from __future__ import annotations

import dataclasses
from collections import Counter
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from bot import lexicon, nlu
from tests.bench import nlu_accuracy

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 18, 10, 0, tzinfo=SHANGHAI)  # a Wednesday morning


@pytest.fixture(scope="module")
def outcomes() -> list[nlu_accuracy.Outcome]:
    return nlu_accuracy.run()[0]


def _report(misses: list[nlu_accuracy.Outcome]) -> str:
    return "\n".join(nlu_accuracy.describe(o) for o in misses)


# ------------------------------------------------------------------ the test set


def test_test_set_has_at_least_80_utterances_covering_every_intent():
    _, cases = nlu_accuracy.load_cases()
    counts = Counter(case.intent for case in cases)
    assert len(cases) >= 80
    assert set(counts) == set(nlu.INTENTS)


def test_intent_accuracy_over_the_test_set_is_at_least_95_percent(outcomes):
    misses = [o for o in outcomes if not o.intent_ok]
    accuracy = 1 - len(misses) / len(outcomes)
    print(f"intent accuracy {accuracy:.1%}\n{_report(misses)}")
    assert accuracy >= 0.95, _report(misses)


def test_exact_slot_accuracy_over_the_test_set_is_at_least_90_percent(outcomes):
    misses = [o for o in outcomes if not o.slots_ok]
    accuracy = 1 - len(misses) / len(outcomes)
    print(f"exact-slot accuracy {accuracy:.1%}\n{_report(misses)}")
    assert accuracy >= 0.90, _report(misses)


def test_acceptance_sentence_is_a_normal_water_repair_in_room_5_2_302():
    parsed = nlu.parse("5号楼2单元302卫生间漏水了", now=NOW)
    assert parsed.intent == "report_repair"
    assert {k: parsed.slots[k] for k in ("building", "unit", "room", "category", "urgency")} == {
        "building": "5",
        "unit": "2",
        "room": "302",
        "category": "water",
        "urgency": "normal",
    }


# ------------------------------------------------------------------ normalize


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("５号楼２单元３０２", "5号楼2单元302"),
        ("5 号楼 2 单元 302", "5号楼2单元302"),
        ("三号楼二单元五零一室", "3号楼2单元501室"),
        ("十二号楼", "12号楼"),
        ("二十一楼", "21楼"),
        ("一千零二室", "1002室"),
        ("卫生间漏水了。", "卫生间漏水了"),
        ("马桶堵了😭😭", "马桶堵了"),
        ("电梯坏了！！！👍🏻", "电梯坏了"),
        ("电悌坏了", "电梯坏了"),
        ("下水到堵了", "下水道堵了"),
        ("5号楼2单原", "5号楼2单元"),
        ("卫生间露水", "卫生间漏水"),
        ("5—2—302", "5-2-302"),
        ("不满意，师傅迟到了", "不满意,师傅迟到了"),
    ],
)
def test_normalize_gives_one_spelling(text, expected):
    assert nlu.normalize(text) == expected


@pytest.mark.parametrize(
    "text", ["一般", "十分满意", "催一下", "快一点来", "等了两三天", "一直漏水"]
)
def test_normalize_leaves_numerals_that_are_not_numbers(text):
    assert nlu.normalize(text) == text


def test_normalize_keeps_two_spaced_numbers_apart():
    assert nlu.normalize("3号楼201 5点以后") == "3号楼201,5点以后"


# ------------------------------------------------------------------ parse_room

FULL_ROOM = {"building": "5", "unit": "2", "room": "302"}


@pytest.mark.parametrize(
    "text",
    [
        "5号楼2单元302",
        "5栋2单元302室",
        "5-2-302",
        "五号楼二单元三零二",
        "5幢2单元302",
        "5 号楼 2 单元 302",
        "５号楼２单元３０２",
        "5号楼，2单元，302",
        "我住5楼2单元302",
        "5号2单元302号",
        "5号楼2单原302",
    ],
)
def test_parse_room_reads_every_way_of_writing_an_address(text):
    assert nlu.parse_room(text) == FULL_ROOM


def test_parse_room_returns_a_partial_address_for_follow_up_questions():
    assert nlu.parse_room("5号楼") == {"building": "5"}
    assert nlu.parse_room("2单元") == {"unit": "2"}


def test_parse_room_takes_a_bare_room_number_as_the_answer_to_which_room():
    assert nlu.parse_room("302") == {"room": "302"}
    assert nlu.parse_room("1502室") == {"room": "1502"}


def test_parse_room_reads_a_floor_without_a_unit_as_a_floor():
    assert nlu.parse_room("我住二十一楼") == {"floor": "21"}


def test_parse_room_reads_a_lettered_building():
    assert nlu.parse_room("A座2单元1101") == {"building": "A", "unit": "2", "room": "1101"}


@pytest.mark.parametrize("text", ["电梯坏了", "1042号单", "T1042", "5分", "明天下午3点", ""])
def test_parse_room_returns_none_without_an_address(text):
    assert nlu.parse_room(text) is None


# ------------------------------------------------------------------ parse_phone


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("13812345678", "13812345678"),
        ("我的电话是138 1234 5678", "13812345678"),
        ("138-1234-5678", "13812345678"),
        ("+86 13812345678", "13812345678"),
        ("幺三八一二三四五六七八", "13812345678"),
        ("尾号1234", "1234"),
        ("手机尾号是 5678", "5678"),
        ("1234", "1234"),
    ],
)
def test_parse_phone_reads_a_mobile_or_its_last_four_digits(text, expected):
    assert nlu.parse_phone(text) == expected


@pytest.mark.parametrize("text", ["1381234567", "12812345678", "010-12345678", "电梯坏了", "12345"])
def test_parse_phone_refuses_what_is_not_a_mainland_mobile(text):
    assert nlu.parse_phone(text) is None


# ------------------------------------------------------------------ parse_score


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("5", (5, "")),
        ("5分", (5, "")),
        ("五星", (5, "")),
        ("满意", (5, "")),
        ("非常满意", (5, "")),
        ("十分满意", (5, "")),
        ("一般", (3, "")),
        ("不满意", (2, "")),
        ("很差", (1, "")),
        ("不满意 师傅迟到了", (2, "师傅迟到了")),
        ("3分吧，来得太晚了", (3, "来得太晚了")),
        ("师傅很专业，给五星好评", (5, "师傅很专业")),
        ("比较满意", (4, "")),
    ],
)
def test_parse_score_reads_score_and_comment(text, expected):
    assert nlu.parse_score(text) == expected


@pytest.mark.parametrize("text", ["6分", "0", "等了5分钟", "电梯坏了", ""])
def test_parse_score_returns_none_without_a_1_to_5_rating(text):
    assert nlu.parse_score(text) is None


def test_parse_score_prefers_an_explicit_number_to_words():
    assert nlu.parse_score("一般吧，给3星")[0] == 3
    assert nlu.parse_score("满意，4分")[0] == 4


# ------------------------------------------------------------------ parse_task_ref


@pytest.mark.parametrize(
    "text", ["T1042", "t1042", "1042号单", "单号1042", "工单 1042", "T1042进度", "催一下t1042"]
)
def test_parse_task_ref_reads_every_way_of_naming_a_task(text):
    assert nlu.parse_task_ref(text) == "T1042"


@pytest.mark.parametrize("text", ["5号楼2单元302", "13812345678", "5分", "电梯坏了"])
def test_parse_task_ref_returns_none_when_no_task_is_named(text):
    assert nlu.parse_task_ref(text) is None


# ------------------------------------------------------------------ parse: slots


def test_public_spot_is_a_place_with_its_building():
    slots = nlu.parse("3号楼电梯坏了", now=NOW).slots
    assert (slots["place_kind"], slots["place"], slots["building"]) == ("public", "3号楼电梯", "3")
    assert "room" not in slots


def test_public_spot_without_building_is_just_the_spot():
    slots = nlu.parse("东门路灯不亮", now=NOW).slots
    assert (slots["place_kind"], slots["place"], slots["category"]) == ("public", "东门", "lights")


def test_indoor_words_without_an_address_mark_a_home_report():
    assert nlu.parse("厨房水管漏水", now=NOW).slots["place_kind"] == "room"


@pytest.mark.parametrize(
    "text",
    [
        "厨房有煤气味",
        "燃气泄漏了",
        "电梯困人了",
        "有人被困在电梯里",
        "卫生间漏水漏到楼下了",
        "水渗到邻居家了",
        "家里停水了",
        "家里没水了",
        "停电了",
        "家里没电了",
    ],
)
def test_safety_and_outage_reports_are_urgent(text):
    parsed = nlu.parse(text, now=NOW)
    assert (parsed.intent, parsed.slots["urgency"]) == ("report_repair", "urgent")


@pytest.mark.parametrize(
    "text", ["卫生间漏水了", "客厅有个插座没电了", "燃气灶打不着火", "电梯有异响"]
)
def test_ordinary_faults_are_normal(text):
    assert nlu.parse(text, now=NOW).slots["urgency"] == "normal"


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("卫生间漏水", "water"),
        ("水管爆了", "water"),
        ("没水了", "water"),
        ("下水道堵了", "drains"),
        ("马桶堵了", "drains"),
        ("跳闸了", "electricity"),
        ("插座没电", "electricity"),
        ("路灯不亮", "lights"),
        ("电梯门关不上", "elevator"),
        ("门禁刷不开", "doors"),
        ("单元门坏了", "doors"),
        ("煤气灶打不着火", "gas"),
        ("墙面开裂", "structure"),
        ("屋顶渗水", "structure"),
        ("墙皮脱落", "structure"),
        ("绿化带的树枝断了", "public_area"),
    ],
)
def test_category_is_the_most_specific_trade(text, category):
    assert nlu.parse(text, now=NOW).slots["category"] == category


def test_description_is_the_text_without_the_address():
    slots = nlu.parse("5号楼2单元302 卫生间漏水了。", now=NOW).slots
    assert slots["description"] == "卫生间漏水了"


def test_visit_time_is_resolved_with_the_clock_given():
    slots = nlu.parse("卫生间漏水，明天下午3点以后有人在家", now=NOW).slots
    assert slots["visit_time"] == "明天下午3点以后"
    assert slots["visit_from"] == "2026-11-19T15:00:00+08:00"


def test_visit_time_without_a_clock_keeps_only_the_phrase():
    slots = nlu.parse("卫生间漏水，明天上午在家").slots
    assert slots["visit_time"] == "明天上午"
    assert "visit_from" not in slots


def test_any_time_is_marked_and_has_no_window():
    slots = nlu.parse("客厅灯坏了，随时都可以来", now=NOW).slots
    assert slots["visit_any"] == "1"
    assert "visit_from" not in slots


def test_a_time_that_is_not_about_a_visit_is_not_a_visit_time():
    assert "visit_time" not in nlu.parse("隔壁太吵了，中午都不让人休息", now=NOW).slots


def test_restart_is_a_dialogue_cancel_with_the_restart_slot():
    assert nlu.parse("重新开始") == nlu.Parsed("cancel_dialogue", {"restart": "1"}, 0.95)
    assert "restart" not in nlu.parse("算了").slots


def test_staff_command_with_a_bare_number_names_the_task():
    parsed = nlu.parse("接 1042")
    assert (parsed.intent, parsed.slots["task_ref"]) == ("accept_task", "T1042")


def test_correction_after_no_carries_the_new_address():
    parsed = nlu.parse("不对，是6号楼2单元301")
    assert parsed.intent == "deny"
    assert parsed.slots == {"building": "6", "unit": "2", "room": "301"}


def test_question_mark_alone_asks_for_help():
    assert nlu.parse("？").intent == "help"


def test_empty_message_is_unknown_with_zero_confidence():
    assert nlu.parse("  ") == nlu.Parsed("unknown", {}, 0.0)


def test_parsed_is_immutable():
    with pytest.raises(dataclasses.FrozenInstanceError):
        nlu.parse("你好").intent = "deny"  # type: ignore[misc]


def test_lexicon_files_are_read_once():
    nlu.parse("5号楼2单元302卫生间漏水了", now=NOW)
    before = lexicon.load.cache_info().misses
    for text in ("电梯坏了", "T1042进度", "五星", "明天下午来"):
        nlu.parse(text, now=NOW)
    assert lexicon.load.cache_info().misses == before


def test_a_rating_word_about_a_fault_stays_a_repair_report():
    parsed = nlu.parse("水压很差", now=NOW)
    assert (parsed.intent, parsed.slots["category"]) == ("report_repair", "water")


def test_rating_with_a_task_reference_keeps_the_comment_clean():
    slots = nlu.parse("T1042 5分 师傅很好").slots
    assert slots == {"task_ref": "T1042", "score": "5", "comment": "师傅很好"}


def test_a_lettered_building_is_written_as_a_block_in_the_place():
    assert nlu.parse("A座电梯坏了", now=NOW).slots["place"] == "A座电梯"
