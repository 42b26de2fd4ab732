"""KPI questions in chat (issue 8): 本月工程部及时率, 我的完成率, 上周客服部满意度 -> the figure
and a link to the console chart."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from tests.integration.test_task_control import completed_repair
from tests.support.chat import Chat
from tests.support.seed import seed_estate, seed_supervision

TZ = ZoneInfo("Asia/Shanghai")
MANAGER = "o_manager"
LEAD = "o_lead_a"
STAFF = "o_staff_a"


async def test_a_manager_asks_a_departments_timeliness_this_month(app, settings):
    estate = await seed_estate()
    await seed_supervision(estate)
    await completed_repair(app, settings, estate)
    reply = await Chat.of(app, settings).say(MANAGER, "本月工程部及时率")
    month = datetime.now(UTC).astimezone(TZ).strftime("%Y-%m")
    assert "工程部" in reply and "及时率" in reply
    assert "100.0%" in reply and "任务 1 单" in reply
    assert f"/console/kpi?period=month&at={month}&scope=department&id=eng" in reply


async def test_staff_ask_their_own_completion_ratio(app, settings):
    estate = await seed_estate()
    await completed_repair(app, settings, estate)
    reply = await Chat.of(app, settings).say(STAFF, "我的完成率")
    assert "王强" in reply and "完成率" in reply and "100.0%" in reply


async def test_last_weeks_satisfaction_with_no_tasks_says_there_is_no_data(app, settings):
    estate = await seed_estate()
    await seed_supervision(estate)
    reply = await Chat.of(app, settings).say(MANAGER, "上周客服部满意度")
    assert "客服中心" in reply and "上周" in reply and "暂无数据" in reply


async def test_a_lead_may_not_ask_about_another_department(app, settings):
    estate = await seed_estate()
    await seed_supervision(estate)
    reply = await Chat.of(app, settings).say(LEAD, "本月保洁部完成率")
    assert "%" not in reply
