"""The console without a browser: CSRF on forms, sign-in required, pages in the viewer's scope."""

from __future__ import annotations

import re

from server.db.outbox import OutboxMessage
from tests.integration.test_task_lifecycle import create_repair
from tests.support.seed import seed_estate


async def sign_in(app, phone: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """Cookies of a console session for the staff member with `phone`."""
    app.asgi_client.cookies.clear()  # a fresh browser
    _, page = await app.asgi_client.get("/console/login")
    csrf_cookie = page.cookies["wuye_csrf"]
    token = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text)[1]
    cookies = {"wuye_csrf": csrf_cookie}
    await app.asgi_client.post(
        "/console/login", data={"csrf": token, "phone": phone}, cookies=cookies
    )
    sent = await OutboxMessage.filter(kind="console_code").order_by("-id").first()
    assert sent is not None
    _, done = await app.asgi_client.post(
        "/console/login/verify",
        data={"csrf": token, "phone": phone, "code": sent.values["code"]},
        cookies=cookies,
        follow_redirects=False,
    )
    assert done.status == 302, done.text
    header = " ".join(v for k, v in done.headers.multi_items() if k == "set-cookie")
    return {**cookies, "wuye_console": done.cookies["wuye_console"], "set-cookie": header}


async def test_a_form_without_its_csrf_token_is_refused(app, settings):
    await seed_estate()
    _, response = await app.asgi_client.post("/console/login", data={"phone": "13600000002"})
    assert response.status == 403
    assert await OutboxMessage.filter(kind="console_code").count() == 0


async def test_pages_need_a_session(app, settings):
    _, response = await app.asgi_client.get("/console/kpi", follow_redirects=False)
    assert (response.status, response.headers["location"]) == (302, "/console/login")


async def test_an_unknown_phone_gets_the_same_page_and_no_code(app, settings):
    await seed_estate()
    _, page = await app.asgi_client.get("/console/login")
    token = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text)[1]
    _, response = await app.asgi_client.post(
        "/console/login",
        data={"csrf": token, "phone": "13999999999"},
        cookies={"wuye_csrf": page.cookies["wuye_csrf"]},
    )
    assert response.status == 200 and 'id="code"' in response.text
    assert await OutboxMessage.filter(kind="console_code").count() == 0


async def test_the_session_cookie_is_httponly_and_samesite(app, settings):
    estate = await seed_estate()
    cookies = await sign_in(app, estate.manager_all.phone)
    assert cookies["wuye_console"]
    header = cookies["set-cookie"]
    assert "HttpOnly" in header and "SameSite=Lax" in header and "Path=/console" in header


async def test_the_board_masks_phones_and_every_page_renders(app, settings):
    estate = await seed_estate()
    mine = (await create_repair(app, settings, estate))["ref"]
    cookies = await sign_in(app, estate.service_desk.phone)  # customer service: every task
    _, desk = await app.asgi_client.get("/console/board", cookies=cookies)
    assert mine in desk.text and "138****1234" in desk.text and "13800001234" not in desk.text
    cookies = await sign_in(app, estate.lead_a.phone)
    _, lead = await app.asgi_client.get("/console/board", cookies=cookies)
    assert mine in lead.text
    for page in ("kpi", "reports", "processes", "holds", "comms"):
        _, response = await app.asgi_client.get(f"/console/{page}", cookies=cookies)
        assert response.status == 200, (page, response.text[:300])
