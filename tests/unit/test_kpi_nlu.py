"""KPI questions in chat: which measure, period, department, or the asker's own."""

from __future__ import annotations

import pytest

from bot.manager_nlu import KpiQuestion, parse_kpi_question

ALIASES = {"工程部": 1, "工程": 1, "客服部": 2, "客服": 2}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("本月工程部及时率", KpiQuestion("timely_ratio", "month", False, 1, False)),
        ("我的完成率", KpiQuestion("completion_ratio", "month", False, None, True)),
        ("上周客服部满意度", KpiQuestion("mean_score", "week", True, 2, False)),
        ("今天工程部到场及时率", KpiQuestion("checkin_on_time_ratio", "day", False, 1, False)),
        ("去年返工率", KpiQuestion("rework_rate", "year", True, None, False)),
    ],
)
def test_kpi_questions_are_read(text: str, expected: KpiQuestion) -> None:
    assert parse_kpi_question(text, ALIASES) == expected


def test_text_without_a_measure_is_not_a_kpi_question() -> None:
    assert parse_kpi_question("工程部有哪些超时任务", ALIASES) is None
