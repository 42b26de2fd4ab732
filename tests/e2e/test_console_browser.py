"""The web console in headless Chromium (Debian's chromium + chromedriver, driven by selenium):
sign in with a one-time code, see the seeded tasks on the board (overdue first) and the KPI
dashboard with its charts, on a desktop and a phone-sized window. Screenshots go to
tests/artifacts/ (gitignored)."""

from __future__ import annotations

import asyncio
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from server.actions.tasks import create_task
from server.db.outbox import OutboxMessage
from tests.conftest import require
from tests.integration.test_task_control import completed_repair
from tests.support.seed import seed_estate
from tests.support.servers import serving

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
TZ = ZoneInfo("Asia/Shanghai")

try:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError:  # pragma: no cover - the dev extras install it
    webdriver = None  # type: ignore[assignment]


@pytest.fixture
def browser() -> Any:
    require(webdriver is not None, "selenium is not installed (pip install -e '.[dev]')")
    require(
        CHROMIUM.exists() and CHROMEDRIVER.exists(),
        "Debian chromium and chromium-driver are missing (apt-get install chromium-driver)",
    )
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(arg)
    options.add_argument("--window-size=1280,900")
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    ARTIFACTS.mkdir(exist_ok=True)
    yield driver
    driver.quit()


def _wait(driver: Any, by: str, what: str) -> Any:
    return WebDriverWait(driver, 15).until(ec.presence_of_element_located((by, what)))


async def test_a_manager_signs_in_and_sees_the_board_and_the_dashboard(app, settings, browser):
    estate = await seed_estate()
    done = await completed_repair(app, settings, estate)
    now = datetime.now(UTC)
    reported = now - timedelta(days=20)  # holidays stop the office clock, never for 20 days
    late = await create_task(  # reported long ago and never accepted: overdue
        community=estate.a,
        category="water",
        source="console",
        now=reported,
        tz=TZ,
        room=estate.room_a,
        description="楼道水管漏水",
    )
    fresh = await create_task(
        community=estate.a,
        category="drains",
        source="console",
        now=now,
        tz=TZ,
        room=estate.room_a,
        description="下水道堵塞",
    )
    async with serving(app) as base:

        def ask_code() -> None:
            browser.get(f"{base}/console/board")  # not signed in: sent to the login page
            _wait(browser, By.ID, "phone").send_keys(estate.manager_all.phone)
            browser.find_element(By.ID, "send-code").click()
            _wait(browser, By.ID, "code")

        await asyncio.to_thread(ask_code)
        message = await OutboxMessage.filter(kind="console_code").order_by("-id").first()
        assert message is not None and message.recipient_id == estate.manager_all.id

        def sign_in_and_look(code: str) -> dict[str, Any]:
            browser.find_element(By.ID, "code").send_keys(code)
            browser.find_element(By.ID, "sign-in").click()
            board = _wait(browser, By.ID, "board")
            refs = [
                r.get_attribute("data-ref")
                for r in board.find_elements(By.CSS_SELECTOR, "tbody tr")
            ]
            seen = {
                "refs": refs,
                "board_text": board.text,
                "overdue": browser.find_element(By.ID, "overdue-count").text,
            }
            browser.save_screenshot(str(ARTIFACTS / "console_board.png"))
            since, today = reported.astimezone(TZ).date(), now.astimezone(TZ).date()
            browser.get(f"{base}/console/kpi?period=custom&at={since}..{today}")
            _wait(browser, By.ID, "kpi-tiles")
            WebDriverWait(browser, 15).until(
                lambda d: d.find_element(By.ID, "chart-groups").get_attribute("data-drawn") == "1"
            )
            seen["tasks"] = browser.find_element(By.ID, "kpi-tasks").text
            seen["completion"] = browser.find_element(By.ID, "kpi-completion").text
            seen["summary"] = browser.find_element(By.ID, "summary").text
            seen["canvas"] = len(browser.find_elements(By.CSS_SELECTOR, "#chart-groups canvas"))
            browser.save_screenshot(str(ARTIFACTS / "console_kpi.png"))
            browser.set_window_size(390, 844)  # a phone
            browser.get(f"{base}/console/board")
            _wait(browser, By.ID, "board")
            seen["phone_width"] = browser.execute_script(
                "return document.documentElement.scrollWidth"
            )
            browser.save_screenshot(str(ARTIFACTS / "console_board_phone.png"))
            return seen

        seen = await asyncio.to_thread(sign_in_and_look, message.values["code"])

    assert seen["refs"][0] == late.ref  # overdue first
    assert set(seen["refs"]) == {late.ref, fresh.ref, done}  # done waits for its rating
    assert seen["overdue"] == "1"
    assert "王强" in seen["board_text"]  # with whom it is stuck
    assert "138****1234" in seen["board_text"] and "13800001234" not in seen["board_text"]
    assert seen["tasks"] == "3"
    assert seen["completion"] == "33.3%"
    assert done in seen["summary"]
    assert seen["canvas"] >= 1  # ECharts drew the chart
    assert seen["phone_width"] <= 400  # no sideways scrolling on a phone
    assert (ARTIFACTS / "console_board.png").stat().st_size > 0


async def test_a_wrong_code_does_not_sign_in(app, settings, browser):
    estate = await seed_estate()
    async with serving(app) as base:

        def try_wrong() -> tuple[str, str]:
            browser.get(f"{base}/console/login")
            _wait(browser, By.ID, "phone").send_keys(estate.manager_all.phone)
            browser.find_element(By.ID, "send-code").click()
            _wait(browser, By.ID, "code").send_keys("000000")
            browser.find_element(By.ID, "sign-in").click()
            error = _wait(browser, By.ID, "login-error").text
            browser.get(f"{base}/console/kpi")
            return error, browser.current_url

        error, url = await asyncio.to_thread(try_wrong)
    assert error
    assert url.endswith("/console/login")


def test_chromium_tools_are_where_ci_installs_them() -> None:
    """`.ci/run` installs Debian's chromium and chromium-driver when they are missing."""
    require(shutil.which("chromium") is not None, "chromium is not installed")
    assert CHROMEDRIVER.exists()
