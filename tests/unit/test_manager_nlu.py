"""Managers' chat words: instructions to departments, deadlines, questions, opinions, orders."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from bot.manager_nlu import (
    DepartmentName,
    asks_done,
    asks_late,
    asks_progress,
    department_aliases,
    parse_instruction,
    parse_opinion,
    parse_task_order,
)
from bot.nlu import normalize
from bot.timeparse import find_deadline

SHANGHAI = ZoneInfo("Asia/Shanghai")
WEDNESDAY_10 = datetime(2026, 11, 18, 10, 0, tzinfo=SHANGHAI)
DEMO = [  # config/demo/departments.csv
    DepartmentName(1, "engineering", "工程维修部"),
    DepartmentName(2, "elevator_co", "恒升电梯维保有限公司"),
    DepartmentName(3, "cleaning", "环境保洁部"),
    DepartmentName(4, "security", "秩序维护部"),
]
ALIASES = department_aliases(DEMO)


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=SHANGHAI)


@pytest.mark.parametrize(
    ("said", "department", "work", "deadline"),
    [
        ("通知工程部明天中午前把3号楼电梯修好", 1, "把3号楼电梯修好", at(19, 12)),
        ("通知工程部明天中午前把3号楼电梯修好。", 1, "把3号楼电梯修好", at(19, 12)),
        ("麻烦让保洁部今天下班前清理一下东门垃圾", 3, "清理一下东门垃圾", at(18, 18)),
        ("通知恒升电梯：尽快检修5号楼电梯", 2, "检修5号楼电梯", None),
        ("叫保安部的人晚上8点前去地库巡查", 4, "地库巡查", at(18, 20)),
        ("通知工程维修部周五前把水泵换掉", 1, "把水泵换掉", at(20, 18)),
        ("安排秩序维护部三天内处理东门停车", 4, "处理东门停车", at(21, 10)),
        ("通知工程部", 1, "", None),
    ],
)
def test_instructions_name_department_work_and_deadline(said, department, work, deadline):
    found = parse_instruction(normalize(said), ALIASES, WEDNESDAY_10)
    assert found is not None
    assert (found.department_id, found.work) == (department, work)
    assert (found.deadline.at if found.deadline else None) == deadline


@pytest.mark.parametrize(
    "said", ["工程部有哪些超时任务", "让我想想", "通知一下大家明天停水", "T1042 到哪了", "我的任务"]
)
def test_other_messages_are_not_instructions(said):
    assert parse_instruction(normalize(said), ALIASES, WEDNESDAY_10) is None


def test_a_name_two_departments_share_names_neither():
    both = [DepartmentName(1, "eng_a", "工程部"), DepartmentName(2, "eng_b", "工程维修部")]
    aliases = department_aliases(both)
    assert aliases["工程部"] == 1 and aliases["工程维修部"] == 2 and "维修部" not in aliases


@pytest.mark.parametrize(
    ("said", "expected"),
    [
        ("明天中午前", at(19, 12)),
        ("今天下班前", at(18, 18)),
        ("下午三点前", at(18, 15)),
        ("明天", at(19, 18)),
        ("周五前", at(20, 18)),
        ("两小时内", at(18, 12)),
        ("半小时内", at(18, 10, 30)),
        ("三天之内", at(21, 10)),
        ("月底前", at(30, 18)),
        ("今晚", at(18, 21)),
        ("明早8点前", at(19, 8)),
        ("11月25日前", at(25, 18)),
    ],
)
def test_deadlines(said, expected):
    found = find_deadline(normalize(said), WEDNESDAY_10)
    assert found is not None and found.at == expected


def test_a_time_already_past_today_means_tomorrow():
    found = find_deadline(normalize("中午前"), at(18, 15))
    assert found is not None and found.at == at(19, 12)


def test_a_day_already_past_is_no_deadline():
    assert find_deadline(normalize("今天中午前"), at(18, 15)) is None


def test_no_time_is_no_deadline():
    assert find_deadline(normalize("把3号楼电梯修好"), WEDNESDAY_10) is None


@pytest.mark.parametrize(
    ("said", "agree", "ref", "reason"),
    [
        ("同意 T1042", True, "T1042", ""),
        ("不同意T1042，价格太高", False, "T1042", "价格太高"),
        ("T1042 不同意 因为工期太长", False, "T1042", "工期太长"),
        ("同意", True, None, ""),
    ],
)
def test_opinions(said, agree, ref, reason):
    found = parse_opinion(normalize(said))
    assert found is not None and (found.agree, found.ref, found.reason) == (agree, ref, reason)


def test_a_message_without_an_opinion_word_is_no_opinion():
    assert parse_opinion(normalize("T1042 到哪了")) is None


@pytest.mark.parametrize(
    ("said", "command", "rest"),
    [
        ("T1042 指示：今天下班前必须处理完", "instruct", "今天下班前必须处理完"),
        ("返工 T1042 还在漏水", "rework", "还在漏水"),
        ("催办T1042", "urge", ""),
        ("评价 T1042 5分", "rate", "5分"),
    ],
)
def test_orders_on_a_task(said, command, rest):
    found = parse_task_order(normalize(said))
    assert found is not None and (found.command, found.ref, found.rest) == (command, "T1042", rest)


def test_questions():
    assert asks_late(normalize("工程部有哪些超时任务？"))
    assert asks_done(normalize("今天完成了多少"))
    assert asks_progress(normalize("T1042到哪了"))
    assert not asks_late(normalize("今天完成了多少"))
